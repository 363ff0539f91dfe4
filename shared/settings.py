"""The settings base every service extends (its own class lives in `services/<name>/settings.py`).

`REDIS_URL`, `REDIS_USERNAME` and `REDIS_PASSWORD` are shared by all services (no prefix) because
ops set them once per deployment; everything else is `NEWSFLOW_<SERVICE>_<NAME>`.
"""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LogFormat = Literal["auto", "json", "console"]
# What REDIS_URL may start with: plain, TLS, and either with `+cluster` for a Redis Cluster.
REDIS_SCHEMES = ("redis", "rediss", "redis+cluster", "rediss+cluster")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_source_grants(text: str) -> dict[str, frozenset[str] | None]:
    """`a:wire|blog, b` -> {"a": {"wire", "blog"}, "b": None}: who (an API token, an inbound
    producer) may write which sources; a bare name may write any source."""
    grants: dict[str, frozenset[str] | None] = {}
    for entry in text.split(","):
        name, sep, sources = entry.strip().partition(":")
        if not name.strip():
            continue
        named = frozenset(s.strip() for s in sources.split("|") if s.strip())
        grants[name.strip()] = named if sep else None
    return grants


def parse_networks(text: str) -> tuple[Network, ...]:
    """`10.0.0.0/8, 192.0.2.7` -> networks; a bare address is a network of one."""
    networks: list[Network] = []
    for entry in text.split(","):
        if not entry.strip():
            continue
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"expected IP addresses or CIDR networks, got {entry.strip()!r}") from None
    return tuple(networks)


