"""One Redis client factory for services and commands: validated URL, credentials, cluster."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from redis.asyncio.cluster import RedisCluster

from newsflow.settings import redis_client
from services.publish.settings import PublishSettings


def test_a_redis_url_with_an_unknown_scheme_fails_at_start() -> None:
    with pytest.raises(ValidationError, match="REDIS_URL must start with one of"):
        PublishSettings(redis_url="http://redis:6379/0")


async def test_commands_take_credentials_from_the_environment_like_the_services(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REDIS_USERNAME", "ops")
    monkeypatch.setenv("REDIS_PASSWORD", "pw")
    client = redis_client("redis://redis.example:6379/0")
    try:
        kwargs = client.connection_pool.connection_kwargs
        assert (kwargs["username"], kwargs["password"], kwargs["host"]) == ("ops", "pw", "redis.example")
    finally:
        await client.aclose()


async def test_commands_given_a_cluster_url_get_a_cluster_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    client = redis_client("redis+cluster://node-1:6379/0")
    try:
        assert isinstance(client, RedisCluster)
    finally:
        await client.aclose()
