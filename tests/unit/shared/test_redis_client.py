"""One Redis client factory for services and commands: validated URL, credentials, cluster."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import Connection
from redis.exceptions import DataError
from redis.typing import EncodableT

from newsflow.settings import redis_client
from services.publish.settings import PublishSettings
from shared.runtime import functions
from shared.runtime.redis_client import (
    _PackedConnection,
    _PackedSSLConnection,
    make_client,
)


def test_a_redis_url_with_an_unknown_scheme_fails_at_start() -> None:
    with pytest.raises(ValidationError, match="REDIS_URL must start with one of"):
        PublishSettings(redis_url="http://redis:6379/0")


async def test_commands_take_credentials_from_the_environment_like_the_services(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REDIS_USERNAME", "ops")
    monkeypatch.setenv("REDIS_PASSWORD", "pw")
    client = redis_client("redis://redis.example:6379/0")
    try:
        kwargs = client.connection_pool.connection_kwargs
        assert (kwargs["username"], kwargs["password"], kwargs["host"]) == ("ops", "pw", "redis.example")
    finally:
        await client.aclose()


async def test_commands_given_a_cluster_url_get_a_cluster_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    client = redis_client("redis+cluster://node-1:6379/0")
    try:
        assert isinstance(client, RedisCluster)
    finally:
        await client.aclose()


async def test_a_cluster_client_routes_fcall_by_its_declared_keys_without_asking_the_server() -> None:
    client = redis_client("redis+cluster://node-1:6379/0")
    try:
        assert isinstance(client, RedisCluster)
        parser = client.commands_parser
        # No node was ever reached (node-1 does not resolve): the keys come from the arguments.
        assert await parser.get_keys("FCALL", "f", 2, "{a}x", "{a}y", "arg") == ("{a}x", "{a}y")
        assert await parser.get_keys("FCALL_RO", "newsflow_version", 0) == ()
    finally:
        await client.aclose()


def test_service_clients_check_the_functions_library_on_each_new_connection() -> None:
    settings = PublishSettings(redis_url="redis://redis.example:6379/0")
    plain = make_client(settings)
    checked = make_client(settings, ensure_functions=True)
    assert "redis_connect_func" not in plain.connection_pool.connection_kwargs
    assert checked.connection_pool.connection_kwargs["redis_connect_func"] is functions.on_connect
    cluster = make_client(PublishSettings(redis_url="redis+cluster://node-1:6379/0"), ensure_functions=True)
    assert isinstance(cluster, RedisCluster)
    nodes = cluster.nodes_manager.startup_nodes.values()
    assert all(n.connection_kwargs["redis_connect_func"] is functions.on_connect for n in nodes)


# --- commands packed in C ------------------------------------------------------------------------

PACKED_CASES = [
    ("XADD", "s", "*", "event", '{"a": "é"}', b"\x00\xff", 7, 1.5, 0.1, 1e20, -3),
    ("CONFIG GET", "maxmemory"),
    (b"CLIENT SETNAME", b"publish"),
    ("FCALL", "f", 2, "k1", "k2", "x" * 70_000),  # above redis-py's 6,000-byte chunking cutoff
]


@pytest.mark.parametrize("args", PACKED_CASES)
def test_service_connections_pack_the_bytes_redis_py_packs(args: tuple[EncodableT, ...]) -> None:
    ours = _PackedConnection()
    theirs = Connection()
    assert b"".join(ours.pack_command(*args)) == b"".join(theirs.pack_command(*args))
    assert b"".join(ours.pack_commands([args, args])) == b"".join(theirs.pack_commands([args, args]))


def test_a_value_hiredis_does_not_pack_falls_back_to_redis_py() -> None:
    ours, theirs = _PackedConnection(), Connection()
    args = ("SET", "k", memoryview(b"value"))
    assert b"".join(ours.pack_command(*args)) == b"".join(theirs.pack_command(*args))
    with pytest.raises(DataError, match="bool"):
        ours.pack_command("SET", "k", True)
    with pytest.raises(UnicodeEncodeError):
        ours.pack_command("SET", "k", "\udcff")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://localhost:6379/0", _PackedConnection),
        ("rediss://localhost:6380/0", _PackedSSLConnection),
    ],
)
async def test_every_scheme_gets_a_connection_that_packs_in_c(url: str, expected: type) -> None:
    client = make_client(PublishSettings(redis_url=url))
    try:
        assert client.connection_pool.connection_class is expected
    finally:
        await client.aclose()


async def test_cluster_nodes_get_connections_that_pack_in_c() -> None:
    client = make_client(PublishSettings(redis_url="redis+cluster://node-1:6379/0"))
    try:
        assert isinstance(client, RedisCluster)
        assert client.connection_kwargs["connection_class"] is _PackedConnection
        assert all(
            node.connection_class is _PackedConnection for node in client.nodes_manager.startup_nodes.values()
        )
    finally:
        await client.aclose()
