"""Which read errors a cluster read loop recovers from, and how long it waits between tries."""

from __future__ import annotations

import random

import pytest
from redis._parsers.base import BaseParser
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import DataError, RedisClusterException, SlotNotCoveredError, WatchError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared.runtime.reader import READ_RETRY_CAP_S, Backoff
from shared.runtime.redis_client import is_recoverable


def server_error(reply: str) -> Exception:
    """The exception redis-py raises for this error reply of a server, not one we construct."""
    error: Exception = BaseParser.parse_error(reply)  # type: ignore[no-untyped-call]
    return error


@pytest.mark.parametrize(
    "reply",
    [
        "MOVED 3999 127.0.0.1:6381",
        "ASK 3999 127.0.0.1:6381",
        "CLUSTERDOWN The cluster is down",
        "TRYAGAIN Multiple keys request during rehashing of slot",
        "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
        "READONLY You can't write against a read only replica.",
        "LOADING Redis is loading the dataset in memory",
    ],
)
def test_failover_replies_are_recoverable_as_redis_py_raises_them(reply: str) -> None:
    assert is_recoverable(server_error(reply))


@pytest.mark.parametrize(
    "error",
    [
        RedisConnectionError("Error 111 connecting to 127.0.0.1:6381. Connection refused."),
        RedisTimeoutError("Timeout reading from socket"),
        TimeoutError(),  # asyncio's, from a wait_for around a read
        ConnectionRefusedError(111, "Connection refused"),
        SlotNotCoveredError("Slot 3999 is not covered by the cluster."),  # type: ignore[no-untyped-call]
        RedisClusterException("Redis Cluster cannot be connected."),  # type: ignore[no-untyped-call]
    ],
)
def test_connection_and_topology_errors_are_recoverable(error: BaseException) -> None:
    assert is_recoverable(error)


@pytest.mark.parametrize(
    "error",
    [
        server_error("NOGROUP No such key 'articles.raw:{0}' or consumer group 'enrich'"),
        server_error("ERR unknown command 'XREADGROUP'"),
        server_error("OOM command not allowed when used memory > 'maxmemory'."),
        WatchError("Watched variable changed."),
        DataError("Invalid input of type: 'NoneType'."),
        ValueError("not a redis error"),
    ],
)
def test_errors_a_new_client_cannot_cure_are_not_recoverable(error: BaseException) -> None:
    assert not is_recoverable(error)


def test_backoff_doubles_from_the_base_with_jitter_and_never_passes_the_cap() -> None:
    backoff = Backoff(base_s=0.05, cap_s=1.0, rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(12)]
    steps = [min(1.0, 0.05 * 2**i) for i in range(12)]
    for delay, step in zip(delays, steps, strict=True):
        assert step / 2 <= delay <= step  # half fixed, half random
    assert max(delays) <= 1.0
    assert delays[-1] >= 0.5  # capped, not reset: a long outage waits about a second per try
    assert len({round(d, 6) for d in delays[6:]}) > 1  # jittered: readers do not retry in step


def test_backoff_starts_again_from_the_base_after_a_success() -> None:
    backoff = Backoff(base_s=0.05, cap_s=1.0, rng=random.Random(1))
    for _ in range(10):
        backoff.next_delay()
    backoff.reset()
    assert backoff.next_delay() <= 0.05


def test_default_cap_is_about_a_second() -> None:
    backoff = Backoff()
    assert max(backoff.next_delay() for _ in range(100)) <= READ_RETRY_CAP_S <= 2.0
