"""Fixtures only; builders live in tests/utils (plain modules)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio as aioredis

from newsflow.redis_server import RedisServer
from tests.utils.functions import load_library


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real redis-server with the Functions library: NEWSFLOW_TEST_REDIS_URL when set, else a
    private one on a free port."""
    given = os.environ.get("NEWSFLOW_TEST_REDIS_URL")
    if given:
        load_library(given)
        yield given
        return
    with RedisServer() as server:
        load_library(server.url)
        yield server.url


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client: aioredis.Redis = aioredis.Redis.from_url(redis_url, decode_responses=False)
    await client.flushdb()
    try:
        yield client
    finally:
        await client.aclose()
