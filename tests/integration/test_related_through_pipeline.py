"""Related earlier articles, end to end: published articles feed the index enrich ranks from."""

from __future__ import annotations

import orjson
import pytest
import redis.asyncio as aioredis

from newsflow.pipeline import run_pipeline, wait_group_idle, wait_settled
from shared import streams
from shared.events import PublishedEvent, RelatedKind

pytestmark = pytest.mark.integration


async def send(client: aioredis.Redis, article: dict[str, object], correlation_id: str) -> PublishedEvent:
    await client.xadd(
        streams.INBOUND,
        {
            streams.INBOUND_PAYLOAD: orjson.dumps(article),
            streams.INBOUND_CONTENT_TYPE: "application/json",
            streams.FIELD_CORRELATION_ID: correlation_id,
        },
    )
    settled = (await wait_settled(client, [correlation_id], timeout_s=60))[correlation_id]
    assert settled.published is not None, settled.dead_letter
    # Enrich indexes what was published; wait for it before the next article is tagged.
    await wait_group_idle(client, streams.PUBLISHED, streams.ENRICH_INDEX_GROUP)
    return settled.published


def story(ident: str, title: str, body: str, day: int) -> dict[str, object]:
    return {"id": ident, "title": title, "body": body, "published_at": f"2024-10-{day:02d}T09:00:00Z"}


async def test_related_articles_are_ranked_by_shared_entities_and_a_withdrawn_one_disappears(
    redis_client: aioredis.Redis, redis_url: str
) -> None:
    async with run_pipeline(redis_url):
        strike = await send(
            redis_client,
            story(
                "strike",
                "Dockworkers strike in Lisbon",
                "Dockworkers in Lisbon stopped work on Monday. Rafael Quintas, the Portuguese transport "
                "minister, met union leaders in Lisbon and promised talks with the Atlantic Ports Council.",
                1,
            ),
            "c-strike",
        )
        await send(
            redis_client,
            story(
                "weather",
                "Storm closes Oslo harbour",
                "A storm closed the harbour in Oslo on Tuesday. Ferries to Kiel were cancelled, the "
                "Norwegian coastal authority said.",
                2,
            ),
            "c-weather",
        )
        talks = await send(
            redis_client,
            story(
                "talks",
                "Quintas opens port talks",
                "Rafael Quintas opened talks in Lisbon with the Atlantic Ports Council on Wednesday, "
                "after the strike by dockworkers. Quintas said the council would meet again in Lisbon.",
                3,
            ),
            "c-talks",
        )

        related = [link for link in talks.data.enrichment.related if link.kind is RelatedKind.ARTICLE]
        assert [link.article_id for link in related] == [strike.article_id]  # Oslo shares nothing
        assert "Rafael Quintas" in related[0].reason
        assert "Lisbon" in related[0].shared_entities
        assert 0 < related[0].score <= 1

        # The strike story is withdrawn: it no longer shows as related to later coverage.
        await send(redis_client, {"id": "strike", "action": "withdraw", "reason": "legal"}, "c-kill")
        follow_up = await send(
            redis_client,
            story(
                "deal",
                "Lisbon port deal signed",
                "Rafael Quintas and the Atlantic Ports Council signed a deal in Lisbon on Friday that ends "
                "the dispute with dockworkers.",
                5,
            ),
            "c-deal",
        )
    later = {
        link.article_id for link in follow_up.data.enrichment.related if link.kind is RelatedKind.ARTICLE
    }
    assert strike.article_id not in later
    assert talks.article_id in later
