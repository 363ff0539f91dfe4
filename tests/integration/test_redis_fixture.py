import pytest
import redis.asyncio as aioredis

pytestmark = pytest.mark.integration


async def test_fixture_server_accepts_stream_commands(redis_client: aioredis.Redis) -> None:
    entry_id = await redis_client.xadd("t", {"k": "v"})
    entries = await redis_client.xrange("t")
    assert entries == [(entry_id, {b"k": b"v"})]
