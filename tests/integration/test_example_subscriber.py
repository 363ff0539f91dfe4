"""The example subscriber reads what the pipeline published, with nothing but redis-py."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest
import redis.asyncio as aioredis

from newsflow.pipeline import push_file, run_pipeline, wait_settled
from tests.utils.paths import REPO, SEED

pytestmark = pytest.mark.integration


async def test_example_subscriber_prints_published_articles(
    redis_client: aioredis.Redis, redis_url: str
) -> None:
    async with run_pipeline(redis_url):
        (pushed,) = await push_file(redis_client, SEED, source="example")
        await wait_settled(redis_client, [pushed.correlation_id], timeout_s=60)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(REPO / "examples" / "subscriber.py"),
        "example-test",
        env={**os.environ, "REDIS_URL": redis_url},
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), timeout=30)).decode()
        # It acknowledges right after handling: wait for that before stopping it.
        for _ in range(100):
            if (await redis_client.xpending("articles.published", "example-test"))["pending"] == 0:
                break
            await asyncio.sleep(0.05)
    finally:
        proc.kill()
        await proc.wait()
    assert "article.published" in line
    assert "Russia-Iran cooperation" in line
    assert "Sergey Shoygu" in line
    pending = await redis_client.xpending("articles.published", "example-test")
    assert pending["pending"] == 0
