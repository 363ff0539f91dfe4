"""Publish under load, black-box against `newsflow run publish`: many live-feed clients share one
reader and a bounded pool; past the cap, 503."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from pathlib import Path
from typing import cast

import httpx
import pytest
import redis

from shared import streams
from tests.utils.services import running

pytestmark = pytest.mark.integration

CLIENTS = 200


@pytest.mark.timeout(180)
async def test_200_live_feed_clients_use_at_most_40_redis_connections_and_the_201st_gets_503(
    redis_url: str, tmp_path: Path
) -> None:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    env = {"NEWSFLOW_PUBLISH_MAX_SSE_CLIENTS": str(CLIENTS), "NEWSFLOW_PUBLISH_RATE_LIMIT_PER_S": "10000"}
    with running("publish", redis_url, tmp_path, ready_timeout_s=90.0, **env) as (_, base):
        limits = httpx.Limits(max_connections=CLIENTS + 10)
        async with (
            httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as http,
            AsyncExitStack() as stack,
        ):
            streams_open = [
                await stack.enter_async_context(http.stream("GET", "/v1/events")) for _ in range(CLIENTS)
            ]
            assert all(r.status_code == 200 for r in streams_open)
            await asyncio.sleep(1.0)
            over = await http.get("/v1/events")
            assert over.status_code == 503
            assert over.headers["Retry-After"] == "1"

            # Every client still gets a new event.
            client.xadd(streams.PUBLISHED, {"event": "{}", "event_type": "article.published"})
            firsts = await asyncio.gather(*(_first_event(r) for r in streams_open))
            assert all(line.startswith("id: ") for line in firsts)
            connections = len(cast(list[object], client.client_list())) - 1  # less this test's own
            print(f"\n{CLIENTS} live-feed clients: {connections} Redis connections")
            assert connections <= 40


async def _first_event(response: httpx.Response) -> str:
    async for line in response.aiter_lines():
        if line.startswith("id: "):
            return line
    return ""


@pytest.mark.timeout(120)
async def test_console_live_clients_share_the_read_apis_reader_and_its_cap(
    redis_url: str, tmp_path: Path
) -> None:
    redis.Redis.from_url(redis_url).flushdb()
    env = {"NEWSFLOW_PUBLISH_MAX_SSE_CLIENTS": "2", "NEWSFLOW_PUBLISH_RATE_LIMIT_PER_S": "10000"}
    with running("publish", redis_url, tmp_path, ready_timeout_s=90.0, **env) as (_, base):
        async with httpx.AsyncClient(base_url=base, timeout=30) as http, AsyncExitStack() as stack:
            api_feed = await stack.enter_async_context(http.stream("GET", "/v1/events"))
            console_feed = await stack.enter_async_context(http.stream("GET", "/console/events"))
            assert (api_feed.status_code, console_feed.status_code) == (200, 200)
            # One cap for the process: a third client is refused on either route.
            assert (await http.get("/console/events")).status_code == 503
            assert (await http.get("/v1/events")).status_code == 503
