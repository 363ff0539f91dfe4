"""Indexes trimmed by age on a real redis-server: old entries leave, recent ones stay.

Each index trims counted back from the newest article it is given, through the writes the stage
returns to the runner (or, for the registry and same-story index, the ops the enrich stage
attaches to its commit), so the tests commit exactly those.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import redis.asyncio as aioredis

from services.enrich.registry import EntityRegistry
from services.enrich.related import RelatedIndex
from services.enrich.same_story import SameStoryIndex
from services.enrich.stages import RelatedIndexStage
from services.publish.listing import ListingQuery, PublishIndex
from services.publish.stages import PublishIndexStage
from shared.events import Entities
from shared.runtime.consumer import writes_of
from shared.runtime.testing import commit_stage
from tests.utils.published import BASE_URL, T0, article, delivery, place

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]

GENEVA = place("Geneva")


def days_ago(days: float) -> dict[str, object]:
    return {"published_at": T0 - timedelta(days=days)}


async def test_related_index_stage_drops_articles_older_than_the_retention_and_keeps_recent_ones(
    redis_client: aioredis.Redis,
) -> None:
    prefix = f"test:related:{uuid.uuid4().hex[:8]}"
    index = RelatedIndex(redis_client, prefix=prefix, retention_days=90)
    stage = RelatedIndexStage(index, BASE_URL)
    old = article("old", entities=[GENEVA], **days_ago(200))
    kept = article("kept", entities=[GENEVA], **days_ago(30))
    await commit_stage(redis_client, stage, [delivery(old, "1-0"), delivery(kept, "2-0")])
    # "old" is 170 days before "kept", but a batch never trims the articles it indexes.
    assert await index.total_docs() == 2

    new = article("new", entities=[GENEVA], **days_ago(0))
    await commit_stage(redis_client, stage, [delivery(new, "3-0")])

    [candidates] = await index.candidates([("query", [GENEVA])])
    assert [c.article_id for c in candidates] == ["new", "kept"]
    assert await index.total_docs() == 2
    assert not await redis_client.exists(f"{prefix}:article:old")
    assert await redis_client.zscore(f"{prefix}:entity:{GENEVA.id}", "old") is None
    assert await redis_client.zscore(f"{prefix}:entity:{GENEVA.id}", "kept") is not None


async def test_listing_index_stage_drops_articles_older_than_the_retention_from_every_listing(
    redis_client: aioredis.Redis,
) -> None:
    prefix = f"test:listing:{uuid.uuid4().hex[:8]}"
    stage = PublishIndexStage(redis_client, prefix=prefix, retention_days=365)
    index = PublishIndex(redis_client, prefix=prefix)
    await commit_stage(
        redis_client,
        stage,
        [
            delivery(article("old", entities=[GENEVA], **days_ago(400)), "1-0"),
            delivery(article("kept", entities=[GENEVA], **days_ago(300)), "2-0"),
        ],
    )
    assert [r.article_id for r in (await index.page(ListingQuery())).records] == ["kept", "old"]

    await commit_stage(redis_client, stage, [delivery(article("new", entities=[GENEVA]), "3-0")])

    everything = await index.page(ListingQuery())
    by_entity = await index.page(ListingQuery(entity="Geneva"))
    assert [r.article_id for r in everything.records] == ["new", "kept"]
    assert [r.article_id for r in by_entity.records] == ["new", "kept"]
    assert not await redis_client.exists(index.record_key("old"))
    keys = [k async for k in redis_client.scan_iter(match=f"{prefix}:*")]
    for key in keys:
        if (await redis_client.type(key)) == b"zset":
            assert await redis_client.zscore(key, "old") is None, key


async def test_registry_trim_ops_take_old_articles_off_an_entity_and_keep_recent_ones(
    redis_client: aioredis.Redis,
) -> None:
    registry = EntityRegistry(redis_client, base_url=BASE_URL, prefix=f"{{test-{uuid.uuid4().hex[:8]}}}")
    mention = GENEVA.model_copy(update={"mentions": []})
    for article_id, days in (("old", 400), ("kept", 100), ("new", 0)):
        linked = await registry.link(article_id, T0 - timedelta(days=days), Entities(places=[mention]))
    entity_id = linked.places[0].entity_id
    assert entity_id is not None

    before = (T0 - timedelta(days=365)).timestamp()
    ops = await registry.trim_ops([entity_id], before=before, limit=100)
    await writes_of(ops).commit(redis_client)

    ids, total = await registry.articles(entity_id)
    assert (ids, total) == (["new", "kept"], 2)
    assert await registry.article_entities("old") == {}
    assert entity_id in await registry.article_entities("kept")
    assert await registry.trim_ops([entity_id], before=before, limit=100) == []


async def test_same_story_trim_ops_empty_the_buckets_of_old_articles_only(
    redis_client: aioredis.Redis,
) -> None:
    prefix = f"{{test-story-{uuid.uuid4().hex[:8]}}}"
    index = SameStoryIndex(redis_client, threshold=0.3, prefix=prefix)
    harbour = " ".join(f"word{i} appears in a sentence about harbour number {i}." for i in range(40))
    railway = " ".join(f"term{i} turns up in a report on railway line {i}." for i in range(40))
    await index.match_many(
        [("old", "Old", harbour), ("kept", "Kept", railway)],
        published=[T0 - timedelta(days=60), T0 - timedelta(days=5)],
    )

    ops = await index.trim_ops(before=(T0 - timedelta(days=30)).timestamp(), limit=100)
    await writes_of(ops).commit(redis_client)

    harbour_copy = await index.match_and_add("copy-1", "Copy", harbour + " One more line.", T0)
    railway_copy = await index.match_and_add("copy-2", "Copy", railway + " One more line.", T0)
    assert harbour_copy is not None
    assert harbour_copy.same_story_as is None
    assert railway_copy is not None
    assert railway_copy.same_story_as is not None
    assert railway_copy.same_story_as.article_id == "kept"
    for key in [k async for k in redis_client.scan_iter(match=f"{prefix}:band:*")]:
        assert not await redis_client.sismember(key, "old")
    assert await redis_client.hget(f"{prefix}:sig", "old") is None
    assert await redis_client.zscore(f"{prefix}:seen", "kept") is not None
