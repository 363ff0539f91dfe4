"""IngestStage over in-memory inbound entries (shared/runtime/testing.py); its ledger reads use Redis."""

from __future__ import annotations

import redis.asyncio as aioredis
from structlog.testing import capture_logs

from services.ingest.settings import IngestSettings
from services.ingest.stages import IngestStage
from shared import streams
from shared.events import RawEvent
from shared.runtime.consumer import Emit, Reject
from shared.runtime.testing import commit_stage, delivery, run_stage
from tests.utils.bad_inputs import article_json


def inbound(payload: bytes, source: str = "cms") -> dict[bytes, bytes]:
    return {b"payload": payload, b"content_type": b"application/json", b"source": source.encode()}


async def test_valid_article_is_emitted_on_raw_with_its_ledger_entry_and_a_bad_one_is_dead_lettered(
    redis_client: aioredis.Redis,
) -> None:
    stage = IngestStage(redis_client, IngestSettings())
    batch = [
        delivery(inbound(article_json(id="good-1")), stream=streams.INBOUND),
        delivery(inbound(article_json(title="")), stream=streams.INBOUND),
    ]

    result = await run_stage(stage, batch)

    good, bad = result.outcomes
    assert isinstance(good, Emit)
    assert good.hset  # the ledger entry is written with the event, in the runner's transaction
    [event] = result.emitted(streams.RAW, RawEvent)
    assert (event.data.source_id, event.article_version) == ("good-1", 1)
    assert isinstance(bad, Reject)
    [letter] = result.dead_letters()
    assert (letter["stage"], letter["source_stream"], letter["source"]) == ("ingest", streams.INBOUND, "cms")
    assert result.acked() == [d.entry_id for d in batch]
    assert await redis_client.dbsize() == 0  # nothing committed by the harness


async def test_a_batch_writes_its_ledger_entries_in_one_hset_and_a_repeat_is_a_duplicate(
    redis_client: aioredis.Redis,
) -> None:
    stage = IngestStage(redis_client, IngestSettings())
    batch = [delivery(inbound(article_json(id=f"art-{i}")), stream=streams.INBOUND) for i in range(3)]

    result = await run_stage(stage, batch)

    [(key, args, kwargs)] = [(k, a, kw) for k, method, a, kw in result.writes if method == "hset"]
    assert (key, args) == (streams.INGEST_LEDGER, (streams.INGEST_LEDGER,))
    assert len(kwargs["mapping"]) == 3  # one field per article

    await commit_stage(redis_client, stage, batch)
    assert await redis_client.hlen(streams.INGEST_LEDGER) == 3
    again = await run_stage(stage, [delivery(inbound(article_json(id="art-1")), stream=streams.INBOUND)])
    assert [type(o).__name__ for o in again.outcomes] == ["Skip"]


async def test_a_batch_logs_one_accepted_line_naming_each_article_it_emitted(
    redis_client: aioredis.Redis,
) -> None:
    stage = IngestStage(redis_client, IngestSettings())
    batch = [
        delivery(inbound(article_json(id="log-1")), stream=streams.INBOUND),
        delivery(inbound(article_json(title="")), stream=streams.INBOUND),
        delivery({**inbound(article_json(id="log-2")), b"correlation_id": b"corr-2"}, stream=streams.INBOUND),
    ]

    with capture_logs() as logs:
        result = await run_stage(stage, batch)

    [line] = [entry for entry in logs if entry["event"] == "accepted"]
    events = result.emitted(streams.RAW, RawEvent)
    assert line["count"] == 2
    assert line["articles"] == [
        {
            "article_id": event.article_id,
            "article_version": 1,
            "correlation_id": event.correlation_id,
            "trace_id": None,
            "event_type": "article.raw",
            "source": "cms",
        }
        for event in events
    ]
    assert events[1].correlation_id == "corr-2"
