"""Entity identity through the running pipeline: ids in events and ninjs, read API, CLI, edits,
restarts, and two enrich replicas racing on one new entity."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis.asyncio as aioredis

from newsflow.pipeline import push_file, run_pipeline, wait_settled
from newsflow.redis_server import free_port
from services.enrich.logic import Tagger
from services.enrich.multilingual import MultilingualTagger
from services.enrich.registry import EntityRegistry
from services.enrich.related import RelatedIndex
from services.enrich.settings import EnrichSettings
from services.enrich.stages import EnrichStage
from shared import streams, wire
from shared.events import EventType, PublishedEvent, RawArticle, RawEvent, TaggedEvent
from shared.runtime.consumer import Delivery, Emit
from shared.runtime.metrics import ServiceMetrics

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]
NEWSFLOW = str(Path(sys.executable).with_name("newsflow"))
TOKEN = "entity-editor-token"
BASE = "http://localhost:8003"


@pytest.fixture(scope="module")
def tagger() -> Tagger:
    return Tagger()


def write_article(folder: Path, key: str, title: str, body: str, published_at: str) -> Path:
    path = folder / f"{key}.json"
    path.write_bytes(
        orjson.dumps(
            {"id": key, "source": "test", "title": title, "body": body, "published_at": published_at}
        )
    )
    return path


async def publish(client: aioredis.Redis, *paths: Path) -> list[PublishedEvent]:
    pushed = [p for path in paths for p in await push_file(client, path, source="entities")]
    settled = await wait_settled(client, [p.correlation_id for p in pushed], timeout_s=90)
    events = [settled[p.correlation_id].published for p in pushed]
    assert all(e is not None for e in events), settled
    return [e for e in events if e is not None]


def newsflow(*args: str, redis_url: str) -> Any:
    env = {**os.environ, "REDIS_URL": redis_url}
    done = subprocess.run([NEWSFLOW, *args], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return [orjson.loads(line) for line in done.stdout.splitlines()]


def person(event: PublishedEvent, name: str) -> Any:
    return next(e for e in event.data.enrichment.entities.people if e.name == name)


async def test_entities_keep_one_id_across_articles_api_cli_edits_and_restarts(
    redis_client: aioredis.Redis,
    redis_url: str,
    tmp_path: Path,
    tagger: Tagger,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NEWSFLOW_PUBLISH_API_TOKENS", TOKEN)
    first = write_article(
        tmp_path,
        "a1",
        "Shoigu visits Tehran",
        "Russian Defence Minister Sergei Shoigu arrived in Tehran on Monday for talks with Iranian"
        " officials.",
        "2026-01-05T10:00:00Z",
    )
    second = write_article(
        tmp_path,
        "a2",
        "Minister returns to Moscow",
        "Sergei Shoigu returned to Moscow on Wednesday after the talks in Tehran, officials said.",
        "2026-01-07T10:00:00Z",
    )
    port = free_port()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with run_pipeline(redis_url, tagger=tagger, http_ports={"publish": port}):
        one, two = await publish(redis_client, first, second)
        shoigu = person(one, "Sergei Shoigu")
        assert shoigu.entity_id
        assert shoigu.entity_id == person(two, "Sergei Shoigu").entity_id
        assert shoigu.link is not None
        assert person(two, "Sergei Shoigu").link.method == "name"
        ninjs_person = next(p for p in two.data.ninjs["people"] if p["name"] == "Sergei Shoigu")
        assert ninjs_person["literal"] == shoigu.entity_id
        base = EnrichSettings(redis_url=redis_url).public_base_url.rstrip("/")
        assert ninjs_person["uri"] == f"{base}/v1/entities/{shoigu.entity_id}"
        tehran = next(e for e in two.data.enrichment.entities.places if e.name == "Tehran")

        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=auth) as http:
            found = (await http.get("/v1/entities", params={"q": "shoi", "type": "person"})).json()["items"]
            assert [c["id"] for c in found] == [shoigu.entity_id]
            card = (await http.get(f"/v1/entities/{shoigu.entity_id}")).json()
            assert card["name"] == "Sergei Shoigu"
            assert card["article_count"] == 2
            page = (await http.get(f"/v1/entities/{shoigu.entity_id}/articles", params={"limit": 1})).json()
            assert [i["article_id"] for i in page["items"]] == [two.article_id]  # newest first
            rest = (await http.get(page["next"])).json()
            assert [i["article_id"] for i in rest["items"]] == [one.article_id]
            assert rest["next"] is None
            assert (await http.get("/v1/entities/e-unknown")).status_code == 404
            # Edits need the token; a merged id answers with the surviving entity.
            denied = await http.post(
                f"/v1/entities/{tehran.entity_id}/merge",
                json={"into": shoigu.entity_id},
                headers={"Authorization": ""},
            )
            assert denied.status_code == 401
            moscow = next(e for e in two.data.enrichment.entities.places if e.name == "Moscow")
            merged = await http.post(
                f"/v1/entities/{moscow.entity_id}/merge", json={"into": tehran.entity_id}
            )
            assert merged.status_code == 200
            assert merged.json()["merged_from"] == [moscow.entity_id]
            via_old = await http.get(f"/v1/entities/{moscow.entity_id}")
            assert via_old.json()["id"] == tehran.entity_id
            assert via_old.json()["resolved_from"] == moscow.entity_id
            renamed = await http.post(f"/v1/entities/{tehran.entity_id}/rename", json={"name": "Teheran"})
            assert renamed.json()["name"] == "Teheran"
            split = await http.post(f"/v1/entities/{tehran.entity_id}/split", json={"alias": "Moscow"})
            assert split.status_code == 201
            assert split.json()["article_count"] == 1

        # The CLI reads the same registry.
        (shown,) = newsflow("entities", "show", shoigu.entity_id, "--json", redis_url=redis_url)
        assert shown["id"] == shoigu.entity_id
        assert shown["article_count"] == 2
        searched = newsflow("entities", "search", "sergei", "--json", redis_url=redis_url)
        assert [c["id"] for c in searched] == [shoigu.entity_id]

    # Every service restarted: the next article links to the same ids.
    third = write_article(
        tmp_path,
        "a3",
        "Shoigu again",
        "Sergei Shoigu spoke to reporters in Moscow on Friday.",
        "2026-01-09T10:00:00Z",
    )
    async with run_pipeline(redis_url, tagger=tagger):
        (three,) = await publish(redis_client, third)
    assert person(three, "Sergei Shoigu").entity_id == shoigu.entity_id
    (shown,) = newsflow("entities", "show", shoigu.entity_id, "--json", redis_url=redis_url)
    assert shown["article_count"] == 3


def raw_delivery(key: str, body: str) -> Delivery:
    article = RawArticle(
        article_id=key,
        version=1,
        content_hash=key,
        source="test",
        title="Harbour news",
        body=body,
        received_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    event = RawEvent(
        event_type=EventType.RAW, article_id=key, article_version=1, correlation_id=key, data=article
    )
    return Delivery(streams.RAW, "0-1", wire.encode(event))


async def test_two_enrich_replicas_tagging_one_new_entity_at_once_make_one_entity(
    redis_client: aioredis.Redis, redis_url: str, tagger: Tagger
) -> None:
    settings = EnrichSettings(redis_url=redis_url)
    clients = [aioredis.Redis.from_url(redis_url) for _ in range(2)]
    try:
        stages = [
            EnrichStage(
                MultilingualTagger(["en"], loaded={"en": tagger}),
                RelatedIndex(c),
                settings,
                ServiceMetrics("enrich"),
                registry=EntityRegistry(c, base_url=BASE),
            )
            for c in clients
        ]
        body = "Officials of the Quorvath Maritime Authority inspected the new quay in Rotterdam on Monday."
        outcomes = await asyncio.gather(
            stages[0].process([raw_delivery("r1", body)]), stages[1].process([raw_delivery("r2", body)])
        )
        ids = []
        for (outcome,) in outcomes:
            assert isinstance(outcome, Emit)
            tagged = wire.decode(outcome.outputs[0].fields, TaggedEvent)
            org = next(e for e in tagged.data.entities.organisations if "Quorvath" in e.name)
            ids.append(org.entity_id)
        assert ids[0] is not None
        assert ids[0] == ids[1]
        card = await EntityRegistry(redis_client, base_url=BASE).get(ids[0])
        assert card is not None
        assert card.article_count == 2
    finally:
        for c in clients:
            await c.aclose()
