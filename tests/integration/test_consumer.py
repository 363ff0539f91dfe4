"""The reliability layer on a real redis-server: groups, atomic commits, retries, dead letters."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import orjson
import pytest
import redis.asyncio as aioredis

from shared import streams
from shared.runtime.consumer import (
    Delivery,
    Emit,
    Outcome,
    Output,
    Reject,
    Retry,
    Skip,
    StageRunner,
    VersionGuard,
    ensure_group,
)
from shared.wire import text_fields

pytestmark = pytest.mark.integration

IN, OUT, GROUP = "test.in", "test.out", "g"


class EchoStage:
    """Emits each entry's `n` to OUT; `poison` raises, `bad` is rejected, `dup` is skipped."""

    name = "echo"

    def __init__(self) -> None:
        self.calls: list[int] = []

    async def process(self, batch: Sequence[Delivery]) -> Sequence[Outcome]:
        self.calls.append(len(batch))
        outcomes: list[Outcome] = []
        for d in batch:
            kind = d.fields.get("kind", "ok")
            if kind == "poison":
                raise RuntimeError("poison entry")
            if kind == "bad":
                outcomes.append(Reject("field 'n' is not a number", "invalid_field"))
            elif kind == "dup":
                outcomes.append(Skip("duplicate"))
            elif kind == "flaky":
                outcomes.append(Retry("downstream unavailable"))
            else:
                outcomes.append(Emit((Output(OUT, {"n": d.fields["n"]}),)))
        return outcomes


async def read_new(client: aioredis.Redis, consumer: str, count: int = 100) -> list[Delivery]:
    reply = await client.xreadgroup(GROUP, consumer, {IN: ">"}, count=count)
    return [
        Delivery(IN, eid.decode(), text_fields(f), raw=f) for _, entries in reply or [] for eid, f in entries
    ]


def runner(
    client: aioredis.Redis, stage: EchoStage, consumer: str = "c1", max_deliveries: int = 3
) -> StageRunner:
    return StageRunner(
        client, stage, input_stream=IN, group=GROUP, consumer=consumer, max_deliveries=max_deliveries
    )


async def test_group_created_after_entries_still_reads_the_backlog(redis_client: aioredis.Redis) -> None:
    for n in range(3):
        await redis_client.xadd(IN, {"n": str(n)})
    assert await ensure_group(redis_client, IN, GROUP) is True
    assert await ensure_group(redis_client, IN, GROUP) is False  # idempotent
    deliveries = await read_new(redis_client, "c1")
    assert [d.fields["n"] for d in deliveries] == ["0", "1", "2"]


async def test_outputs_are_written_and_inputs_acknowledged_together(redis_client: aioredis.Redis) -> None:
    await ensure_group(redis_client, IN, GROUP)
    for n in range(5):
        await redis_client.xadd(IN, {"n": str(n)})
    report = await runner(redis_client, EchoStage()).handle(await read_new(redis_client, "c1"))
    assert report.emitted == 5
    assert [f[b"n"] for _, f in await redis_client.xrange(OUT)] == [b"0", b"1", b"2", b"3", b"4"]
    assert (await redis_client.xpending(IN, GROUP))["pending"] == 0


async def test_a_poison_entry_does_not_take_its_batch_neighbours_down(redis_client: aioredis.Redis) -> None:
    await ensure_group(redis_client, IN, GROUP)
    await redis_client.xadd(IN, {"n": "1"})
    poison_id = (await redis_client.xadd(IN, {"n": "2", "kind": "poison"})).decode()
    await redis_client.xadd(IN, {"n": "3"})
    report = await runner(redis_client, EchoStage()).handle(await read_new(redis_client, "c1"))
    assert (report.emitted, report.retried) == (2, 1)
    pending = await redis_client.xpending_range(IN, GROUP, min="-", max="+", count=10)
    assert [p["message_id"].decode() for p in pending] == [poison_id]


