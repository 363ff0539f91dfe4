"""The HTTP guard: unauthenticated requests are rate-limited too; the bucket map stays bounded."""

from __future__ import annotations

import httpx
import redis.asyncio as aioredis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from shared.runtime import http as runtime_http
from shared.runtime.http import HttpContext, guarded
from shared.runtime.metrics import ServiceMetrics


def context(rate: float) -> HttpContext:
    # The client is never used: nothing here reaches Redis.
    client = aioredis.Redis.from_url("redis://127.0.0.1:1/0")
    return HttpContext("t", client, ServiceMetrics("t"), [], tokens=frozenset({"tok"}), rate_limit_per_s=rate)


async def ok(_: Request) -> Response:
    return PlainTextResponse("ok")


async def test_requests_without_a_token_are_rate_limited_too() -> None:
    app = Starlette(routes=[Route("/x", guarded(context(3), ok))])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        statuses = [
            (await http.get("/x", headers={"Authorization": "Bearer guess"})).status_code for _ in range(6)
        ]

    assert statuses[:3] == [401, 401, 401]
    assert statuses[3:] == [429, 429, 429]


def test_the_bucket_map_forgets_idle_clients_past_its_bound() -> None:
    ctx = context(10)
    ctx._buckets.update({f"10.0.{i // 256}.{i % 256}": (10.0, 0.0) for i in range(runtime_http.MAX_BUCKETS)})
    request = Request({"type": "http", "client": ("192.0.2.1", 1234), "headers": []})

    assert ctx.allow(request)
    assert len(ctx._buckets) == 1
