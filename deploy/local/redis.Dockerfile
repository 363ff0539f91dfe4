# Redis 7 from Debian's packages, for machines that reach no image registry (the public compose
# file uses the official redis:7.4-alpine). Built on the local base image:
#   docker build -f deploy/local/redis.Dockerfile --build-arg BASE_IMAGE=newsflow-base:bookworm \
#     -t newsflow-redis:local deploy/local
# compose.yaml runs it as the `redis` user with deploy/redis mounted at /etc/redis, as it runs the
# official image: render-acl.sh needs only sh, sha256sum, tr and cut, the health check redis-cli.
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}

RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,target=/var/lib/apt/lists,sharing=locked \
    rm -f /etc/apt/apt.conf.d/docker-clean \
    && apt-get update \
    && apt-get install --yes --no-install-recommends redis-server \
    && rm -f /etc/redis/redis.conf \
    && install -d -o redis -g redis -m 0750 /data

# A new named volume takes the owner of the directory it is mounted on, so the `redis` user can
# write its append-only file there.
VOLUME /data
WORKDIR /data
USER redis
EXPOSE 6379
CMD ["redis-server", "--dir", "/data"]
