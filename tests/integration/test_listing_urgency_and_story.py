"""The listing's `?urgency_max=` and `?collapse=story` on a real redis-server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from starlette.applications import Starlette

from services.publish.api import make_routes
from services.publish.settings import PublishSettings
from services.publish.stages import PublishIndexStage
from shared.events import SameStory, TaggedArticle
from shared.runtime.http import HttpContext
from shared.runtime.metrics import ServiceMetrics
from shared.runtime.testing import commit_stage
from tests.utils.published import BASE_URL, T0, delivery, published_event, tagged_article

pytestmark = [pytest.mark.integration, pytest.mark.timeout(20)]


@pytest.fixture
async def api(redis_client: aioredis.Redis) -> AsyncIterator[httpx.AsyncClient]:
    ctx = HttpContext(
        service="publish",
        client=redis_client,
        metrics=ServiceMetrics("publish"),
        groups=[],
        tokens=frozenset(),
    )
    app = Starlette(routes=make_routes(ctx, PublishSettings(public_base_url=BASE_URL)))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://publish.test"
    ) as client:
        yield client


async def index(client: aioredis.Redis, *articles: TaggedArticle) -> None:
    events = [published_event(a) for a in articles]
    batch = [delivery(e, f"{i + 1}-0") for i, e in enumerate(events)]
    await commit_stage(client, PublishIndexStage(client), batch)


def article(
    article_id: str, hours: int, *, urgency: int | None = None, story: str | None = None
) -> TaggedArticle:
    tagged = tagged_article(article_id, published_at=T0 + timedelta(hours=hours))
    tagged.article.urgency = urgency
    if story is not None and story != article_id:
        tagged.same_story_as = SameStory(article_id=story, similarity=0.9)
    tagged.story_id = story
    return tagged


async def listing(api: httpx.AsyncClient, **params: Any) -> list[str]:
    response = await api.get("/v1/articles", params=params)
    assert response.status_code == 200, response.text
    return [item["article_id"] for item in response.json()["items"]]


async def test_urgency_max_keeps_only_articles_at_least_that_urgent(
    api: httpx.AsyncClient, redis_client: aioredis.Redis
) -> None:
    await index(
        redis_client, article("flash", 1, urgency=1), article("normal", 2, urgency=5), article("none", 3)
    )
    assert await listing(api, urgency_max=3) == ["flash"]
    assert await listing(api, urgency_max=9) == ["normal", "flash"]
    assert await listing(api) == ["none", "normal", "flash"]
    assert (await api.get("/v1/articles", params={"urgency_max": "10"})).status_code == 400


async def test_collapse_story_shows_each_story_once_by_its_first_copy_and_pages_through_filters(
    api: httpx.AsyncClient, redis_client: aioredis.Redis
) -> None:
    await index(
        redis_client,
        article("wire", 1, story="wire"),
        article("copy-a", 2, story="wire"),
        article("copy-b", 3, story="wire"),
        article("alone", 4),
    )
    assert await listing(api, collapse="story") == ["alone", "wire"]
    first = (await api.get("/v1/articles", params={"collapse": "story", "limit": 1})).json()
    assert [i["article_id"] for i in first["items"]] == ["alone"]
    second = (
        await api.get(
            "/v1/articles", params={"collapse": "story", "limit": 1, "cursor": first["next_cursor"]}
        )
    ).json()
    assert [i["article_id"] for i in second["items"]] == ["wire"]
    assert second["items"][0]["story_id"] == "wire"
    assert (await api.get("/v1/articles", params={"collapse": "entity"})).status_code == 400
