"""The console's HTTP side over a real redis-server: sign-in, roles, CSRF, paging a large listing."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import orjson
import pytest
import redis.asyncio as aioredis
from starlette.applications import Starlette

from services.enrich.registry import EntityRegistry
from services.publish.console import COOKIE, FEED_PAGE_SIZE, MAX_FORM_BYTES, csrf_token, make_console_routes
from services.publish.settings import PublishSettings
from services.publish.stages import PublishIndexStage
from shared import streams
from shared.events import Entities, Mention
from shared.runtime.http import HttpContext
from shared.runtime.metrics import ServiceMetrics
from shared.runtime.testing import commit_stage
from tests.utils.paths import REPO
from tests.utils.published import BASE_URL, T0, delivery, person, published_event, tagged_article

pytestmark = pytest.mark.integration

READER = "reader-token"
EDITOR = "editor-token"
ORIGIN = "http://publish.test"


@pytest.fixture
async def console(redis_client: aioredis.Redis) -> AsyncIterator[httpx.AsyncClient]:
    ctx = HttpContext(
        service="publish",
        client=redis_client,
        metrics=ServiceMetrics("publish"),
        groups=[],
        tokens=frozenset({READER}),
    )
    settings = PublishSettings(editor_tokens=EDITOR)
    app = Starlette(routes=make_console_routes(ctx, settings, heartbeat_s=0.2))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=ORIGIN, follow_redirects=False
    ) as client:
        yield client


async def sign_in(console: httpx.AsyncClient, token: str) -> None:
    response = await console.post(
        "/console/login", data={"token": token, "next": "/console/health"}, headers={"Origin": ORIGIN}
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/console/health"


async def dead_letter(client: aioredis.Redis) -> str:
    payload = orjson.dumps({"payload": "{nope", "content_type": "application/json"}).decode()
    entry_id = await client.xadd(
        streams.DLQ,
        {
            "stage": "ingest",
            "code": "unparseable_json",
            "reason": "bad",
            "source_stream": streams.INBOUND,
            "payload": payload,
        },
    )
    return str(entry_id.decode())


async def test_reading_needs_a_token_and_the_session_cookie_is_httponly_and_strict(
    console: httpx.AsyncClient,
) -> None:
    response = await console.get("/console/health")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/console/login?next=")
    refused = await console.post("/console/login", data={"token": "wrong"}, headers={"Origin": ORIGIN})
    assert refused.status_code == 401
    signed = await console.post("/console/login", data={"token": READER}, headers={"Origin": ORIGIN})
    cookie = signed.headers["set-cookie"]
    assert f"{COOKIE}={READER}" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    assert "Path=/console" in cookie
    page = await console.get("/console/health")
    assert page.status_code == 200
    assert "default-src 'self'" in page.headers["content-security-policy"]


async def test_a_reader_cannot_replay_and_an_editor_needs_the_csrf_token(
    console: httpx.AsyncClient, redis_client: aioredis.Redis
) -> None:
    entry_id = await dead_letter(redis_client)
    await sign_in(console, READER)
    as_reader = await console.post(
        "/console/dlq/replay",
        data={"entry_id": entry_id, "csrf": csrf_token(READER)},
        headers={"Origin": ORIGIN},
    )
    assert as_reader.status_code == 403
    await sign_in(console, EDITOR)
    page = (await console.get("/console/health")).text
    assert f'data-dlq-id="{entry_id}"' in page
    no_csrf = await console.post(
        "/console/dlq/replay", data={"entry_id": entry_id}, headers={"Origin": ORIGIN}
    )
    assert no_csrf.status_code == 403
    cross_site = await console.post(
        "/console/dlq/replay",
        data={"entry_id": entry_id, "csrf": csrf_token(EDITOR)},
        headers={"Origin": "https://evil.example"},
    )
    assert cross_site.status_code == 403
    assert await redis_client.xlen(streams.DLQ) == 1
    done = await console.post(
        "/console/dlq/replay",
        data={"entry_id": entry_id, "csrf": csrf_token(EDITOR)},
        headers={"Origin": ORIGIN},
    )
    assert done.status_code == 303
    assert "replayed" in done.headers["location"]
    assert await redis_client.xlen(streams.DLQ) == 0
    ((_, fields),) = await redis_client.xrange(streams.INBOUND)
    assert fields[b"payload"] == b"{nope"


async def test_the_feed_pages_through_ten_thousand_articles_fifty_at_a_time(
    console: httpx.AsyncClient, redis_client: aioredis.Redis
) -> None:
    stage = PublishIndexStage(redis_client)
    total = 10_000
    for start in range(0, total, 1000):
        events = [
            published_event(tagged_article(f"a{i:05d}", published_at=T0 + timedelta(minutes=i)))
            for i in range(start, start + 1000)
        ]
        pipe = redis_client.pipeline(transaction=False)
        for event in events:
            pipe.hset(streams.PUBLISH_LATEST, event.article_id, event.model_dump_json())
        await pipe.execute()
        await commit_stage(
            redis_client, stage, [delivery(e, f"{i + 1}-0") for i, e in enumerate(events, start)]
        )
    await sign_in(console, READER)
    began = time.perf_counter()
    first = await console.get("/console/")
    elapsed = time.perf_counter() - began
    assert first.status_code == 200
    shown = re.findall(r'<article class="item" data-article-id="([^"]+)"', first.text)
    assert shown[:2] == ["a09999", "a09998"]
    assert len(shown) == FEED_PAGE_SIZE
    assert elapsed < 2.0, f"first page took {elapsed:.2f} s"
    older = re.search(r'href="(/console/\?cursor=[^"]+)"', first.text)
    assert older is not None
    second = await console.get(older.group(1).replace("&amp;", "&"))
    assert re.findall(r'data-article-id="([^"]+)"', second.text)[0] == "a09949"


async def test_under_publishs_least_privilege_acl_the_health_page_says_why_it_cannot_show_dead_letters(
    redis_client: aioredis.Redis, redis_url: str
) -> None:
    version = (await redis_client.info("server"))["redis_version"]
    if int(str(version).split(".")[0]) < 7:
        pytest.skip(f"Redis {version}: publish's ACL rules (%W~) need Redis >= 7")
    (line,) = [
        row
        for row in (REPO / "deploy/redis/users.acl").read_text().splitlines()
        if row.startswith("user publish ")
    ]
    rules = [word for word in line.split()[2:] if not word.startswith(("#", ">"))]
    user = "console-acl-test"
    entry_id = await dead_letter(redis_client)
    await redis_client.acl_setuser(user, reset=True)
    await redis_client.execute_command("ACL", "SETUSER", user, "on", "nopass", *rules)  # type: ignore[no-untyped-call]
    limited: aioredis.Redis = aioredis.Redis.from_url(redis_url, username=user, password="unused")
    try:
        ctx = HttpContext(service="publish", client=limited, metrics=ServiceMetrics("publish"), groups=[])
        app = Starlette(routes=make_console_routes(ctx, PublishSettings(editor_tokens=EDITOR)))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ORIGIN) as console:
            await sign_in(console, EDITOR)
            page = await console.get("/console/health")
            assert page.status_code == 200
            assert "Redis refused the dead-letter stream" in page.text
            replayed = await console.post(
                "/console/dlq/replay",
                data={"entry_id": entry_id, "csrf": csrf_token(EDITOR)},
                headers={"Origin": ORIGIN},
            )
            assert replayed.status_code == 303
            assert "not%20replayed" in replayed.headers["location"]
        assert await redis_client.xlen(streams.DLQ) == 1
    finally:
        await limited.aclose()
        await redis_client.acl_deluser(user)


async def test_an_editor_merges_two_entities_from_the_entity_view_and_a_reader_sees_no_form(
    console: httpx.AsyncClient, redis_client: aioredis.Redis
) -> None:
    registry = EntityRegistry(redis_client, base_url=BASE_URL)
    linked = await registry.link(
        "a1",
        T0,
        Entities(
            people=[
                person("Sergey Shoygu").model_copy(
                    update={"mentions": [Mention(text="Sergey Shoygu", start=0, end=13)]}
                )
            ]
        ),
    )
    other = await registry.link(
        "a2",
        T0,
        Entities(
            people=[
                person("Boris Ivanov").model_copy(
                    update={"mentions": [Mention(text="Boris Ivanov", start=0, end=12)]}
                )
            ]
        ),
    )
    source, target = other.people[0].entity_id, linked.people[0].entity_id
    assert source
    assert target
    assert source != target
    await sign_in(console, READER)
    as_reader = await console.get(f"/console/entities/{source}")
    assert as_reader.status_code == 200
    assert "Boris Ivanov" in as_reader.text
    assert f"/console/entities/{source}/merge" not in as_reader.text
    await sign_in(console, EDITOR)
    merged = await console.post(
        f"/console/entities/{source}/merge",
        data={"into": target, "csrf": csrf_token(EDITOR)},
        headers={"Origin": ORIGIN},
    )
    assert merged.status_code == 303
    assert merged.headers["location"].startswith(f"/console/entities/{target}?done=merged")
    card = await registry.get(source)
    assert card is not None
    assert card.id == target
    page = await console.get(merged.headers["location"])
    assert "Boris Ivanov" in page.text
    assert f"merged {source} into {target}" in page.text


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"token=" + b"x" * (MAX_FORM_BYTES + 1), "application/x-www-form-urlencoded"),
        (b'{"token": "reader-token"}', "application/json"),
        (b"token=reader-token", "multipart/form-data; boundary=x"),
    ],
)
async def test_sign_in_refuses_an_oversized_or_foreign_form_with_400(
    console: httpx.AsyncClient, content: bytes, content_type: str
) -> None:
    response = await console.post(
        "/console/login", content=content, headers={"Origin": ORIGIN, "Content-Type": content_type}
    )
    assert response.status_code == 400
    assert COOKIE not in response.cookies


@pytest.mark.parametrize(
    "next_path", ["https://evil.example/", "//evil.example/", "/console\\..\\x", "/v1/articles", ""]
)
async def test_sign_in_never_redirects_outside_the_console(
    console: httpx.AsyncClient, next_path: str
) -> None:
    response = await console.post(
        "/console/login", data={"token": READER, "next": next_path}, headers={"Origin": ORIGIN}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/console/"
