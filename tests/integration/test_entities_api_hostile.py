"""The entity API against hostile requests: every bad one is a 4xx that says why, never a 5xx."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import redis.asyncio as aioredis
from starlette.applications import Starlette

from services.publish.entities_api import MAX_EDIT_BODY, make_entity_routes
from services.publish.settings import PublishSettings
from shared.runtime.http import HttpContext
from shared.runtime.metrics import ServiceMetrics

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]

TOKEN = "editor-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def app_client(redis_client: aioredis.Redis, tokens: frozenset[str]) -> httpx.AsyncClient:
    ctx = HttpContext(
        service="publish", client=redis_client, metrics=ServiceMetrics("publish"), groups=[], tokens=tokens
    )
    app = Starlette(routes=make_entity_routes(ctx, PublishSettings()))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://publish.test")


@pytest.fixture
async def api(redis_client: aioredis.Redis) -> AsyncIterator[httpx.AsyncClient]:
    async with await app_client(redis_client, frozenset({TOKEN})) as client:
        yield client


@pytest.mark.parametrize(
    ("params", "why"),
    [
        ({}, "q"),
        ({"q": "   "}, "q"),
        ({"q": "obama", "limit": "0"}, "limit"),
        ({"q": "obama", "limit": "-3"}, "limit"),
        ({"q": "obama", "limit": "ten"}, "limit"),
        ({"q": "obama", "limit": str(10**30)}, "limit"),
        ({"q": "obama", "type": "planet"}, "type"),
    ],
)
async def test_a_bad_search_is_400_naming_what_is_wrong(
    api: httpx.AsyncClient, params: dict[str, str], why: str
) -> None:
    response = await api.get("/v1/entities", params=params, headers=AUTH)
    assert response.status_code == 400
    assert why in response.json()["detail"]


async def test_huge_and_odd_queries_and_ids_answer_without_error(api: httpx.AsyncClient) -> None:
    huge = await api.get("/v1/entities", params={"q": "x" * 60_000}, headers=AUTH)
    assert huge.status_code == 200
    assert huge.json()["items"] == []
    odd = await api.get("/v1/entities", params={"q": "\x00\ufffd[]*?\\"}, headers=AUTH)
    assert odd.status_code == 200
    for entity_id in ("e-unknown", "%00", "a" * 5_000, "..%2f..%2fetc"):
        assert (await api.get(f"/v1/entities/{entity_id}", headers=AUTH)).status_code == 404
        assert (await api.get(f"/v1/entities/{entity_id}/articles", headers=AUTH)).status_code == 404
    assert (
        await api.get("/v1/entities/e-unknown/articles", params={"offset": "-1"}, headers=AUTH)
    ).status_code == 400


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("merge", b"not json", 422),
        ("merge", b"{}", 422),
        ("merge", b'{"into": ""}', 422),
        ("merge", b'{"into": "e-x", "extra": 1}', 422),
        ("merge", b"[" * 3_000 + b"]" * 3_000, 413),
        ("merge", b'{"into": "' + b"x" * (MAX_EDIT_BODY + 1) + b'"}', 413),
        ("identifiers", b'{"field": "Bad Field!", "value": "x"}', 422),
        ("merge", b'{"into": "e-other"}', 404),
        ("rename", b'{"name": "New name"}', 404),
    ],
)
async def test_a_bad_edit_is_4xx_and_changes_nothing(
    api: httpx.AsyncClient, redis_client: aioredis.Redis, path: str, body: bytes, status: int
) -> None:
    response = await api.post(f"/v1/entities/e-unknown/{path}", content=body, headers=AUTH)
    assert response.status_code == status, response.text
    assert await redis_client.dbsize() == 0


async def test_edits_need_a_token_and_are_refused_without_configured_tokens(
    api: httpx.AsyncClient, redis_client: aioredis.Redis
) -> None:
    merge = {"into": "e-other"}
    assert (await api.post("/v1/entities/e-unknown/merge", json=merge)).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert (await api.post("/v1/entities/e-unknown/merge", json=merge, headers=wrong)).status_code == 401
    async with await app_client(redis_client, frozenset()) as open_api:
        assert (await open_api.post("/v1/entities/e-unknown/merge", json=merge)).status_code == 403
