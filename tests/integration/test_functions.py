"""The newsflow Functions library in a real redis-server: loaded, checked on each connection, and
re-loaded after Redis lost it, by a client whose user may (here: `default`, no ACL file)."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from redis.asyncio.cluster import RedisCluster

from newsflow.redis_cluster import RedisClusterProcesses
from newsflow.redis_server import RedisServer
from shared import streams
from shared.runtime import functions
from shared.runtime.redis_client import make_client
from shared.settings import ServiceSettings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def _libraries(client: redis.Redis) -> dict[str, set[str]]:
    """library name -> its function names, from FUNCTION LIST (RESP2: flat lists)."""
    found: list[list[Any]] = client.function_list()  # type: ignore[assignment]
    out: dict[str, set[str]] = {}
    for lib in found:
        fields = dict(zip(lib[::2], lib[1::2], strict=True))
        names = {dict(zip(f[::2], f[1::2], strict=True))[b"name"].decode() for f in fields[b"functions"]}
        out[fields[b"library_name"].decode()] = names
    return out


def test_the_library_holds_every_function_the_code_calls(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        called = {
            value
            for name, value in vars(functions).items()
            if name.isupper() and str(value).startswith("newsflow_")
        }
        assert _libraries(client)[functions.LIBRARY_NAME] == called
        version: bytes = client.fcall_ro(functions.VERSION, 0)  # type: ignore[assignment]
        assert version == functions.LIBRARY_IDENTITY.encode()
    finally:
        client.close()


async def test_a_service_client_loads_the_library_and_loads_it_again_after_redis_lost_it() -> None:
    with RedisServer() as server:
        admin = redis.Redis(port=server.port)
        assert _libraries(admin) == {}
        client = make_client(ServiceSettings(redis_url=server.url), ensure_functions=True)
        try:
            await client.ping()  # the first connection loads it
            assert set(_libraries(admin)) == {functions.LIBRARY_NAME}
            # What a restart without persistence does: the library gone, every connection dropped.
            admin.function_flush()
            admin.client_kill_filter(_type="normal", skipme=True)
            keys = [streams.PUBLISH_VERSIONS, streams.PUBLISH_LATEST, streams.PUBLISHED]
            args = ["article", 1, "{}", 0, 0, "event", "{}"]
            assert await functions.fcall(client, functions.GUARDED_XADD, keys, args) == 1
            # Another build's library of the same name is replaced, not used.
            admin.function_load(
                f"#!lua name={functions.LIBRARY_NAME}\n"
                f"redis.register_function{{function_name = '{functions.VERSION}', flags = {{'no-writes'}}, "
                "callback = function() return 'old' end}",
                replace=True,
            )
            admin.client_kill_filter(_type="normal", skipme=True)
            assert await functions.loaded_identity(client) == functions.LIBRARY_IDENTITY
        finally:
            await client.aclose()
            admin.close()


async def test_a_client_that_may_not_load_it_fails_with_the_command_to_run() -> None:
    with RedisServer() as server:
        admin = redis.Redis(port=server.port)
        admin.acl_setuser(
            "reader", enabled=True, passwords=["+pw"], keys=["*"], commands=["+@all", "-function|load"]
        )
        client = make_client(
            ServiceSettings(redis_url=server.url, redis_username="reader", redis_password="pw"),
            ensure_functions=True,
        )
        try:
            with pytest.raises(functions.LibraryUnavailableError, match="newsflow redis functions load"):
                await client.ping()
            admin.function_load(functions.LIBRARY_CODE)
            assert await client.ping()
        finally:
            await client.aclose()
            admin.close()


async def test_load_puts_the_library_on_every_master_of_a_cluster() -> None:
    with RedisClusterProcesses() as cluster:
        client = make_client(ServiceSettings(redis_url=cluster.url))
        assert isinstance(client, RedisCluster)
        try:
            loaded = await functions.load(client)
            masters = client.get_primaries()
            assert sorted(loaded) == sorted(node.name for node in masters)
            assert len(masters) == 3
            for node in masters:
                reply = await client.execute_command("FCALL_RO", functions.VERSION, 0, target_nodes=node)
                assert reply == functions.LIBRARY_IDENTITY.encode()
        finally:
            await client.aclose()


async def test_a_service_client_on_a_cluster_loads_the_library_on_each_master_it_connects_to() -> None:
    with RedisClusterProcesses() as cluster:
        client = make_client(ServiceSettings(redis_url=cluster.url), ensure_functions=True)
        try:
            # One key per master (their slots), each written through the guard.
            for stream in streams.all_partitions(streams.TAGGED, 8):
                keys = [f"{stream}:versions", f"{stream}:latest", stream]
                args = ["article", 1, "{}", 0, 0, "event", "{}"]
                assert await functions.fcall(client, functions.GUARDED_XADD, keys, args) == 1
        finally:
            await client.aclose()
        # Seen by a client without the check (which would load it itself on connecting).
        plain = make_client(ServiceSettings(redis_url=cluster.url))
        assert isinstance(plain, RedisCluster)
        try:
            await plain.initialize()
            for node in plain.get_primaries():
                reply = await plain.execute_command("FCALL_RO", functions.VERSION, 0, target_nodes=node)
                assert reply == functions.LIBRARY_IDENTITY.encode()
        finally:
            await plain.aclose()


def test_the_batch_guard_writes_each_newer_version_once_in_order(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    versions, latest, stream, tagged = "t:versions", "t:latest", "t:published", "t:tagged"
    try:
        client.hset(versions, "old", "5")
        keys = [versions, latest, stream, tagged]
        trim = ["MAXLEN", "~", "1000"]
        articles = [
            ("a", 1, '{"v":"a1"}', "tagged-a1", ["event", "a1"]),
            ("old", 4, '{"v":"old4"}', "tagged-old4", ["event", "old4"]),  # below the stored 5
            ("a", 1, '{"v":"a1-again"}', "tagged-a1-again", ["event", "a1-again"]),  # same batch
            ("a", 2, '{"v":"a2"}', "tagged-a2", ["event", "a2", "extra", "x"]),
        ]
        argv: list[Any] = [len(trim), *trim]
        for article_id, version, doc, extra, items in articles:
            argv += [article_id, version, doc, extra, len(items), *items]

        written: list[int] = client.fcall(functions.GUARDED_XADD_MANY, len(keys), *keys, *argv)  # type: ignore[assignment]

        assert written == [1, 0, 0, 1]
        entries: list[tuple[str, dict[str, str]]] = client.xrange(stream)  # type: ignore[assignment]
        assert [fields for _, fields in entries] == [
            {"event": "a1"},
            {"event": "a2", "extra": "x"},
        ]
        assert client.hgetall(versions) == {"a": "2", "old": "5"}
        assert client.hgetall(latest) == {"a": '{"v":"a2"}'}
        assert client.hgetall(tagged) == {"a": "tagged-a2"}
    finally:
        client.delete(versions, latest, stream, tagged)
        client.close()