class ServiceSettings(BaseSettings):
    """What every service shares: Redis, batching, retries, HTTP and logging."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    redis_url: str = Field(
        "redis://127.0.0.1:6379/0",
        validation_alias=AliasChoices("REDIS_URL"),
        description=(
            "redis:// or rediss:// (TLS) URL of the Redis server; redis+cluster:// (or "
            "rediss+cluster://) with any node of a Redis Cluster."
        ),
    )
    partitions: int = Field(
        1,
        ge=1,
        le=1024,
        validation_alias=AliasChoices("NEWSFLOW_PARTITIONS"),
        description=(
            "Partitions of articles.raw and articles.tagged (keys `articles.raw:{p}`); more than 1 "
            "spreads them over a Redis Cluster's masters. Every service must use the same number."
        ),
    )
    redis_username: str | None = Field(
        None,
        validation_alias=AliasChoices("REDIS_USERNAME"),
        description="ACL user; overrides any user in REDIS_URL.",
    )
    redis_password: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("REDIS_PASSWORD"),
        description="AUTH password; overrides any password in REDIS_URL. Never logged.",
    )
    public_base_url: str = Field(
        "https://news.example.org",
        validation_alias=AliasChoices("NEWSFLOW_PUBLIC_BASE_URL"),
        description="Base of article URIs in ninjs, feeds and related links.",
    )
    stream_maxlen: int = Field(
        100_000,
        ge=1_000,
        validation_alias=AliasChoices("NEWSFLOW_STREAM_MAXLEN"),
        description=(
            "Approximate entries kept per partition of articles.inbound, articles.raw and "
            "articles.tagged (XADD MAXLEN ~). A consumer lagging further behind loses entries."
        ),
    )
    dlq_maxlen: int = Field(
        10_000,
        ge=100,
        validation_alias=AliasChoices("NEWSFLOW_DLQ_MAXLEN"),
        description=(
            "Approximate entries kept in articles.dlq and each webhook DLQ (XADD MAXLEN ~); a dead "
            "letter is at most about 66 KiB."
        ),
    )
    redis_max_connections: int = Field(
        20,
        ge=2,
        le=10_000,
        validation_alias=AliasChoices("NEWSFLOW_REDIS_MAX_CONNECTIONS"),
        description=(
            "Connections in the service's own Redis pool (FastStream's subscriber has its own); "
            "a request waits up to 10 s for a free one, then answers 503."
        ),
    )
    batch_size: int = Field(100, ge=1, le=10_000, description="Entries read per XREADGROUP.")
    poll_interval_ms: int = Field(100, ge=1, description="XREADGROUP BLOCK time in milliseconds.")
    max_deliveries: int = Field(
        5, ge=1, description="Deliveries of one entry before it goes to the dead-letter stream."
    )
    reclaim_idle_ms: int = Field(
        30_000,
        ge=100,
        description="Pending entries idle this long (ms) are taken over (XAUTOCLAIM).",
    )
    reclaim_interval_s: float = Field(5.0, gt=0, description="Seconds between reclaim sweeps.")
    stale_consumer_idle_ms: int = Field(
        3_600_000,
        ge=1_000,
        description="Consumers idle this long (ms) with nothing pending are removed.",
    )
    consumer_name: str | None = Field(
        None, description="Unique consumer name; default is host-pid-random, unique per replica."
    )
    graceful_timeout_s: float = Field(
        15.0, gt=0, description="On SIGTERM, seconds to finish and acknowledge the batch in hand."
    )
    http_host: str = Field("0.0.0.0", description="Address of the health/metrics/API server.")  # noqa: S104
    http_port: int = Field(
        0, ge=0, le=65535, description="Port of the health/metrics/API server; 0 disables it."
    )
    api_tokens: SecretStr | None = Field(
        None,
        description=(
            "Comma-separated bearer tokens; when set, API endpoints require one. An entry "
            "`token:source1|source2` may write and withdraw only those sources' articles; a bare "
            "token may write any source."
        ),
    )
    allow_anonymous: bool = Field(
        False,
        validation_alias=AliasChoices("NEWSFLOW_ALLOW_ANONYMOUS"),
        description=(
            "`newsflow run ingest|publish` refuses to start without API tokens unless this is true "
            "(an API open to anyone on the network must be a decision, not a default)."
        ),
    )
    trusted_proxies: str = Field(
        "",
        description=(
            "Comma-separated addresses or CIDR networks of reverse proxies whose X-Forwarded-For "
            "names the client (for the per-client rate limit and logs); from any other peer the "
            "header is ignored. Empty: the TCP peer is the client."
        ),
    )
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR.")
    log_format: LogFormat = Field("auto", description="json, console, or auto (console on a terminal).")
    otel_exporter: Literal["none", "console", "otlp"] = Field(
        "none", description="Where OpenTelemetry spans go."
    )

    @field_validator("redis_url", check_fields=False)
    @classmethod
    def _known_scheme(cls, url: str | None) -> str | None:
        # Fail at start with a clear message, not at the first command with a parse error.
        if url is not None and url.partition("://")[0] not in REDIS_SCHEMES:
            raise ValueError(
                f"REDIS_URL must start with one of {', '.join(s + '://' for s in REDIS_SCHEMES)}"
            )
        return url

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        parse_networks(value)  # fail fast at start on a typo
        return value

    def trusted_networks(self) -> tuple[Network, ...]:
        return parse_networks(self.trusted_proxies)

    @property
    def cluster(self) -> bool:
        return self.redis_url.split("://", 1)[0].endswith("+cluster")

    @property
    def node_url(self) -> str:
        """The URL without `+cluster`: what redis-py and FastStream take."""
        scheme, sep, rest = self.redis_url.partition("://")
        return f"{scheme.removesuffix('+cluster')}{sep}{rest}"

    def token_scopes(self) -> dict[str, frozenset[str] | None]:
        """Each token and the sources it may write; None means any source."""
        if self.api_tokens is None:
            return {}
        return parse_source_grants(self.api_tokens.get_secret_value())

    def token_set(self) -> frozenset[str]:
        return frozenset(self.token_scopes())

    def anonymous_refusal(self, service: str) -> str | None:
        """Why `service` must not start as configured, or None when it may."""
        if self.token_set() or self.allow_anonymous:
            return None
        prefix = f"NEWSFLOW_{service.upper()}_"
        return (
            f"{service} has no API tokens, so its HTTP API would accept anyone: set "
            f"{prefix}API_TOKENS, or NEWSFLOW_ALLOW_ANONYMOUS=true to run it open on purpose"
        )
