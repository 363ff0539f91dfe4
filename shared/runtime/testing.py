"""Run a Stage over deliveries built in memory, the way FastStream ships `TestRedisBroker`.

`run_stage` feeds a batch to a stage exactly as the runner does (a failing batch is re-run one
entry at a time) and returns its outcomes with every write the runner would commit — outputs,
state, dead letters and the XACK — without a stream, a consumer group or a commit. The stage's
own reads (ingest's ledger, publish's versions, the indexes) use whatever client it was built
with. `commit_stage` commits the same plan to a real Redis, for tests that look at the state.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import redis.asyncio as aioredis

from shared import streams
from shared.runtime.consumer import (
    BatchReport,
    Delivery,
    Outcome,
    Retention,
    Stage,
    StageRunner,
    ensure_group,
)
from shared.wire import EnvelopeT, Fields, decode, text_fields

TEST_STREAM = "test.input"
TEST_GROUP = "test"
_ids = itertools.count(1)


def delivery(
    fields: Mapping[str, str] | Mapping[bytes, bytes],
    *,
    stream: str = TEST_STREAM,
    entry_id: str | None = None,
    delivery_count: int = 1,
) -> Delivery:
    """One delivery as the subscriber hands it to a stage: text fields, and the exact bytes."""
    raw = {
        (k if isinstance(k, bytes) else k.encode()): (v if isinstance(v, bytes) else v.encode())
        for k, v in fields.items()
    }
    return Delivery(stream, entry_id or f"{next(_ids)}-0", text_fields(raw), delivery_count, raw=raw)


@dataclass(frozen=True)
class StageResult:
    outcomes: list[Outcome]
    report: BatchReport
    # (routing key, redis-py method, args, kwargs) in commit order, the XACK last.
    writes: list[tuple[str, str, tuple[Any, ...], dict[str, Any]]]

    def added(self, stream: str) -> list[Fields]:
        """The fields of every plain XADD to `stream` (guarded publishes are in `outcomes`)."""
        return [args[1] for _, method, args, _ in self.writes if method == "xadd" and args[0] == stream]

    def dead_letters(self) -> list[Fields]:
        return self.added(streams.DLQ)

    def emitted(self, stream: str, model: type[EnvelopeT]) -> list[EnvelopeT]:
        """The events the stage emitted to `stream`, decoded."""
        return [
            decode(output.fields, model)
            for outcome in self.outcomes
            for output in getattr(outcome, "outputs", ())
            if output.stream == stream
        ]

    def acked(self) -> list[str]:
        return [eid for _, method, args, _ in self.writes if method == "xack" for eid in args[2:]]

    def commands(self, method: str) -> list[tuple[Any, ...]]:
        return [args for _, m, args, _ in self.writes if m == method]


def _runner(
    client: aioredis.Redis | None,
    stage: Stage,
    stream: str,
    *,
    max_deliveries: int,
    retention: Mapping[str, Retention] | None,
) -> StageRunner:
    return StageRunner(
        # Planning never touches the client; only `commit_stage` passes a real one.
        cast("aioredis.Redis", client),
        stage,
        input_stream=stream,
        group=TEST_GROUP,
        consumer="test-consumer",
        max_deliveries=max_deliveries,
        retention=retention,
    )


async def run_stage(
    stage: Stage,
    batch: Sequence[Delivery],
    *,
    max_deliveries: int = 5,
    retention: Mapping[str, Retention] | None = None,
) -> StageResult:
    """The stage's outcomes for `batch` and what the runner would write for them."""
    stream = batch[0].stream if batch else TEST_STREAM
    runner = _runner(None, stage, stream, max_deliveries=max_deliveries, retention=retention)
    outcomes = await runner.process(batch)
    report, writes = runner.plan(batch, outcomes)
    return StageResult(outcomes, report, writes.ops)


async def commit_stage(
    client: aioredis.Redis,
    stage: Stage,
    batch: Sequence[Delivery],
    *,
    max_deliveries: int = 5,
    retention: Mapping[str, Retention] | None = None,
) -> BatchReport:
    """Handle `batch` as the runner does, committing to `client` (the group is created if missing)."""
    stream = batch[0].stream if batch else TEST_STREAM
    await ensure_group(client, stream, TEST_GROUP)
    runner = _runner(client, stage, stream, max_deliveries=max_deliveries, retention=retention)
    return await runner.handle(batch)
