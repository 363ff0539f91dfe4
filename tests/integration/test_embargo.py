"""Embargoes on a real redis-server and real publish processes: held, then released once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
import yaml

from newsflow.redis_server import free_port
from services.publish.embargo import EmbargoReleaser
from services.publish.settings import PublishSettings
from services.publish.stages import PublishStage
from shared import streams, wire
from shared.events import EventType, PublishedEvent, TaggedEvent
from shared.runtime.consumer import Delivery, Retention, StageRunner, ensure_group
from shared.wire import text_fields
from tests.utils.chaos import ChaosSettings, ServiceProcess
from tests.utils.published import place, tagged_article
from tests.utils.webhooks import SECRET, Receiver

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

BASE_URL = "https://news.example.org"


def embargoed_event(article_id: str, until: datetime | None, version: int = 1) -> TaggedEvent:
    tagged = tagged_article(
        article_id, version=version, title=f"Embargoed story v{version}", entities=[place("Tehran")]
    )
    tagged.article.embargoed_until = until
    return TaggedEvent(
        event_type=EventType.TAGGED,
        article_id=article_id,
        article_version=version,
        correlation_id=f"c-{article_id}",
        data=tagged,
    )


async def put_tagged(client: aioredis.Redis, event: TaggedEvent) -> None:
    fields: dict[Any, Any] = wire.encode(event)
    await client.xadd(streams.TAGGED, fields)


async def published(client: aioredis.Redis) -> list[PublishedEvent]:
    return [wire.decode(text_fields(f), PublishedEvent) for _, f in await client.xrange(streams.PUBLISHED)]


async def outputs(
    http: httpx.AsyncClient, client: aioredis.Redis, receiver: Receiver, article_id: str
) -> dict[str, int]:
    """How many times each output shows the article."""
    article = await http.get(f"/v1/articles/{article_id}")
    listing = (await http.get("/v1/articles")).json()
    atom = (await http.get("/v1/feed.atom")).text
    sse, entries = 0, await client.xlen(streams.PUBLISHED)
    if entries:  # the live feed replayed from the start, ending after what the stream holds
        async with http.stream("GET", "/v1/events", params={"from": "0-0", "limit": str(entries)}) as stream:
            async for line in stream.aiter_lines():
                sse += line.startswith("data:") and article_id in line
    return {
        "stream": sum(e.article_id == article_id for e in await published(client)),
        "api": int(article.status_code == 200),
        "listing": sum(item["article_id"] == article_id for item in listing["items"]),
        "atom": atom.count(f"/articles/{article_id}</id>"),
        "sse": sse,
        "webhook": sum(article_id.encode() in r.body for r in receiver.received),
    }


async def test_an_article_embargoed_5s_ahead_shows_nowhere_before_and_everywhere_once_despite_a_kill(
    redis_url: str, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    async with Receiver() as receiver:
        hooks = tmp_path / "webhooks.yaml"
        hooks.write_text(
            yaml.safe_dump(
                [
                    {
                        "name": "partner",
                        "url": receiver.url,
                        "secret_env": "PARTNER_SECRET",
                        "timeout_s": 0.5,
                        "allow_private": ["127.0.0.1"],
                    }
                ]
            )
        )
        port = free_port()
        env = ChaosSettings().env("publish", redis_url) | {
            "NEWSFLOW_PUBLISH_HTTP_PORT": str(port),
            "NEWSFLOW_PUBLISH_PUBLIC_BASE_URL": BASE_URL,
            "NEWSFLOW_PUBLISH_WEBHOOKS_PATH": str(hooks),
            "PARTNER_SECRET": SECRET,
        }
        publish = ServiceProcess("publish", env, tmp_path)
        publish.start()
        try:
            publish.wait_ready()
            until = datetime.now(UTC) + timedelta(seconds=5)
            await put_tagged(redis_client, embargoed_event("emb-1", until))
            await put_tagged(redis_client, embargoed_event("free-1", None))  # a neighbour, not held
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5.0) as http:
                await asyncio.sleep(0.5)
                before = await outputs(http, redis_client, receiver, "emb-1")
                assert before == dict.fromkeys(before, 0)
                neighbour = await outputs(http, redis_client, receiver, "free-1")
                assert neighbour["stream"] == 1
                assert await redis_client.zcard(streams.PUBLISH_EMBARGO_DUE) == 1

                publish.kill()
                publish.start()
                publish.wait_ready()
                # A release cannot come before the restarted process reads (3-4 s on a busy machine).
                ready_at = datetime.now(UTC)
                while (left := (until - datetime.now(UTC)).total_seconds()) > 0.6:
                    assert await outputs(http, redis_client, receiver, "emb-1") == dict.fromkeys(before, 0)
                    await asyncio.sleep(min(0.5, left - 0.5))

                await asyncio.sleep(max(0.0, (until - datetime.now(UTC)).total_seconds()) + 1.0)
                after = await outputs(http, redis_client, receiver, "emb-1")
                assert after == dict.fromkeys(after, 1), after
                await asyncio.sleep(1.0)
                assert await outputs(http, redis_client, receiver, "emb-1") == after
            event = next(e for e in await published(redis_client) if e.article_id == "emb-1")
            assert event.event_type is EventType.PUBLISHED
            assert event.data.ninjs["embargoed"] == until.isoformat().replace("+00:00", "Z")
            assert (event.data.published_at - max(until, ready_at)).total_seconds() < 1.0
            assert await redis_client.zcard(streams.PUBLISH_EMBARGO_DUE) == 0
        finally:
            publish.stop()


async def drain(client: aioredis.Redis, runner: StageRunner) -> None:
    while reply := await client.xreadgroup(streams.PUBLISH_GROUP, "c1", {streams.TAGGED: ">"}, count=10):
        await runner.handle(
            [
                Delivery(streams.TAGGED, eid.decode(), text_fields(f), raw=f)
                for _, entries in reply
                for eid, f in entries
            ]
        )


async def stage_and_releasers(
    client: aioredis.Redis, replicas: int = 1
) -> tuple[StageRunner, list[EmbargoReleaser]]:
    await ensure_group(client, streams.TAGGED, streams.PUBLISH_GROUP)
    runner = StageRunner(
        client,
        PublishStage(client, PublishSettings(public_base_url=BASE_URL)),
        input_stream=streams.TAGGED,
        group=streams.PUBLISH_GROUP,
        consumer="c1",
        max_deliveries=3,
    )
    releasers = [EmbargoReleaser(client, base_url=BASE_URL, retention=Retention()) for _ in range(replicas)]
    return runner, releasers


async def test_racing_replicas_release_a_due_article_once(redis_client: aioredis.Redis) -> None:
    runner, releasers = await stage_and_releasers(redis_client, replicas=4)
    until = datetime.now(UTC) + timedelta(seconds=0.3)
    for i in range(20):
        await put_tagged(redis_client, embargoed_event(f"race-{i}", until))
    await drain(redis_client, runner)
    assert await published(redis_client) == []
    await asyncio.sleep(0.35)
    counts = await asyncio.gather(*(r.release_once() for r in releasers for _ in range(3)))
    assert sum(counts) == 20
    assert sorted(e.article_id for e in await published(redis_client)) == sorted(
        f"race-{i}" for i in range(20)
    )


async def test_a_new_version_moves_the_embargo_and_only_it_is_released(redis_client: aioredis.Redis) -> None:
    runner, (releaser,) = await stage_and_releasers(redis_client)
    now = datetime.now(UTC)
    await put_tagged(redis_client, embargoed_event("moved", now + timedelta(seconds=0.2)))
    await put_tagged(redis_client, embargoed_event("moved", now + timedelta(hours=1), version=2))
    await drain(redis_client, runner)
    assert await releaser.release_once(now + timedelta(seconds=1)) == 0
    assert await published(redis_client) == []
    assert await releaser.release_once(now + timedelta(hours=1, seconds=1)) == 1
    assert [(e.article_id, e.article_version) for e in await published(redis_client)] == [("moved", 2)]


async def test_a_new_version_without_embargo_lifts_it_at_once_and_the_held_one_is_never_published(
    redis_client: aioredis.Redis,
) -> None:
    runner, (releaser,) = await stage_and_releasers(redis_client)
    now = datetime.now(UTC)
    await put_tagged(redis_client, embargoed_event("lifted", now + timedelta(hours=1)))
    await drain(redis_client, runner)
    await put_tagged(redis_client, embargoed_event("lifted", None, version=2))
    await drain(redis_client, runner)
    assert [(e.article_id, e.article_version) for e in await published(redis_client)] == [("lifted", 2)]
    assert await releaser.release_once() == 0  # the held v1 is due at once, and found stale
    assert await redis_client.zcard(streams.PUBLISH_EMBARGO_DUE) == 0
    assert await releaser.release_once(now + timedelta(hours=2)) == 0
    assert len(await published(redis_client)) == 1
