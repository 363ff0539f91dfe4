"""Publish under redelivery: the same tagged events many times, in shuffled order, on real Redis."""

from __future__ import annotations

import random
from typing import Any

import pytest
import redis.asyncio as aioredis

from services.publish.settings import PublishSettings
from services.publish.stages import PublishStage
from shared import streams, wire
from shared.events import EventType, PublishedEvent, TaggedEvent
from shared.runtime.consumer import Delivery, StageRunner, ensure_group
from shared.wire import text_fields
from tests.utils.published import person, place, tagged_article

pytestmark = pytest.mark.integration

VERSIONS = {"art-a": 5, "art-b": 3, "art-c": 1}
COPIES = 4


def tagged_event(article_id: str, version: int) -> TaggedEvent:
    withdrawn = article_id == "art-b" and version == 3  # the last version of b is a kill
    tagged = tagged_article(
        article_id,
        version=version,
        title=f"{article_id} version {version}",
        entities=[person("Sergey Shoygu"), place("Tehran")],
        withdrawn=withdrawn,
    )
    return TaggedEvent(
        event_type=EventType.WITHDRAWN if withdrawn else EventType.TAGGED,
        article_id=article_id,
        article_version=version,
        correlation_id=f"c-{article_id}-{version}",
        data=tagged,
    )


async def drain(client: aioredis.Redis, runner: StageRunner) -> None:
    while True:
        reply = await client.xreadgroup(streams.PUBLISH_GROUP, "c1", {streams.TAGGED: ">"}, count=7)
        if not reply:
            return
        batch = [
            Delivery(streams.TAGGED, eid.decode(), text_fields(f), raw=f)
            for _, entries in reply
            for eid, f in entries
        ]
        await runner.handle(batch)


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_redelivered_shuffled_versions_are_each_published_at_most_once_and_never_backwards(
    redis_client: aioredis.Redis, seed: int
) -> None:
    entries = [tagged_event(a, v) for a, top in VERSIONS.items() for v in range(1, top + 1)] * COPIES
    random.Random(seed).shuffle(entries)
    for event in entries:
        fields: dict[Any, Any] = wire.encode(event)
        await redis_client.xadd(streams.TAGGED, fields)
    await ensure_group(redis_client, streams.TAGGED, streams.PUBLISH_GROUP)
    stage = PublishStage(redis_client, PublishSettings())
    runner = StageRunner(
        redis_client,
        stage,
        input_stream=streams.TAGGED,
        group=streams.PUBLISH_GROUP,
        consumer="c1",
        max_deliveries=3,
    )
    await drain(redis_client, runner)

    published = [
        wire.decode(text_fields(f), PublishedEvent) for _, f in await redis_client.xrange(streams.PUBLISHED)
    ]
    keys = [(e.article_id, e.article_version) for e in published]
    assert len(keys) == len(set(keys)), "an article version was published twice"
    for article_id, top in VERSIONS.items():
        versions = [v for a, v in keys if a == article_id]
        assert versions == sorted(versions), f"{article_id} went backwards: {versions}"
        assert versions[-1] == top, "the highest version is always published"
        stored = await redis_client.hget(streams.PUBLISH_VERSIONS, article_id)
        assert stored == str(top).encode()
        latest = PublishedEvent.model_validate_json(
            await redis_client.hget(streams.PUBLISH_LATEST, article_id)
        )
        assert latest.article_version == top
    # The first event of an article is `published`, later ones `updated`, the kill `withdrawn`.
    for article_id in VERSIONS:
        kinds = [e.event_type for e in published if e.article_id == article_id]
        expected_first = (
            EventType.WITHDRAWN if article_id == "art-b" and len(kinds) == 1 else EventType.PUBLISHED
        )
        assert kinds[0] is expected_first
        assert all(kind in (EventType.UPDATED, EventType.WITHDRAWN) for kind in kinds[1:])
    assert (await redis_client.xpending(streams.TAGGED, streams.PUBLISH_GROUP))["pending"] == 0