async def test_entry_failing_every_time_ends_in_dlq_after_max_deliveries(
    redis_client: aioredis.Redis,
) -> None:
    await ensure_group(redis_client, IN, GROUP)
    entry_id = (await redis_client.xadd(IN, {"n": "7", "kind": "poison", "article_id": "a-7"})).decode()
    stage = EchoStage()
    first = runner(redis_client, stage, "c1", max_deliveries=3)
    await first.handle(await read_new(redis_client, "c1"))  # delivery 1 fails
    second = runner(redis_client, stage, "c2", max_deliveries=3)
    for _ in range(2):  # deliveries 2 and 3, each after the entry sat idle
        await asyncio.sleep(0.02)
        await second.reclaim_once(min_idle_ms=10, count=10)
    dead = await redis_client.xrange(streams.DLQ)
    assert len(dead) == 1
    letter = text_fields(dead[0][1])
    assert letter["stage"] == "echo"
    assert letter["code"] == "max_deliveries"
    assert letter["delivery_count"] == "3"
    assert "poison entry" in letter["reason"]
    assert letter["source_entry_id"] == entry_id
    assert letter["article_id"] == "a-7"
    assert orjson.loads(letter["payload"]) == {"n": "7", "kind": "poison", "article_id": "a-7"}
    assert (await redis_client.xpending(IN, GROUP))["pending"] == 0


async def test_entry_delivered_past_the_limit_goes_to_dlq_without_running_the_stage(
    redis_client: aioredis.Redis,
) -> None:
    # An entry that kills the process never gets its Retry committed: only the delivery count
    # tells. Deliveries 1-3 "crash" (read, never handled); delivery 4 must not reach the stage.
    await ensure_group(redis_client, IN, GROUP)
    await redis_client.xadd(IN, {"n": "9", "kind": "poison"})
    await read_new(redis_client, "c1")
    for _ in range(2):
        await asyncio.sleep(0.02)
        await redis_client.xautoclaim(IN, GROUP, "c1", 10, start_id="0-0")
    stage = EchoStage()
    await asyncio.sleep(0.02)
    await runner(redis_client, stage, "c2", max_deliveries=3).reclaim_once(min_idle_ms=10, count=10)

    assert stage.calls == []
    [(_, fields)] = await redis_client.xrange(streams.DLQ)
    letter = text_fields(fields)
    assert letter["code"] == "max_deliveries"
    assert letter["delivery_count"] == "4"
    assert (await redis_client.xpending(IN, GROUP))["pending"] == 0


async def test_commit_waits_out_a_full_redis_and_then_writes_everything(redis_client: aioredis.Redis) -> None:
    await ensure_group(redis_client, IN, GROUP)
    await redis_client.xadd(IN, {"n": "1"})
    batch = await read_new(redis_client, "c1")
    await redis_client.config_set("maxmemory", "1")  # every write is refused with OOM
    try:
        task = asyncio.create_task(runner(redis_client, EchoStage()).handle(batch))
        await asyncio.sleep(0.5)
        assert not task.done()  # still retrying, not failed
    finally:
        await redis_client.config_set("maxmemory", "0")
    report = await asyncio.wait_for(task, timeout=10)

    assert report.emitted == 1
    assert [f[b"n"] for _, f in await redis_client.xrange(OUT)] == [b"1"]
    assert (await redis_client.xpending(IN, GROUP))["pending"] == 0


async def test_rejected_entry_goes_to_dlq_at_once_with_reason(redis_client: aioredis.Redis) -> None:
    await ensure_group(redis_client, IN, GROUP)
    await redis_client.xadd(IN, {"n": "x", "kind": "bad"})
    await redis_client.xadd(IN, {"n": "y", "kind": "dup"})
    report = await runner(redis_client, EchoStage()).handle(await read_new(redis_client, "c1"))
    assert (report.rejected, report.skipped) == (1, 1)
    ((_, letter),) = await redis_client.xrange(streams.DLQ)
    assert letter[b"reason"] == b"field 'n' is not a number"
    assert await redis_client.xlen(OUT) == 0
    assert (await redis_client.xpending(IN, GROUP))["pending"] == 0


async def test_non_utf8_payload_is_kept_byte_for_byte_in_the_dlq(redis_client: aioredis.Redis) -> None:
    await ensure_group(redis_client, IN, GROUP)
    await redis_client.xadd(IN, {"n": b"\xff\xfe", "kind": "bad"})
    await runner(redis_client, EchoStage()).handle(await read_new(redis_client, "c1"))
    ((_, letter),) = await redis_client.xrange(streams.DLQ)
    assert letter[b"payload_encoding"] == b"base64"
    import base64

    assert base64.b64decode(orjson.loads(letter[b"payload"])["n"]) == b"\xff\xfe"


