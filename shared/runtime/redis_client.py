"""Redis clients built from settings: AUTH/ACL user, TLS (rediss://) and reconnect with backoff."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import hiredis
import redis.asyncio as aioredis
from redis._parsers import AsyncCommandsParser
from redis.asyncio.cluster import ClusterNode, NodesManager, RedisCluster
from redis.asyncio.connection import AbstractConnection, Connection, SSLConnection
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.cluster import PRIMARY, REPLICA
from redis.exceptions import (
    AskError,
    ClusterError,
    ReadOnlyError,
    RedisClusterException,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared.runtime import functions
from shared.settings import ServiceSettings

# Retries of one command while Redis restarts or fails over: 0.05 s doubling to 2 s, 8 times
# (about 10 s in all), so a restart is ridden out without crash-looping the service.
RETRY_BASE_S = 0.05
RETRY_CAP_S = 2.0
RETRY_ATTEMPTS = 8
# Seconds a command waits for a free connection of the bounded pool before ConnectionError.
POOL_WAIT_S = 10.0
# A reader's socket gives up this long after its XREADGROUP BLOCK should have returned: a node
# that went silent (a partition, not a refused connection) fails the read instead of hanging it.
READ_SOCKET_MARGIN_S = 5.0
READ_CONNECT_TIMEOUT_S = 2.0

# Errors a failover, a restart or a slot migration causes, which a new client or a fresh slot map
# can cure. MovedError is an AskError; ClusterError covers CLUSTERDOWN, MASTERDOWN and redis-py's
# "TTL exhausted" after too many redirects; RedisClusterException covers "no reachable node" and
# uncovered slots; ReadOnlyError is a demoted master still in the slot map; OSError is a socket
# error below redis-py, the builtin TimeoutError included.
RECOVERABLE_ERRORS: tuple[type[Exception], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    AskError,
    TryAgainError,
    ClusterError,
    RedisClusterException,
    ReadOnlyError,
    OSError,
)


def is_recoverable(exc: BaseException) -> bool:
    return isinstance(exc, RECOVERABLE_ERRORS)


def connection_kwargs(settings: ServiceSettings) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "retry": Retry(ExponentialWithJitterBackoff(cap=RETRY_CAP_S, base=RETRY_BASE_S), RETRY_ATTEMPTS),
        "retry_on_error": [RedisConnectionError, RedisTimeoutError],
        "health_check_interval": 30,
        "socket_keepalive": True,
    }
    if settings.redis_username:
        kwargs["username"] = settings.redis_username
    if settings.redis_password is not None:
        kwargs["password"] = settings.redis_password.get_secret_value()
    return kwargs


class _CommandsParser(AsyncCommandsParser):
    """FCALL's keys read from its own arguments, as redis-py does for EVAL, not asked of the
    server (COMMAND GETKEYS): inside a cluster transaction redis-py routes each command from
    another thread's event loop, where that request fails; it also saves a round trip per call."""

    async def get_keys(self, *args: Any) -> tuple[Any, ...] | None:
        # args: FCALL, function, numkeys, keys..., arguments...
        if len(args) >= 3 and str(args[0]).upper() in ("FCALL", "FCALL_RO"):
            return tuple(args[3 : 3 + int(args[2])])
        keys: tuple[Any, ...] | None = await super().get_keys(*args)
        return keys


class _PackedInC(AbstractConnection):
    """Commands encoded by hiredis in C. redis-py's asyncio connection encodes every argument in
    Python, joining bytes as it goes: a batch's commit of a few thousand arguments cost publish a
    twentieth of its CPU. The same bytes on the wire (tests/unit/shared/test_redis_client.py)."""

    def pack_command(self, *args: Any) -> list[bytes]:
        head = args[0]
        # "CONFIG GET" is two words to Redis, as redis-py's own packing splits it.
        words = head.split() if isinstance(head, (str, bytes)) else ()
        if len(words) > 1:
            args = (*words, *args[1:])
        try:
            return [hiredis.pack_command(args)]
        except TypeError:  # a memoryview, or what redis-py refuses with its own DataError
            packed: list[bytes] = super().pack_command(*args)
            return packed


class _PackedConnection(_PackedInC, Connection):
    pass


class _PackedSSLConnection(_PackedInC, SSLConnection):
    pass


_C = TypeVar("_C", bound=AbstractConnection)
# redis-py's connection class for a URL's scheme (settings allow TCP and TLS), and its C-packing twin.
_PACKED_TWIN: dict[type[AbstractConnection], type[AbstractConnection]] = {
    Connection: _PackedConnection,
    SSLConnection: _PackedSSLConnection,
}


def _packed(connection_class: type[_C]) -> type[_C]:
    return cast(type[_C], _PACKED_TWIN.get(connection_class, connection_class))


