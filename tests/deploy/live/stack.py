"""The compose stack end to end, in real containers: health, the seed as ninjs 2.2, a crash under load.

All traffic stays on this machine: the APIs on ports published on 127.0.0.1, Redis at its
container's address on the compose network (it publishes no port).
"""

from __future__ import annotations

import json
import os
import random
import secrets
import signal
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import httpx
import orjson
import redis
import yaml

from newsflow.redis_server import free_port
from shared import streams
from shared.runtime import functions
from tests.deploy import kustomize
from tests.deploy.live import engine
from tests.deploy.live.engine import log, run
from tests.utils.chaos import make_articles
from tests.utils.ninjs_schema import validate_ninjs
from tests.utils.paths import SEED

PROJECT = "newsflow-deploytest"
SERVICES = ("redis", "ingest", "enrich", "publish")
HEALTH_TIMEOUT_S = 240.0
PUBLISH_TIMEOUT_S = 300.0
LOAD_ARTICLES = 200
BATCH = 20
# Enrich is killed once this many load articles are published: mid-run, with a backlog left.
KILL_AFTER = 20

Entry = tuple[str, dict[str, str]]


@dataclass
class Stack:
    """One compose project: deploy/compose.yaml plus deploy/local/compose.yaml (local images only)."""

    project: str = PROJECT
    ingest_port: int = field(default_factory=free_port)
    publish_port: int = field(default_factory=free_port)
    # Fresh secrets each run: render-acl.sh hashes them, the dev hashes in users.acl never apply.
    passwords: dict[str, str] = field(
        default_factory=lambda: {u: secrets.token_hex(16) for u in ("admin", "ingest", "enrich", "publish")}
    )
    token: str = field(default_factory=lambda: secrets.token_hex(16))

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "REDIS_ADMIN_PASSWORD": self.passwords["admin"],
            "REDIS_INGEST_PASSWORD": self.passwords["ingest"],
            "REDIS_ENRICH_PASSWORD": self.passwords["enrich"],
            "REDIS_PUBLISH_PASSWORD": self.passwords["publish"],
            "NEWSFLOW_INGEST_API_TOKENS": self.token,
            "NEWSFLOW_PUBLISH_API_TOKENS": self.token,
            "NEWSFLOW_INGEST_HOST_PORT": str(self.ingest_port),
            "NEWSFLOW_PUBLISH_HOST_PORT": str(self.publish_port),
            "NEWSFLOW_PUBLIC_BASE_URL": f"http://127.0.0.1:{self.publish_port}",
            "NEWSFLOW_IMAGE": engine.APP_IMAGE,
            "NEWSFLOW_REDIS_IMAGE": engine.REDIS_IMAGE,
        }

    def compose(self, *args: str, capture: bool = False, check: bool = True) -> str:
        files = [
            "-f",
            str(engine.DEPLOY / "compose.yaml"),
            "-f",
            str(engine.DEPLOY / "local" / "compose.yaml"),
        ]
        command = [*engine.compose_command(), "--project-directory", str(engine.DEPLOY), *files]
        result = run([*command, "-p", self.project, *args], env=self.env(), capture=capture, check=check)
        return result.stdout if capture else ""

    def container(self, service: str) -> str:
        ids = self.compose("ps", "-q", service, capture=True).split()
        if len(ids) != 1:
            raise AssertionError(f"expected one {service} container, found {ids}")
        return ids[0]

    def inspect(self, container: str) -> dict[str, Any]:
        out = run([engine.docker_client(), "inspect", container], capture=True).stdout
        found: list[dict[str, Any]] = json.loads(out)
        return found[0]

    def health(self) -> dict[str, str]:
        states = {}
        for service in SERVICES:
            state = self.inspect(self.container(service))["State"]
            states[service] = state.get("Health", {}).get("Status", state["Status"])
        return states

    def wait_healthy(self, timeout_s: float = HEALTH_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while (states := self.health()) and set(states.values()) != {"healthy"}:
            if "unhealthy" in states.values() or time.monotonic() > deadline:
                self.compose("logs", "--tail=40")
                raise AssertionError(f"health checks did not pass: {states}")
            time.sleep(1)

    def redis(self, user: str = "admin") -> redis.Redis:
        networks = self.inspect(self.container("redis"))["NetworkSettings"]["Networks"]
        (address,) = {n["IPAddress"] for n in networks.values()}
        return redis.Redis(
            host=address, port=6379, username=user, password=self.passwords[user], decode_responses=True
        )

    def api(self, port: int) -> httpx.Client:
        return httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {self.token}"}, timeout=30
        )


@contextmanager
def running(stack: Stack, *, keep: bool = False) -> Iterator[float]:
    """The stack up and healthy (yields the seconds that took); `compose down` on the way out."""
    stack.compose("down", "--volumes", "--remove-orphans", check=False)
    start = time.monotonic()
    try:
        stack.compose("up", "--detach", "--no-build")
        stack.wait_healthy()
        yield time.monotonic() - start
    finally:
        if keep:
            ports = f"ingest 127.0.0.1:{stack.ingest_port}, publish 127.0.0.1:{stack.publish_port}"
            log(f"left running: compose project {stack.project}, {ports}")
        else:
            stack.compose("down", "--volumes", "--remove-orphans", "--timeout", "30", check=False)