async def test_retry_below_the_limit_stays_pending_for_the_reclaimer(redis_client: aioredis.Redis) -> None:
    await ensure_group(redis_client, IN, GROUP)
    await redis_client.xadd(IN, {"n": "1", "kind": "flaky"})
    report = await runner(redis_client, EchoStage(), max_deliveries=5).handle(
        await read_new(redis_client, "c1")
    )
    assert report.retried == 1
    assert (await redis_client.xpending(IN, GROUP))["pending"] == 1
    assert await redis_client.xlen(streams.DLQ) == 0


async def test_version_guard_publishes_each_version_once_and_never_older(
    redis_client: aioredis.Redis,
) -> None:
    await ensure_group(redis_client, IN, GROUP)

    class GuardedStage:
        name = "guarded"

        async def process(self, batch: Sequence[Delivery]) -> Sequence[Outcome]:
            return [
                Emit(
                    (Output(OUT, {"v": d.fields["v"]}),),
                    guard=VersionGuard(
                        "t:versions",
                        "t:latest",
                        "a1",
                        int(d.fields["v"]),
                        d.fields["v"],
                        (("t:x", "x" + d.fields["v"]),),
                    ),
                )
                for d in batch
            ]

    for v in ["1", "2", "2", "1", "3", "2"]:
        await redis_client.xadd(IN, {"v": v})
    stage_runner = StageRunner(
        redis_client, GuardedStage(), input_stream=IN, group=GROUP, consumer="c1", max_deliveries=3
    )
    await stage_runner.handle(await read_new(redis_client, "c1"))
    assert [f[b"v"] for _, f in await redis_client.xrange(OUT)] == [b"1", b"2", b"3"]
    assert await redis_client.hmget("t:versions", ["a1"]) == [b"3"]
    assert await redis_client.hmget("t:latest", ["a1"]) == [b"3"]
    assert await redis_client.hmget("t:x", ["a1"]) == [b"x3"]


async def test_stale_consumers_without_pending_entries_are_removed(redis_client: aioredis.Redis) -> None:
    await ensure_group(redis_client, IN, GROUP)
    await redis_client.xgroup_createconsumer(IN, GROUP, "gone-replica")
    await asyncio.sleep(0.05)
    removed = await runner(redis_client, EchoStage(), "c1").remove_stale_consumers(idle_ms=10)
    assert removed == ["gone-replica"]


async def test_recovery_reads_new_entries_when_the_subscriber_has_been_idle(
    redis_client: aioredis.Redis,
) -> None:
    await ensure_group(redis_client, IN, GROUP)
    stage_runner = runner(redis_client, EchoStage())
    await redis_client.xadd(IN, {"n": "1"})
    # A subscriber that handled a batch just now: recovery leaves new entries to it.
    assert await asyncio.wait_for(_one_sweep(stage_runner, min_idle_ms=60_000), 5) == 0
    assert await redis_client.xlen(OUT) == 0
    # Nothing handled for longer than the idle time (a stuck subscriber): recovery reads them.
    stage_runner.last_handled -= 120
    await asyncio.wait_for(_one_sweep(stage_runner, min_idle_ms=60_000), 5)
    assert [f[b"n"] for _, f in await redis_client.xrange(OUT)] == [b"1"]
    assert (await redis_client.xpending(IN, GROUP))["pending"] == 0


async def _one_sweep(stage_runner: StageRunner, *, min_idle_ms: int) -> int:
    stop = asyncio.Event()
    task = asyncio.create_task(
        stage_runner.run_recovery(
            stop, min_idle_ms=min_idle_ms, interval_s=0.05, count=10, stale_idle_ms=3_600_000
        )
    )
    await asyncio.sleep(0.2)
    stop.set()
    await task
    return int(await stage_runner.client.xlen(OUT))


async def test_a_claimed_entry_its_first_handler_acknowledged_meanwhile_is_not_handled_again(
    redis_client: aioredis.Redis,
) -> None:
    await ensure_group(redis_client, IN, GROUP)
    done = (await redis_client.xadd(IN, {"n": "1", "article_id": "a-1"})).decode()
    slow = (await redis_client.xadd(IN, {"n": "2", "article_id": "a-2"})).decode()
    await read_new(redis_client, "c1")
    second = runner(redis_client, EchoStage(), "c2", max_deliveries=3)
    await asyncio.sleep(0.02)
    # What c2's reclaim sees after its XAUTOCLAIM when c1 commits `done` in between.
    await redis_client.xautoclaim(IN, GROUP, "c2", 10, start_id="0-0")
    await redis_client.xack(IN, GROUP, done)
    assert await second._delivery_counts([done, slow]) == {slow: 2}
