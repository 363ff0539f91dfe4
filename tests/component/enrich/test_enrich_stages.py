"""Enrich's stages over in-memory deliveries (shared/runtime/testing.py)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import redis.asyncio as aioredis

from services.enrich.multilingual import MultilingualTagger
from services.enrich.registry import EntityRegistry
from services.enrich.related import RelatedIndex
from services.enrich.same_story import SameStoryIndex
from services.enrich.settings import EnrichSettings
from services.enrich.stages import EnrichStage, RelatedIndexStage
from shared import streams, wire
from shared.events import EventType, RawEvent, TaggedEvent
from shared.runtime.consumer import Emit, Reject
from shared.runtime.metrics import ServiceMetrics
from shared.runtime.testing import commit_stage, delivery, run_stage
from tests.utils.published import BASE_URL, article, place, tagged_article


@pytest.fixture(scope="module")
def tagger() -> MultilingualTagger:
    return MultilingualTagger(["en"])


def raw_event(article_id: str, body: str) -> RawEvent:
    raw = tagged_article(article_id, title="Talks in Geneva", body=body).article
    return RawEvent(
        event_type=EventType.RAW,
        article_id=article_id,
        article_version=1,
        correlation_id=f"corr-{article_id}",
        data=raw,
    )


async def test_enrich_stage_emits_a_tagged_event_per_raw_event_and_rejects_an_undecodable_one(
    redis_client: aioredis.Redis, tagger: MultilingualTagger
) -> None:
    stage = EnrichStage(tagger, RelatedIndex(redis_client), EnrichSettings(), ServiceMetrics("enrich"))
    event = raw_event("a1", "Angela Merkel met Emmanuel Macron in Geneva on Monday.")
    batch = [delivery(wire.encode(event), stream=streams.RAW), delivery({"event": "{"}, stream=streams.RAW)]

    result = await run_stage(stage, batch)

    [tagged] = result.emitted(streams.TAGGED, TaggedEvent)
    assert (tagged.article_id, tagged.correlation_id) == ("a1", "corr-a1")
    assert "Geneva" in {e.name for e in tagged.data.entities.places}
    assert isinstance(result.outcomes[1], Reject)
    assert result.dead_letters()[0]["code"] == "invalid_event"


async def test_related_index_stage_returns_its_index_writes_instead_of_writing_them(
    redis_client: aioredis.Redis,
) -> None:
    index = RelatedIndex(redis_client)
    stage = RelatedIndexStage(index, BASE_URL)
    published = article("a1", entities=[place("Geneva")])
    batch = [delivery(wire.encode(published), stream=streams.PUBLISHED)]

    result = await run_stage(stage, batch)

    [outcome] = result.outcomes
    assert isinstance(outcome, Emit)
    assert outcome.outputs == ()
    assert {op.method for op in outcome.ops} >= {"hset", "zadd"}
    assert await index.total_docs() == 0  # planned, not written

    await commit_stage(redis_client, stage, batch)
    assert await index.total_docs() == 1


async def test_enrich_stage_returns_the_age_trimming_of_entity_lists_and_same_story_buckets(
    redis_client: aioredis.Redis, tagger: MultilingualTagger
) -> None:
    registry = EntityRegistry(redis_client, base_url=BASE_URL, prefix=f"{{test-{uuid.uuid4().hex[:8]}}}")
    same_story = SameStoryIndex(redis_client, threshold=0.3, prefix=f"{{test-ss-{uuid.uuid4().hex[:8]}}}")
    settings = EnrichSettings(entity_articles_retention_days=365, same_story_retention_days=30)
    stage = EnrichStage(
        tagger,
        RelatedIndex(redis_client),
        settings,
        ServiceMetrics("enrich"),
        registry=registry,
        same_story=same_story,
    )
    body = " ".join(f"Delegates met in Geneva for round {i} of the talks on trade." for i in range(12))
    old = raw_event("old", body)
    assert old.data.published_at is not None
    old.data.published_at -= timedelta(days=400)
    await commit_stage(redis_client, stage, [delivery(wire.encode(old), stream=streams.RAW)])
    [geneva] = list(await registry.article_entities("old"))

    result = await run_stage(stage, [delivery(wire.encode(raw_event("new", body)), stream=streams.RAW)])

    [outcome] = result.outcomes
    assert isinstance(outcome, Emit)
    removed = {(op.method, op.args) for op in outcome.ops}
    assert ("zrem", (f"{registry.prefix}:arts:{geneva}", "old")) in removed
    assert ("zrem", (f"{same_story.prefix}:seen", "old")) in removed
    assert await redis_client.zscore(f"{registry.prefix}:arts:{geneva}", "old") is not None  # not written
