"""The subscribers' read API on a real redis-server: latest versions, listing, live events, Atom."""

from __future__ import annotations

import asyncio
import random
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from starlette.applications import Starlette

from services.publish.api import make_routes
from services.publish.listing import INDEX_PREFIX, IndexRecord
from services.publish.settings import PublishSettings
from services.publish.stages import PublishIndexStage
from shared import streams, wire
from shared.events import EventType, PublishedEvent, TaggedArticle, TaggedEvent
from shared.runtime.consumer import Delivery, Emit, Reject, Skip
from shared.runtime.http import HttpContext
from shared.runtime.metrics import ServiceMetrics
from shared.runtime.testing import commit_stage
from tests.utils.published import (
    BASE_URL,
    T0,
    delivery,
    ninjs3,
    organisation,
    person,
    place,
    published_event,
    tagged_article,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(20)]

ATOM = "{http://www.w3.org/2005/Atom}"
SHOYGU = person("Sergey Shoygu", aliases=["Shoigu"])
PUTIN = person("Vladimir Putin")
TEHRAN = place("Tehran")
GAZPROM = organisation("Gazprom")


def context(client: aioredis.Redis, tokens: frozenset[str] = frozenset()) -> HttpContext:
    return HttpContext(
        service="publish", client=client, metrics=ServiceMetrics("publish"), groups=[], tokens=tokens
    )


def app_for(ctx: HttpContext, **kwargs: Any) -> Starlette:
    return Starlette(routes=make_routes(ctx, PublishSettings(public_base_url=BASE_URL), **kwargs))