# --- checks -----------------------------------------------------------------------------------


def check_redis(stack: Stack) -> None:
    """AOF is on and the service users are held to their ACLs."""
    admin = stack.redis()
    assert admin.config_get("appendonly") == {"appendonly": "yes"}
    assert admin.config_get("appendfsync") == {"appendfsync": "everysec"}
    enrich = stack.redis("enrich")
    assert enrich.ping()
    # Its input stream is read-only to it, and no admin command is granted.
    assert refused(lambda: enrich.xadd(streams.RAW, {"forged": "1"})), "enrich may XADD to its input"
    assert refused(enrich.flushall), "enrich may FLUSHALL"
    assert refused(lambda: enrich.eval("return 1", 0)), "enrich may EVAL"
    publish = stack.redis("publish")
    assert refused(lambda: publish.xadd(streams.TAGGED, {"forged": "1"})), "publish may XADD to its input"
    # Loaded by the redis-functions service before the three started.
    assert admin.fcall_ro(functions.VERSION, 0) == functions.LIBRARY_IDENTITY


def refused(command: Callable[[], object]) -> bool:
    try:
        command()
    except redis.exceptions.NoPermissionError:
        return True
    return False


def container_problems(stack: Stack) -> list[str]:
    """The app containers run as the image's non-root user on a read-only root file system."""
    problems = []
    for service in ("ingest", "enrich", "publish"):
        info = stack.inspect(stack.container(service))
        if info["Config"]["User"] in ("", "0", "root") or info["Config"]["User"].startswith("0:"):
            problems.append(f"{service}: runs as root")
        if info["HostConfig"]["ReadonlyRootfs"] is not True:
            problems.append(f"{service}: root file system is writable")
        if info["HostConfig"]["CapDrop"] != ["ALL"]:
            problems.append(f"{service}: capabilities are not dropped")
    return problems


def wait_published(stack: Stack, article_id: str, timeout_s: float = PUBLISH_TIMEOUT_S) -> dict[str, Any]:
    """The article's ninjs 2.2 document, read back from the publish API once it is there."""
    deadline = time.monotonic() + timeout_s
    with stack.api(stack.publish_port) as api:
        while True:
            response = api.get(f"/v1/articles/{article_id}", params={"format": "ninjs2"})
            if response.status_code == 200:
                doc: dict[str, Any] = response.json()
                return doc
            if response.status_code != 404 or time.monotonic() > deadline:
                raise AssertionError(f"publish API: {response.status_code} {response.text[:300]}")
            time.sleep(0.5)


def seed_round_trip(stack: Stack) -> str:
    """The seed through the ingest API (token required), back from publish as valid ninjs 2.2."""
    body = SEED.read_bytes()
    with httpx.Client(base_url=f"http://127.0.0.1:{stack.ingest_port}", timeout=30) as anonymous:
        refused = anonymous.post("/v1/articles", content=body, headers={"Content-Type": "text/plain"})
        assert refused.status_code == 401, refused.status_code
    with stack.api(stack.ingest_port) as api:
        response = api.post("/v1/articles", content=body, headers={"Content-Type": "text/plain"})
    assert response.status_code == 202, response.text
    article_id: str = response.json()["article_id"]
    doc = wait_published(stack, article_id)
    validate_ninjs(doc, "2.2")
    log(f"seed {article_id}: valid ninjs 2.2, {len(doc.get('subjects', []))} subjects")
    return article_id


def published_counts(client: redis.Redis) -> Counter[str]:
    """Publications per article id on articles.published (first versions only)."""
    counts: Counter[str] = Counter()
    last = "-"
    while entries := cast(list[Entry], client.xrange(streams.PUBLISHED, min=last, count=1000)):
        for entry_id, fields in entries:
            if entry_id != last and fields.get("event_type") == "article.published":
                counts[fields["article_id"]] += 1
        if entries[-1][0] == last:
            break
        last = entries[-1][0]
    return counts


def main_pid(stack: Stack, service: str) -> tuple[int, int]:
    state = stack.inspect(stack.container(service))
    return int(state["State"]["Pid"]), int(state["RestartCount"])


@dataclass
class CrashResult:
    accepted: int
    published: int
    lost: int
    duplicates: int
    published_at_kill: int
    restarts: int
    dead_lettered: int


