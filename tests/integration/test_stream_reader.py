"""The cluster read loop on a real redis-server: reads, commits, and recovers from real errors."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from newsflow.redis_server import RedisServer
from shared.runtime.consumer import Delivery, Emit, Outcome, Output, StageRunner, ensure_group
from shared.runtime.metrics import ServiceMetrics
from shared.runtime.reader import Backoff, StreamReader

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

IN, OUT, GROUP = "reader.in", "reader.out", "g"


class CopyStage:
    """Copies each entry's `n` to OUT, after `delay_s` (to catch a stop in the middle of a batch)."""

    name = "copy"

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.started = asyncio.Event()

    async def process(self, batch: Sequence[Delivery]) -> Sequence[Outcome]:
        self.started.set()
        await asyncio.sleep(self.delay_s)
        return [Emit((Output(OUT, {"n": d.fields["n"]}),)) for d in batch]


def plain_clients(url: str) -> Callable[[aioredis.Redis | None], aioredis.Redis]:
    """Clients without redis-py's own retries, so each failure reaches the loop at once."""

    def new_client(_: aioredis.Redis | None) -> aioredis.Redis:
        return aioredis.Redis.from_url(url, decode_responses=False, socket_connect_timeout=1)

    return new_client


async def copied(client: aioredis.Redis) -> list[str]:
    return [f[b"n"].decode() for _, f in await client.xrange(OUT)]


async def eventually(check: Callable[[], Awaitable[bool]], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def runner_for(client: aioredis.Redis, stage: CopyStage) -> StageRunner:
    return StageRunner(client, stage, input_stream=IN, group=GROUP, consumer="c1", max_deliveries=3)


def recoveries(metrics: ServiceMetrics, action: str, error: str) -> float:
    value = metrics.registry.get_sample_value(
        "newsflow_read_recoveries_total",
        {"stage": metrics.stage, "stream": IN, "action": action, "error": error},
    )
    return value or 0.0


async def test_reader_hands_new_entries_to_the_runner_and_commits_each_with_its_ack(
    redis_client: aioredis.Redis, redis_url: str
) -> None:
    await ensure_group(redis_client, IN, GROUP)
    runner = runner_for(redis_client, CopyStage())
    reader = StreamReader(runner, plain_clients(redis_url), count=10, block_ms=50)
    stop = asyncio.Event()
    task = asyncio.create_task(reader.run(stop))
    for n in range(25):
        await redis_client.xadd(IN, {"n": str(n)})

    async def all_copied() -> bool:
        return len(await copied(redis_client)) == 25

    await eventually(all_copied)
    stop.set()
    await asyncio.wait_for(task, timeout=5)
    assert sorted(await copied(redis_client), key=int) == [str(n) for n in range(25)]
    assert (await redis_client.xpending(IN, GROUP))["pending"] == 0
    assert reader.rebuilds == 0


async def test_reader_stops_only_after_committing_the_batch_in_hand(
    redis_client: aioredis.Redis, redis_url: str
) -> None:
    await ensure_group(redis_client, IN, GROUP)
    stage = CopyStage(delay_s=0.5)
    runner = runner_for(redis_client, stage)
    reader = StreamReader(runner, plain_clients(redis_url), count=10, block_ms=50)
    stop = asyncio.Event()
    await redis_client.xadd(IN, {"n": "1"})
    task = asyncio.create_task(reader.run(stop))
    await asyncio.wait_for(stage.started.wait(), timeout=5)
    stop.set()  # while the stage is still working on the batch
    await asyncio.wait_for(task, timeout=5)
    assert await copied(redis_client) == ["1"]
    assert (await redis_client.xpending(IN, GROUP))["pending"] == 0


async def test_reader_rebuilds_its_client_when_redis_dies_and_reads_on_after_restart(tmp_path: Path) -> None:
    with RedisServer(appendonly=True, appendfsync="always", data_dir=tmp_path) as server:
        client = aioredis.Redis.from_url(server.url, decode_responses=False)
        await ensure_group(client, IN, GROUP)
        metrics = ServiceMetrics("copy")
        runner = runner_for(client, CopyStage())
        built: list[aioredis.Redis | None] = []

        def new_client(previous: aioredis.Redis | None) -> aioredis.Redis:
            built.append(previous)
            return plain_clients(server.url)(previous)

        reader = StreamReader(
            runner,
            new_client,
            count=10,
            block_ms=50,
            backoff=Backoff(base_s=0.05, cap_s=0.2),
            on_recovery=metrics.observe_read_recovery,
        )
        stop = asyncio.Event()
        task = asyncio.create_task(reader.run(stop))
        try:
            await client.xadd(IN, {"n": "before"})

            async def first_copied() -> bool:
                return await copied(client) == ["before"]

            await eventually(first_copied)
            server.kill()
            if server.process is not None and server.process.stderr is not None:
                server.process.stderr.close()  # the dead process's pipe; start() opens a new one
            await asyncio.sleep(1.0)  # several failed reads while it is down
            assert reader.rebuilds >= 1
            server.start()
            await client.xadd(IN, {"n": "after"})

            async def second_copied() -> bool:
                return await copied(client) == ["before", "after"]

            await eventually(second_copied)
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout=5)
            await client.aclose()
    # Each rebuild was handed the client that failed, and each was counted by its error.
    assert built[0] is None
    assert all(previous is not None for previous in built[1:])
    assert len(built) == reader.rebuilds + 1
    assert recoveries(metrics, "rebuild_client", "ConnectionError") == reader.rebuilds


async def test_reader_keeps_trying_on_an_error_a_new_client_cannot_cure(
    redis_client: aioredis.Redis, redis_url: str
) -> None:
    await ensure_group(redis_client, IN, GROUP)
    await redis_client.xgroup_destroy(IN, GROUP)  # every read now answers NOGROUP
    runner = runner_for(redis_client, CopyStage())
    reader = StreamReader(
        runner, plain_clients(redis_url), count=10, block_ms=50, backoff=Backoff(base_s=0.05, cap_s=0.1)
    )
    stop = asyncio.Event()
    task = asyncio.create_task(reader.run(stop))
    try:
        await asyncio.sleep(0.5)
        assert not task.done()  # FastStream's subscriber stops for good here
        await ensure_group(redis_client, IN, GROUP)
        await redis_client.xadd(IN, {"n": "7"})

        async def copied_7() -> bool:
            return await copied(redis_client) == ["7"]

        await eventually(copied_7)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=5)
    assert reader.rebuilds == 0
