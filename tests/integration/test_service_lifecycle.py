"""A service's life on a real redis-server: graceful stop, and waiting for Redis at start."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
import redis.asyncio as aioredis

from shared.runtime.consumer import Delivery, Emit, Outcome, Output, Stage
from shared.runtime.service import Consumer, Runtime, Service, run_service
from shared.settings import ServiceSettings

pytestmark = pytest.mark.integration

IN, OUT, GROUP = "life.in", "life.out", "life"


class SlowStage:
    """Copies entries to OUT, taking `delay_s` per batch, and signals when a batch is in hand."""

    name = "slow"

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.in_hand = asyncio.Event()
        self.batches: list[int] = []

    async def process(self, batch: Sequence[Delivery]) -> Sequence[Outcome]:
        self.batches.append(len(batch))
        self.in_hand.set()
        await asyncio.sleep(self.delay_s)
        return [Emit((Output(OUT, {"n": d.fields["n"]}),)) for d in batch]


def service(redis_url: str, stage: Stage) -> Service:
    async def make_consumers(_: Runtime) -> Sequence[Consumer]:
        return [Consumer(IN, GROUP, stage)]

    settings = ServiceSettings(redis_url=redis_url, batch_size=10, poll_interval_ms=20, http_port=0)
    return Service(name="life", settings=settings, make_consumers=make_consumers)


async def test_stop_finishes_and_acknowledges_the_batch_in_hand_then_reads_no_more(
    redis_client: aioredis.Redis, redis_url: str
) -> None:
    for n in range(5):
        await redis_client.xadd(IN, {"n": str(n)})
    stage = SlowStage(delay_s=0.5)
    stop = asyncio.Event()
    task = asyncio.create_task(run_service(service(redis_url, stage), stop=stop))
    await asyncio.wait_for(stage.in_hand.wait(), timeout=20)
    stop.set()  # what SIGTERM does, mid-batch
    for n in range(5, 8):
        await redis_client.xadd(IN, {"n": str(n)})
    await asyncio.wait_for(task, timeout=20)

    assert stage.batches == [5]
    assert [f[b"n"] for _, f in await redis_client.xrange(OUT)] == [b"0", b"1", b"2", b"3", b"4"]
    groups = await redis_client.xinfo_groups(IN)
    assert groups[0]["pending"] == 0  # the batch in hand was acknowledged before exit
    assert await redis_client.xlen(IN) == 8  # the later entries wait for the next start


async def test_service_waits_for_redis_instead_of_crashing_and_stops_cleanly() -> None:
    from newsflow.redis_server import RedisServer, free_port

    port = free_port()
    stage = SlowStage(delay_s=0.0)
    stop = asyncio.Event()
    task = asyncio.create_task(run_service(service(f"redis://127.0.0.1:{port}/0", stage), stop=stop))
    await asyncio.sleep(1.0)  # nothing listens yet: the service keeps waiting, with backoff
    assert not task.done()
    with RedisServer(port=port) as server:
        client = aioredis.Redis.from_url(server.url)
        await client.xadd(IN, {"n": "1"})
        await asyncio.wait_for(stage.in_hand.wait(), timeout=20)
        stop.set()
        await asyncio.wait_for(task, timeout=20)
        assert [f[b"n"] for _, f in await client.xrange(OUT)] == [b"1"]
        await client.aclose()