def crash_under_load(stack: Stack, count: int = LOAD_ARTICLES) -> CrashResult:
    """`count` articles in, enrich's process killed (SIGKILL) mid-run, every accepted one out once."""
    run_id = f"deploytest-{uuid.uuid4().hex[:8]}"
    articles = make_articles(count, random.Random(18), run=run_id)
    accepted: set[str] = set()
    with stack.api(stack.ingest_port) as api:
        for start in range(0, count, BATCH):
            batch = [orjson.loads(a.payload()) for a in articles[start : start + BATCH]]
            response = api.post("/v1/articles:batch", json=batch)
            assert response.status_code in (200, 202, 207), response.text
            accepted |= {r["article_id"] for r in response.json()["results"] if r["status"] == "accepted"}
    assert len(accepted) == count, f"ingest accepted {len(accepted)} of {count}"
    client = stack.redis()

    def done() -> int:
        counts = published_counts(client)
        return sum(1 for a in accepted if counts[a])

    pid, restarts = main_pid(stack, "enrich")
    deadline = time.monotonic() + PUBLISH_TIMEOUT_S
    while (at_kill := done()) < min(KILL_AFTER, count) and time.monotonic() < deadline:
        time.sleep(0.2)
    # A crash, not a stop: the engine's restart policy brings the container back.
    os.kill(pid, signal.SIGKILL)
    log(f"killed enrich (pid {pid}) with {at_kill}/{count} published")
    while main_pid(stack, "enrich")[1] == restarts and time.monotonic() < deadline:
        time.sleep(0.5)
    stack.wait_healthy()
    while done() < count and time.monotonic() < deadline:
        time.sleep(1)
    counts = published_counts(client)
    published = sum(1 for a in accepted if counts[a])
    return CrashResult(
        accepted=len(accepted),
        published=published,
        lost=len(accepted) - published,
        duplicates=sum(counts[a] - 1 for a in accepted if counts[a] > 1),
        published_at_kill=at_kill,
        restarts=main_pid(stack, "enrich")[1] - restarts,
        dead_lettered=int(cast(int, client.xlen(streams.DLQ))),
    )


def rendered_images(overlay: str = "dev") -> tuple[set[str], str]:
    """The images the overlay's Deployments run, and the renderer (kustomize binary or ours)."""
    objects = kustomize.render(engine.DEPLOY / "k8s" / "overlays" / overlay)
    images = {
        c["image"]
        for o in objects
        if o["kind"] == "Deployment"
        for c in o["spec"]["template"]["spec"]["containers"]
    }
    command = kustomize.kustomize_command()
    return images, " ".join(Path(c).name for c in command) if command else "tests/deploy/kustomize.py"


def compose_images(stack: Stack) -> dict[str, str]:
    config = stack.compose("config", capture=True)
    services: dict[str, Any] = yaml.safe_load(config)["services"]
    return {name: spec["image"] for name, spec in services.items() if name in SERVICES}


def image_references(stack: Stack) -> list[str]:
    """Problems: compose or the dev overlay run an image other than the one built."""
    problems = []
    by_compose = compose_images(stack)
    expected = {
        **dict.fromkeys(("ingest", "enrich", "publish"), engine.APP_IMAGE),
        "redis": engine.REDIS_IMAGE,
    }
    if by_compose != expected:
        problems.append(f"compose runs {by_compose}, built {expected}")
    images, _ = rendered_images()
    if images != {engine.APP_IMAGE}:
        problems.append(f"overlays/dev runs {sorted(images)}, built {engine.APP_IMAGE}")
    return problems


def summary(fields: dict[str, object]) -> str:
    return json.dumps(fields, sort_keys=False)


def run_all(cache: Path, *, keep: bool = False, rebuild_base: bool = False) -> dict[str, object]:
    started = time.monotonic()
    engine.ensure_packages()
    with engine.docker_engine(cache / "dockerd.log") as started_engine:
        build_start = time.monotonic()
        base = engine.build_base(cache, rebuild=rebuild_base)
        engine.build_images(base)
        build_s = time.monotonic() - build_start
        stack = Stack()
        problems = image_references(stack)
        assert not problems, problems
        ids = {tag: engine.image_id(tag) for tag in (engine.APP_IMAGE, engine.REDIS_IMAGE)}
        with running(stack, keep=keep) as up_s:
            running_ids = {
                engine.image_id(stack.inspect(stack.container(s))["Config"]["Image"]) for s in SERVICES
            }
            assert running_ids == set(ids.values()), (running_ids, ids)
            problems = container_problems(stack)
            assert not problems, problems
            check_redis(stack)
            seed_round_trip(stack)
            crash = crash_under_load(stack)
        _, renderer = rendered_images()
        result: dict[str, object] = {
            "image_mb": engine.image_mb(engine.APP_IMAGE),
            "redis_image_mb": engine.image_mb(engine.REDIS_IMAGE),
            "base_image_mb": engine.image_mb(base),
            "build_s": round(build_s, 1),
            "up_s": round(up_s, 1),
            "published": crash.published + 1,
            "lost": crash.lost,
            "duplicates": crash.duplicates,
            "accepted": crash.accepted + 1,
            "published_at_kill": crash.published_at_kill,
            "enrich_restarts": crash.restarts,
            "dead_lettered": crash.dead_lettered,
            "kustomize": renderer,
            "engine_started_here": started_engine,
            "total_s": round(time.monotonic() - started, 1),
        }
    ok = crash.lost == 0 and crash.duplicates == 0 and crash.restarts >= 1
    result["ok"] = ok
    return result
