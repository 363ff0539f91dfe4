"""Two enrich processes on one redis-server, sharing the work: one new entity stays one entity."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import orjson
import pytest
import redis

from shared import streams, wire
from shared.events import EventType, RawArticle, RawEvent, TaggedEvent
from tests.utils.chaos import ChaosSettings, ServiceProcess, read_stream, wait_all_ready, xadd

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]
ARTICLES = 16
NAME = "Quorvath Maritime Authority"


def raw_event(i: int) -> dict[str, str]:
    article = RawArticle(
        article_id=f"replica-{i}",
        version=1,
        content_hash=str(i),
        source="test",
        title=f"Harbour news {i}",
        body=f"Officials of the {NAME} inspected quay {i} in Rotterdam on Monday, the port said.",
        received_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    event = RawEvent(
        event_type=EventType.RAW,
        article_id=article.article_id,
        article_version=1,
        correlation_id=str(i),
        data=article,
    )
    return wire.encode(event)


def test_two_enrich_processes_racing_on_one_new_entity_make_one_entity(
    redis_url: str, tmp_path: Path
) -> None:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    env = ChaosSettings().env("enrich", redis_url) | {"NEWSFLOW_ENRICH_BATCH_SIZE": "1"}
    replicas = []
    for side in ("a", "b"):
        (tmp_path / side).mkdir()
        replicas.append(ServiceProcess("enrich", env, tmp_path / side))
    try:
        for replica in replicas:
            replica.start()
        wait_all_ready(replicas[:1], timeout_s=90)
        wait_all_ready(replicas[1:], timeout_s=90)
        for i in range(ARTICLES):
            xadd(client, streams.RAW, raw_event(i))
        deadline = time.monotonic() + 90
        while cast(int, client.xlen(streams.TAGGED)) < ARTICLES:
            assert time.monotonic() < deadline, [r.tail() for r in replicas]
            time.sleep(0.1)
        ids = set()
        for _, fields in read_stream(client, streams.TAGGED):
            tagged = wire.decode(fields, TaggedEvent)
            (org,) = [e for e in tagged.data.entities.organisations if e.name == NAME]
            ids.add(org.entity_id)
        assert len(ids) == 1
        (entity_id,) = ids
        assert entity_id is not None
        card = orjson.loads(
            cast(bytes | None, client.hget(f"{streams.ENTITY_PREFIX}:doc", entity_id)) or b"{}"
        )
        assert card["articles"] == ARTICLES
        named = [
            doc
            for raw in cast(list[bytes], client.hvals(f"{streams.ENTITY_PREFIX}:doc"))
            if (doc := orjson.loads(raw))["name"] == NAME
        ]
        assert len(named) == 1
        tagged_by = [
            sum(1 for r in replica.log_records() if r.get("event") == "tagged") for replica in replicas
        ]
        print(f"\narticles tagged by each replica: {tagged_by}")
        assert sum(tagged_by) == ARTICLES
    finally:
        for replica in replicas:
            replica.stop()
        client.close()