def http(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://publish.test")


@pytest.fixture
async def api(redis_client: aioredis.Redis) -> AsyncIterator[httpx.AsyncClient]:
    async with http(app_for(context(redis_client))) as client:
        yield client


def tagged_event_json(tagged: TaggedArticle) -> str:
    article = tagged.article
    return TaggedEvent(
        event_type=EventType.TAGGED,
        article_id=article.article_id,
        article_version=article.version,
        correlation_id="c",
        data=tagged,
    ).model_dump_json()


class Pipeline:
    """Plays publish's part: stores the latest version and the tagged event it came from, then feeds the
    event to the listing index stage as a delivery, as the runner would."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self.stage = PublishIndexStage(client)
        self.entries = 0

    async def publish(self, *articles: TaggedArticle) -> list[PublishedEvent]:
        events = [published_event(a) for a in articles]
        pipe = self.client.pipeline(transaction=True)
        for tagged, event in zip(articles, events, strict=True):
            pipe.hset(streams.PUBLISH_LATEST, event.article_id, event.model_dump_json())
            pipe.hset(streams.PUBLISH_TAGGED, event.article_id, tagged_event_json(tagged))
        await pipe.execute()
        report = await commit_stage(self.client, self.stage, self._deliveries(events))
        assert (report.rejected, report.retried, report.dead_lettered) == (0, 0, 0)
        return events

    def _deliveries(self, events: Sequence[PublishedEvent]) -> list[Delivery]:
        out = []
        for event in events:
            self.entries += 1
            out.append(delivery(event, f"{self.entries}-0"))
        return out


@pytest.fixture
def pipeline(redis_client: aioredis.Redis) -> Pipeline:
    return Pipeline(redis_client)


def ids(body: dict[str, Any]) -> list[str]:
    return [item["article_id"] for item in body["items"]]


async def listing(api: httpx.AsyncClient, **params: Any) -> list[str]:
    response = await api.get("/v1/articles", params=params)
    assert response.status_code == 200, response.text
    return ids(response.json())


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


# --- GET /v1/articles/{id} ---------------------------------------------------------------------


async def test_latest_version_is_served_as_event_ninjs2_and_ninjs3(
    api: httpx.AsyncClient, pipeline: Pipeline
) -> None:
    tagged = tagged_article("a1", entities=[SHOYGU, TEHRAN])
    [event] = await pipeline.publish(tagged)

    default = await api.get("/v1/articles/a1")
    ninjs2 = await api.get("/v1/articles/a1", params={"format": "ninjs2"})
    ninjs_3 = await api.get("/v1/articles/a1", params={"format": "ninjs3"})

    assert default.status_code == ninjs2.status_code == ninjs_3.status_code == 200
    assert all(r.headers["content-type"] == "application/json" for r in (default, ninjs2, ninjs_3))
    assert PublishedEvent.model_validate_json(default.content) == event
    assert ninjs2.json() == event.data.ninjs
    assert ninjs2.json()["standard"]["version"] == "2.2"
    assert ninjs_3.json() == ninjs3(tagged)
    assert ninjs_3.json()["standard"]["version"] == "3.1"


async def test_unknown_article_is_404_and_unknown_format_is_400(
    api: httpx.AsyncClient, pipeline: Pipeline
) -> None:
    await pipeline.publish(tagged_article("a1"))

    assert "nope" in assert_problem(await api.get("/v1/articles/nope"), 404)["detail"]
    assert "xml" in assert_problem(await api.get("/v1/articles/a1?format=xml"), 400)["detail"]
    assert_problem(await api.get("/v1/articles/nope?format=xml"), 400)


async def test_etag_is_the_event_id_and_a_matching_if_none_match_gives_304(
    api: httpx.AsyncClient, pipeline: Pipeline
) -> None:
    [first] = await pipeline.publish(tagged_article("a1"))
    response = await api.get("/v1/articles/a1")
    etag = response.headers["etag"]
    assert etag == f'"{first.event_id}"'

    cached = await api.get("/v1/articles/a1?format=ninjs3", headers={"If-None-Match": f'"x", W/{etag}'})
    assert cached.status_code == 304
    assert cached.content == b""
    assert cached.headers["etag"] == etag

    [second] = await pipeline.publish(tagged_article("a1", version=2, title="Ministers meet again"))
    changed = await api.get("/v1/articles/a1", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] == f'"{second.event_id}"'
    assert changed.json()["data"]["title"] == "Ministers meet again"


# --- GET /v1/articles --------------------------------------------------------------------------


async def test_listing_finds_an_entity_by_name_in_any_case_by_alias_and_by_id(
    api: httpx.AsyncClient, pipeline: Pipeline
) -> None:
    await pipeline.publish(
        tagged_article("a1", entities=[SHOYGU, TEHRAN], published_at=T0),
        tagged_article("a2", entities=[TEHRAN], published_at=T0 + timedelta(hours=1)),
        tagged_article("a3", entities=[SHOYGU, GAZPROM], published_at=T0 + timedelta(hours=2)),
    )

    assert await listing(api, entity="Sergey Shoygu") == ["a3", "a1"]
    assert await listing(api, entity="  sergey   SHOYGU ") == ["a3", "a1"]
    assert await listing(api, entity="Shoigu") == ["a3", "a1"]
    assert await listing(api, entity="person:sergey-shoygu") == ["a3", "a1"]
    assert await listing(api, entity="Tehran") == ["a2", "a1"]
    assert await listing(api, entity="Nobody") == []
    assert await listing(api) == ["a3", "a2", "a1"]

    response = await api.get("/v1/articles", params={"entity": "Gazprom"})
    assert response.json() == {
        "items": [
            {
                "article_id": "a3",
                "version": 1,
                "title": "Ministers meet in Zürich",
                "url": "https://www.example-times.com/world/a3.html",
                "published_at": "2025-06-10T11:00:00Z",
                "event_type": "article.published",
                "entities": ["Sergey Shoygu", "Gazprom"],
            }
        ],
        "next_cursor": None,
        "next": None,
    }


async def test_listing_by_type_means_at_least_one_entity_of_that_type_and_narrows_an_entity(
    api: httpx.AsyncClient, pipeline: Pipeline
) -> None:
    georgia_place, georgia_person = place("Georgia"), person("Georgia")
    await pipeline.publish(
        tagged_article("a1", entities=[SHOYGU], published_at=T0),
        tagged_article("a2", entities=[TEHRAN, georgia_place], published_at=T0 + timedelta(hours=1)),
        tagged_article("a3", entities=[georgia_person], published_at=T0 + timedelta(hours=2)),
        tagged_article("a4", entities=[], published_at=T0 + timedelta(hours=3)),
    )

    assert await listing(api, type="person") == ["a3", "a1"]
    assert await listing(api, type="place") == ["a2"]
    assert await listing(api, type="organisation") == []
    assert await listing(api, entity="Georgia") == ["a3", "a2"]
    assert await listing(api, entity="Georgia", type="place") == ["a2"]
    assert await listing(api, entity="georgia", type="person") == ["a3"]
    assert await listing(api, entity="place:georgia", type="place") == ["a2"]
    assert await listing(api, entity="place:georgia", type="person") == []
    assert_problem(await api.get("/v1/articles?type=people"), 400)


async def test_listing_since_is_inclusive_and_needs_a_time_zone(
    api: httpx.AsyncClient, pipeline: Pipeline
) -> None:
    await pipeline.publish(*(tagged_article(f"a{h}", published_at=T0 + timedelta(hours=h)) for h in range(4)))

    assert await listing(api, since="2025-06-10T10:00:00Z") == ["a3", "a2", "a1"]
    assert await listing(api, since="2025-06-10T12:00:00+02:00") == ["a3", "a2", "a1"]
    # An unescaped "+" arrives as a space; it is read as the offset sign it was meant to be.
    response = await api.get("/v1/articles?since=2025-06-10T13:00:00+02:00")
    assert ids(response.json()) == ["a3", "a2"]
    detail = assert_problem(await api.get("/v1/articles?since=2025-06-10T10:00:00"), 400)["detail"]
    assert "time zone" in detail
    assert_problem(await api.get("/v1/articles?since=yesterday"), 400)


async def test_pagination_visits_every_article_once_newest_first_across_tied_times(
    api: httpx.AsyncClient, pipeline: Pipeline
) -> None:
    # 23 articles over 8 distinct times, so that pages end in the middle of ties.
    articles = [
        tagged_article(f"a{i:02d}", entities=[SHOYGU], published_at=T0 + timedelta(minutes=i // 3))
        for i in range(23)
    ]
    await pipeline.publish(*articles)

    seen: list[str] = []
    pages = 0
    url: str | None = "/v1/articles?entity=Sergey+Shoygu&limit=4"
    while url is not None:
        response = await api.get(url)
        body = response.json()
        seen += ids(body)
        pages += 1
        if pages == 1:
            # Published while the client pages: newer than the cursor, so it shifts nothing.
            await pipeline.publish(
                tagged_article("late", entities=[SHOYGU], published_at=T0 + timedelta(days=1))
            )
        if body["next_cursor"] is None:
            assert "link" not in response.headers
            assert body["next"] is None
        else:
            assert len(body["items"]) == 4
            assert response.headers["link"] == f'<{body["next"]}>; rel="next"'
            assert body["next"].endswith(f"&cursor={body['next_cursor']}")
        url = body["next"]

    assert pages == 6
    expected = sorted(
        (a.article.article_id for a in articles),
        key=lambda i: (int(i[1:]) // 3, i),
        reverse=True,
    )
    assert seen == expected
    assert await listing(api, entity="Sergey Shoygu", limit=1) == ["late"]


async def test_listing_rejects_bad_limits_and_cursors(api: httpx.AsyncClient) -> None:
    for query in ("limit=0", "limit=101", "limit=ten", "cursor=not-a-cursor", "cursor=WzFd"):
        assert_problem(await api.get(f"/v1/articles?{query}"), 400)
    assert (await api.get("/v1/articles?limit=100")).json() == {
        "items": [],
        "next_cursor": None,
        "next": None,
    }


async def test_withdrawn_article_leaves_listing_and_feed_but_its_latest_version_stays_readable(
    api: httpx.AsyncClient, pipeline: Pipeline
) -> None:
    await pipeline.publish(
        tagged_article("a1", entities=[SHOYGU], published_at=T0),
        tagged_article("a2", entities=[SHOYGU], published_at=T0 + timedelta(hours=1)),
    )
    [kill] = await pipeline.publish(tagged_article("a1", version=2, withdrawn=True, entities=[SHOYGU]))

    assert await listing(api) == ["a2"]
    assert await listing(api, entity="Sergey Shoygu") == ["a2"]
    assert await listing(api, type="person") == ["a2"]
    feed = ET.fromstring((await api.get("/v1/feed.atom")).content)
    assert [e.findtext(f"{ATOM}id") for e in feed.iter(f"{ATOM}entry")] == [f"{BASE_URL}/articles/a2"]

    latest = (await api.get("/v1/articles/a1")).json()
    assert latest["event_id"] == kill.event_id
    assert latest["event_type"] == "article.withdrawn"
    assert latest["data"]["pubstatus"] == "withdrawn"
    assert (await api.get("/v1/articles/a1?format=ninjs2")).json()["pubstatus"] == "canceled"
    assert (await api.get("/v1/articles/a1?format=ninjs3")).json()["pubStatus"] == "canceled"


async def test_updated_article_with_changed_entities_moves_between_entity_listings(
    api: httpx.AsyncClient, pipeline: Pipeline
) -> None:
    await pipeline.publish(tagged_article("a1", entities=[SHOYGU, TEHRAN]))
    assert await listing(api, entity="Sergey Shoygu") == ["a1"]

    await pipeline.publish(tagged_article("a1", version=2, entities=[PUTIN, TEHRAN]))

    assert await listing(api, entity="Sergey Shoygu") == []
    assert await listing(api, entity="Shoigu") == []
    assert await listing(api, entity="person:sergey-shoygu") == []
    assert await listing(api, entity="Vladimir Putin") == ["a1"]
    assert await listing(api, entity="Tehran") == ["a1"]
    body = (await api.get("/v1/articles")).json()
    assert [(i["version"], i["event_type"], i["entities"]) for i in body["items"]] == [
        (2, "article.updated", ["Vladimir Putin", "Tehran"])
    ]


async def test_redelivered_and_older_versions_leave_the_index_unchanged(
    redis_client: aioredis.Redis, api: httpx.AsyncClient, pipeline: Pipeline
) -> None:
    v1 = published_event(tagged_article("a1", entities=[SHOYGU]))
    v2 = published_event(tagged_article("a1", version=2, entities=[PUTIN]))
    stage = pipeline.stage
    await commit_stage(redis_client, stage, [delivery(v1, "1-0"), delivery(v2, "2-0")])
    snapshot = {k: await redis_client.dump(k) for k in await redis_client.keys(f"{INDEX_PREFIX}:*")}

    report = await commit_stage(
        redis_client, stage, [delivery(v2, "2-0", delivery_count=2), delivery(v1, "1-0", delivery_count=3)]
    )
    await commit_stage(redis_client, stage, [delivery(v1, "1-0")])

    assert [o for _, o in report.outcomes] == [Skip("already indexed", article_id="a1")] * 2
    after = {k: await redis_client.dump(k) for k in await redis_client.keys(f"{INDEX_PREFIX}:*")}
    assert after == snapshot
    assert await listing(api, entity="Vladimir Putin") == ["a1"]
    assert await listing(api, entity="Sergey Shoygu") == []


async def test_concurrent_indexers_of_one_article_leave_only_the_newest_memberships(
    redis_client: aioredis.Redis, api: httpx.AsyncClient
) -> None:
    versions = [
        published_event(tagged_article("a1", version=v, entities=[person(f"Person {v}"), TEHRAN]))
        for v in range(1, 25)
    ]
    order = random.Random(7).sample(versions, len(versions))
    replicas = [PublishIndexStage(redis_client), PublishIndexStage(redis_client)]

    await asyncio.gather(
        *(
            commit_stage(redis_client, replicas[i % 2], [delivery(e, f"{e.article_version}-0")])
            for i, e in enumerate(order)
        )
    )

    assert await listing(api, entity="Person 24") == ["a1"]
    assert await listing(api, entity="Tehran") == ["a1"]
    stored = await redis_client.get(f"{INDEX_PREFIX}:article:a1")
    assert stored is not None
    expected = {k.encode() for k in IndexRecord.model_validate_json(stored).keys}
    holding = {
        key
        for key in await redis_client.keys(f"{INDEX_PREFIX}:*")
        if key.startswith(f"{INDEX_PREFIX}:article:".encode()) is False
        and await redis_client.zscore(key, "a1") is not None
    }
    assert holding == expected


async def test_undecodable_entries_are_rejected_and_their_neighbours_indexed(
    api: httpx.AsyncClient, pipeline: Pipeline
) -> None:
    good = published_event(tagged_article("a1"))
    batch = [
        Delivery(streams.PUBLISHED, "1-0", {"event": "{not json"}),
        Delivery(streams.PUBLISHED, "2-0", {"article_id": "x"}),
        delivery(good, "3-0"),
    ]

    report = await commit_stage(pipeline.client, pipeline.stage, batch)
    first, second, third = (o for _, o in report.outcomes)

    assert isinstance(first, Reject)
    assert first.code == "invalid_event"
    assert isinstance(second, Reject)
    assert second.code == "invalid_event"
    assert isinstance(third, Emit)
    assert third.article_id == "a1"
    assert await listing(api) == ["a1"]


# --- GET /v1/events ----------------------------------------------------------------------------


def parse_sse(text: str) -> list[dict[str, str]]:
    """Messages with data, comments and `retry:` left out."""
    messages = []
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(": ")
            fields[name] = f"{fields[name]}\n{value}" if name in fields else value
        if "data" in fields:
            messages.append(fields)
    return messages


async def wait_until_blocked(client: aioredis.Redis, count: int = 1) -> None:
    """Until `count` clients wait in XREAD BLOCK, i.e. the live feed is connected and reading."""
    for _ in range(500):
        info = await client.info("clients")
        if int(info["blocked_clients"]) == count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"expected {count} blocked clients, have {info['blocked_clients']}")


async def xadd(client: aioredis.Redis, *events: PublishedEvent) -> list[str]:
    entry_ids = []
    for event in events:
        fields: dict[Any, Any] = wire.encode(event)
        entry_ids.append((await client.xadd(streams.PUBLISHED, fields)).decode())
    return entry_ids


async def test_live_feed_delivers_events_written_after_connect(
    redis_client: aioredis.Redis, api: httpx.AsyncClient
) -> None:
    before = published_event(tagged_article("old"))
    await xadd(redis_client, before)
    events = [
        published_event(tagged_article("a1")),
        published_event(tagged_article("a1", version=2, title="Second")),
        published_event(tagged_article("a1", version=3, withdrawn=True)),
    ]

    reading = asyncio.create_task(api.get("/v1/events", params={"limit": 3}))
    await wait_until_blocked(redis_client)
    entry_ids = await xadd(redis_client, *events)
    response = await reading

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    messages = parse_sse(response.text)
    assert [m["id"] for m in messages] == entry_ids
    assert [m["event"] for m in messages] == ["article.published", "article.updated", "article.withdrawn"]
    assert [PublishedEvent.model_validate_json(m["data"]) for m in messages] == events


async def test_live_feed_resumes_after_last_event_id_or_from(
    redis_client: aioredis.Redis, api: httpx.AsyncClient
) -> None:
    events = [published_event(tagged_article(f"a{i}")) for i in range(4)]
    entry_ids = await xadd(redis_client, *events)

    resumed = await api.get("/v1/events?limit=2", headers={"Last-Event-ID": entry_ids[1]})
    replayed = await api.get("/v1/events", params={"from": "0", "limit": 4})
    # The header wins over `from`: it is what a reconnecting EventSource sends.
    both = await api.get(
        "/v1/events", params={"from": "0", "limit": 1}, headers={"Last-Event-ID": entry_ids[2]}
    )

    assert [m["id"] for m in parse_sse(resumed.text)] == entry_ids[2:]
    assert [m["id"] for m in parse_sse(replayed.text)] == entry_ids
    assert [m["id"] for m in parse_sse(both.text)] == entry_ids[3:]
    assert_problem(await api.get("/v1/events", headers={"Last-Event-ID": "yesterday"}), 400)
    assert_problem(await api.get("/v1/events?limit=0"), 400)


async def test_live_feed_sends_heartbeats_and_stops_when_the_client_disconnects(
    redis_client: aioredis.Redis,
) -> None:
    app = app_for(context(redis_client), heartbeat_s=0.05)
    sent: list[bytes] = []
    gone = asyncio.Event()
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        sent.append(message.get("body", b""))
        if b"".join(sent).count(b": heartbeat") >= 2:
            gone.set()

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/v1/events",
        "raw_path": b"/v1/events",
        "query_string": b"",
        "headers": [],
        "server": ("publish.test", 80),
        "client": ("127.0.0.1", 50000),
        "root_path": "",
    }
    await asyncio.wait_for(app(scope, receive, send), timeout=5)

    assert b"".join(sent).startswith(b"retry: 3000\n: connected\n\n: heartbeat\n\n")
    await wait_until_blocked(redis_client, 0)  # the blocked XREAD went with the client


# --- GET /v1/feed.atom -------------------------------------------------------------------------


async def test_atom_feed_is_well_formed_with_entries_newest_first(
    api: httpx.AsyncClient, pipeline: Pipeline
) -> None:
    await pipeline.publish(
        tagged_article("a1", title="Tom & Jerry\x0b <live>", entities=[SHOYGU, TEHRAN], published_at=T0),
        tagged_article(
            "a2",
            title="Talks in Tehran",
            body="First paragraph, with “quotes” & <b>.\n\nSecond paragraph.",
            entities=[TEHRAN, GAZPROM],
            published_at=T0 + timedelta(hours=1),
        ),
        tagged_article("a3", title="Elsewhere", entities=[PUTIN], published_at=T0 + timedelta(hours=2)),
    )

    response = await api.get("/v1/feed.atom")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/atom+xml")
    feed = ET.fromstring(response.content)
    entries = list(feed.iter(f"{ATOM}entry"))

    assert feed.tag == f"{ATOM}feed"
    assert feed.findtext(f"{ATOM}id") == f"{BASE_URL}/v1/feed.atom"
    assert feed.findtext(f"{ATOM}updated") is not None
    assert [e.findtext(f"{ATOM}title") for e in entries] == [
        "Elsewhere",
        "Talks in Tehran",
        "Tom & Jerry <live>",
    ]
    assert [e.findtext(f"{ATOM}id") for e in entries] == [f"{BASE_URL}/articles/a{i}" for i in (3, 2, 1)]
    a2 = entries[1]
    assert a2.findtext(f"{ATOM}summary") == "First paragraph, with “quotes” & <b>."
    assert a2.findtext(f"{ATOM}published") == "2025-06-10T10:00:00Z"
    link = a2.find(f"{ATOM}link[@rel='alternate']")
    assert link is not None
    assert link.get("href") == "https://www.example-times.com/world/a2.html"
    assert [(c.get("term"), c.get("label")) for c in a2.iter(f"{ATOM}category")] == [
        ("organisation:gazprom", "Gazprom"),
        ("place:tehran", "Tehran"),
    ]
    assert entries[0].findtext(f"{ATOM}author/{ATOM}name") == "Anna Müller"

    about = ET.fromstring((await api.get("/v1/feed.atom", params={"entity": "tehran", "limit": 1})).content)
    assert about.findtext(f"{ATOM}id") == f"{BASE_URL}/v1/feed.atom?entity=tehran"
    assert [e.findtext(f"{ATOM}title") for e in about.iter(f"{ATOM}entry")] == ["Talks in Tehran"]
    assert_problem(await api.get("/v1/feed.atom?limit=1000"), 400)


# --- access ------------------------------------------------------------------------------------


async def test_every_route_needs_a_bearer_token_when_tokens_are_configured(
    redis_client: aioredis.Redis, pipeline: Pipeline
) -> None:
    await pipeline.publish(tagged_article("a1"))
    await xadd(redis_client, published_event(tagged_article("a2")))
    paths = ["/v1/articles/a1", "/v1/articles", "/v1/feed.atom", "/v1/events?from=0&limit=1"]

    async with http(app_for(context(redis_client, tokens=frozenset({"s3cret"})))) as api:
        for path in paths:
            denied = await api.get(path)
            wrong = await api.get(path, headers={"Authorization": "Bearer nope"})
            allowed = await api.get(path, headers={"Authorization": "Bearer s3cret"})

            assert_problem(denied, 401)
            assert denied.headers["www-authenticate"] == 'Bearer realm="newsflow"'
            assert_problem(wrong, 401)
            assert allowed.status_code == 200, path