def make_client(
    settings: ServiceSettings, *, ensure_functions: bool = False, **overrides: Any
) -> aioredis.Redis:
    """A client with bytes responses: redis:// or rediss:// (TLS), or a cluster with `+cluster`.

    The pool is bounded (`redis_max_connections`): a burst of requests waits for a connection
    instead of opening one each. With `ensure_functions` every new connection checks (and loads
    when allowed) the newsflow Functions library first (`shared.runtime.functions.on_connect`).
    """
    kwargs = connection_kwargs(settings) | {"max_connections": settings.redis_max_connections} | overrides
    if settings.cluster:
        kwargs.pop("health_check_interval", None)
        # The cluster client follows MOVED/ASK and rediscovers the masters after a failover.
        cluster = RedisCluster.from_url(settings.node_url, decode_responses=False, **kwargs)
        cluster.commands_parser = _CommandsParser()  # initialised by the client's initialize()
        # RedisCluster takes no connection class or connect function: set them where its nodes'
        # connections come from (the kwargs nodes found later are built with, and the start-up
        # nodes, which exist already).
        cluster.connection_kwargs["connection_class"] = _packed(cluster.connection_kwargs["connection_class"])
        if ensure_functions:
            cluster.connection_kwargs["redis_connect_func"] = functions.on_connect
        for node in cluster.nodes_manager.startup_nodes.values():
            node.connection_class = _packed(node.connection_class)
            if ensure_functions:
                node.connection_kwargs["redis_connect_func"] = functions.on_connect
        return cast(aioredis.Redis, cluster)
    if ensure_functions:
        kwargs["redis_connect_func"] = functions.on_connect
    pool = aioredis.BlockingConnectionPool.from_url(
        settings.node_url, timeout=POOL_WAIT_S, decode_responses=False, **kwargs
    )
    pool.connection_class = _packed(pool.connection_class)  # from_url picked it by the URL's scheme
    return aioredis.Redis.from_pool(pool)  # the client owns the pool: aclose() closes it


def make_reader_client(
    settings: ServiceSettings, *, block_ms: int, previous: aioredis.Redis | None = None
) -> aioredis.Redis:
    """A client for one blocking XREADGROUP loop, with socket timeouts past its BLOCK time.

    On a cluster, a client built again after a failure starts from every node `previous` knew
    (its slot map and start-up nodes), not only the URL's node: that node may be the dead one.
    """
    overrides: dict[str, Any] = {
        "socket_timeout": block_ms / 1000 + READ_SOCKET_MARGIN_S,
        "socket_connect_timeout": READ_CONNECT_TIMEOUT_S,
    }
    if isinstance(previous, RedisCluster):
        known = {node.name: node for node in previous.nodes_manager.startup_nodes.values()}
        known |= {node.name: node for node in previous.get_nodes()}
        overrides["startup_nodes"] = [ClusterNode(node.host, node.port) for node in known.values()]
    return make_client(settings, **overrides)


async def refresh_slot_map(client: aioredis.Redis) -> bool:
    """Read a cluster's slot map again now and mark its primaries; False on one Redis.

    redis-py's transaction pipelines re-read it only every fifth connection error, so a shared
    client can keep sending commits to a dead master after a failover.
    """
    if not isinstance(client, RedisCluster):
        return False
    await client.nodes_manager.initialize()
    mark_primaries(client.nodes_manager)
    return True


@dataclass
class SlotMapRefresher:
    """Re-reads a shared cluster client's slot map, at most once every `min_interval_s` seconds."""

    client: aioredis.Redis
    min_interval_s: float = 1.0
    _last: float = field(default=float("-inf"), init=False)

    async def refresh(self) -> bool:
        """True when it re-read the map; False when too soon, on one Redis, or if it failed."""
        now = time.monotonic()
        if now - self._last < self.min_interval_s:
            return False
        self._last = now
        try:
            return await refresh_slot_map(self.client)
        except Exception:  # the cluster is still failing over: the next failure tries again
            return False


def mark_primaries(manager: NodesManager) -> None:
    """Type each known node by the slot map: the first node of a slot is its primary.

    redis-py (7.4) keeps the node object it had when it re-reads the slot map, so a promoted
    replica stays typed "replica". Commands sent to every primary then skip it: SCRIPT LOAD does,
    and EVALSHA of a registered script answers NOSCRIPT on the new master until a restart.
    """
    primaries = {nodes[0].name for nodes in manager.slots_cache.values() if nodes}
    for name, node in manager.nodes_cache.items():
        node.server_type = PRIMARY if name in primaries else REPLICA


def redacted_url(url: str) -> str:
    """The URL without its password, for logs."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user + ':***@' if user else '***@'}{host}"
