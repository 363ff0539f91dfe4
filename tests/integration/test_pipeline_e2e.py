"""The seed article through the three real services over a real redis-server."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

from newsflow.pipeline import push_file, run_pipeline, wait_settled
from newsflow.redis_server import free_port
from shared import streams, wire
from shared.events import EventType, RawEvent, RelatedKind
from shared.wire import text_fields
from tests.utils import pages
from tests.utils.ninjs_schema import validate_ninjs
from tests.utils.paths import SEED

pytestmark = pytest.mark.integration


async def test_seed_article_is_published_with_people_places_and_read_links(
    redis_client: aioredis.Redis, redis_url: str
) -> None:
    port = free_port()
    async with run_pipeline(redis_url, http_ports={"publish": port}):
        (pushed,) = await push_file(redis_client, SEED, source="e2e")
        settled = await wait_settled(redis_client, [pushed.correlation_id], timeout_s=60)
        event_id = settled[pushed.correlation_id].published
        assert event_id is not None
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            ninjs2 = (
                await http.get(f"/v1/articles/{event_id.article_id}", params={"format": "ninjs2"})
            ).json()
            ninjs3 = (
                await http.get(f"/v1/articles/{event_id.article_id}", params={"format": "ninjs3"})
            ).json()
    # Subscribers get documents valid against the official IPTC schemas, in both versions.
    validate_ninjs(ninjs2, "2.2")
    validate_ninjs(ninjs3, "3.1")
    assert ninjs3["headlines"][0]["value"] == ninjs2["headlines"][0]["value"]

    event = settled[pushed.correlation_id].published
    assert event is not None, settled[pushed.correlation_id].dead_letter
    assert event.event_type is EventType.PUBLISHED
    assert event.correlation_id == pushed.correlation_id
    article = event.data
    assert article.title == "Russia-Iran cooperation 'advanced to new level' - Minister"
    assert article.article_published_at == datetime(2023, 9, 20, 15, 17)
    assert article.ninjs["headlines"][0]["value"] == article.title

    related = article.enrichment.related
    inline = [link.title for link in related if link.kind is RelatedKind.INLINE]
    assert inline == [
        "Iran, Russia collaborate on joint research spacecraft",
        "Russia sends first commercial train to Saudi Arabia via Iran",
    ]
    body = article.ninjs["bodies"][0]["value"]
    assert "READ:" not in body
    assert "Sergey Shoygu" in body

    people = {e.name for e in article.enrichment.entities.people}
    places = {e.name for e in article.enrichment.entities.places}
    assert people == {"Vladimir Putin", "Sergey Shoygu", "Mohammad Reza Ashtiani", "Ali Khamenei"}
    putin = next(e for e in article.enrichment.entities.people if e.name == "Vladimir Putin")
    assert [m.field for m in putin.mentions] == ["image_caption"]  # he is only in the photo caption
    assert {"Tehran", "Moscow"} <= places

    # Every entry on every stage was acknowledged once its output existed.
    for stream, group in (
        (streams.INBOUND, streams.INGEST_GROUP),
        (streams.RAW, streams.ENRICH_GROUP),
        (streams.TAGGED, streams.PUBLISH_GROUP),
    ):
        assert (await redis_client.xpending(stream, group))["pending"] == 0
    # The published entry is plain fields any client can read.
    ((_, fields),) = await redis_client.xrange(streams.PUBLISHED)
    plain = text_fields(fields)
    assert plain[streams.FIELD_EVENT_TYPE] == "article.published"
    assert plain[streams.FIELD_ARTICLE_ID] == event.article_id
    assert plain[streams.FIELD_CORRELATION_ID] == pushed.correlation_id


async def test_a_page_sent_as_html_is_published_with_a_plain_text_body(
    redis_client: aioredis.Redis, redis_url: str, tmp_path: Path
) -> None:
    page = tmp_path / "ferry.html"
    page.write_text(pages.news_page(), encoding="utf-8")
    async with run_pipeline(redis_url):
        (pushed,) = await push_file(redis_client, page, source="e2e")
        settled = await wait_settled(redis_client, [pushed.correlation_id], timeout_s=60)
    event = settled[pushed.correlation_id].published
    assert event is not None, settled[pushed.correlation_id].dead_letter

    [body] = event.data.ninjs["bodies"]
    assert body["contenttype"] == "text/plain"
    assert body["value"].startswith(pages.BODY_PARAGRAPHS[0])
    assert "<" not in body["value"]
    validate_ninjs(event.data.ninjs, "2.2")
    # The original format stays on the raw event.
    ((_, fields),) = await redis_client.xrange(streams.RAW)
    assert wire.decode(text_fields(fields), RawEvent).data.content_type == "text/html"
