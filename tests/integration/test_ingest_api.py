from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis.asyncio as aioredis
from jsonschema import Draft202012Validator
from schemathesis.specs.openapi.definitions import OPENAPI_31
from starlette.applications import Starlette
from starlette.routing import Route

from services.ingest.api import DEAD_LETTER_HEAD_BYTES, MAX_BATCH_ITEMS, build_openapi, make_routes
from services.ingest.settings import IngestSettings
from services.ingest.stages import ledger_key
from shared import streams
from shared.events import RawEvent
from shared.runtime.http import HttpContext
from shared.runtime.metrics import ServiceMetrics
from shared.wire import decode, text_fields
from tests.utils.bad_inputs import BAD_INPUTS, article_json, good_article

pytestmark = pytest.mark.integration

SEED = Path(__file__).resolve().parents[3] / "shared" / "seed" / "000_dc2421d5b62a3952.txt"
TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
JSON = {"Content-Type": "application/json"}
SMALL_LIMIT = 5_000  # bytes; small enough that oversize tests stay cheap

HTML_PAGE = b"""<!doctype html><html><head><title>Harbour approves ferry terminal</title>
<meta property="og:site_name" content="Harbour News"></head><body><article>
<h1>Harbour approves ferry terminal</h1>
<p>The harbour authority approved plans for a new ferry terminal on Tuesday after a long debate.</p>
<p>Construction is expected to start next spring and to last two years, the authority said.</p>
</article></body></html>"""


def build_app(
    client: aioredis.Redis,
    *,
    tokens: frozenset[str] = frozenset(),
    scopes: dict[str, frozenset[str] | None] | None = None,
    rate_limit_per_s: float = 0.0,
    max_payload_bytes: int = 2_000_000,
) -> Starlette:
    ctx = HttpContext(
        service="ingest",
        client=client,
        metrics=ServiceMetrics("ingest"),
        groups=[],
        tokens=tokens,
        scopes=scopes or {},
        rate_limit_per_s=rate_limit_per_s,
    )
    settings = IngestSettings(max_payload_bytes=max_payload_bytes)
    return Starlette(routes=make_routes(ctx, settings))


@pytest.fixture
async def api(redis_client: aioredis.Redis) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(redis_client, max_payload_bytes=SMALL_LIMIT)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as http:
        yield http


async def raw_events(client: aioredis.Redis) -> list[RawEvent]:
    entries = await client.xrange(streams.RAW)
    return [decode(text_fields(fields), RawEvent) for _, fields in entries]


async def dead_letters(client: aioredis.Redis) -> list[dict[str, str]]:
    return [text_fields(fields) for _, fields in await client.xrange(streams.DLQ)]


def dead_payload(letter: dict[str, str]) -> str:
    original: dict[str, str] = orjson.loads(letter["payload"])
    return original["payload"]


# --- one article ------------------------------------------------------------------------------------


async def test_json_article_is_stored_before_the_202_answer(
    api: httpx.AsyncClient, redis_client: aioredis.Redis
) -> None:
    response = await api.post("/v1/articles", content=article_json(), headers=JSON)

    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "accepted"
    assert body["version"] == 1
    [event] = await raw_events(redis_client)
    assert (event.article_id, event.article_version, event.event_id) == (
        body["article_id"],
        1,
        body["event_id"],
    )
    assert event.data.title == good_article()["title"]
    assert event.data.source == "tests"


async def test_seed_plain_text_is_accepted(redis_client: aioredis.Redis) -> None:
    # The seed article is larger than SMALL_LIMIT, so this app has the default limit.
    app = build_app(redis_client)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://i") as http:
        response = await http.post(
            "/v1/articles",
            content=SEED.read_bytes(),
            headers={"Content-Type": "text/plain; charset=utf-8"},
        )

    assert response.status_code == 202, response.text
    [event] = await raw_events(redis_client)
    assert event.data.title == "Russia-Iran cooperation 'advanced to new level' - Minister"
    assert event.data.content_type == "text/plain"
    assert event.data.source == "http"


async def test_html_page_is_accepted(api: httpx.AsyncClient, redis_client: aioredis.Redis) -> None:
    response = await api.post("/v1/articles", content=HTML_PAGE, headers={"Content-Type": "text/html"})

    assert response.status_code == 202, response.text
    [event] = await raw_events(redis_client)
    assert event.data.title == "Harbour approves ferry terminal"
    assert event.data.content_type == "text/html"


async def test_resend_is_a_duplicate_of_the_current_version(
    api: httpx.AsyncClient, redis_client: aioredis.Redis
) -> None:
    first = await api.post("/v1/articles", content=article_json(), headers=JSON)
    again = await api.post("/v1/articles", content=article_json(), headers=JSON)

    assert again.status_code == 200
    assert again.json() == {**first.json(), "status": "duplicate"}
    assert len(await raw_events(redis_client)) == 1


async def test_changed_body_is_version_2_of_the_same_article(
    api: httpx.AsyncClient, redis_client: aioredis.Redis
) -> None:
    first = (await api.post("/v1/articles", content=article_json(), headers=JSON)).json()
    changed = good_article()["body"] + "\n\nThe mayor welcomed the decision."
    response = await api.post("/v1/articles", content=article_json(body=changed), headers=JSON)

    assert response.status_code == 202
    assert response.json()["article_id"] == first["article_id"]
    assert response.json()["version"] == 2
    _, second = await raw_events(redis_client)
    assert second.data.previous_event_id == first["event_id"]


async def test_outcomes_are_counted_in_the_service_metrics(redis_client: aioredis.Redis) -> None:
    metrics = ServiceMetrics("ingest")
    ctx = HttpContext("ingest", redis_client, metrics, [])
    app = Starlette(routes=make_routes(ctx, IngestSettings()))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://i") as http:
        body = orjson.dumps([good_article(), good_article(), good_article(title=None)])
        await http.post("/v1/articles:batch", content=body, headers=JSON)

    rendered = metrics.render().decode()
    for outcome in ("emitted", "skipped", "rejected"):
        assert f'newsflow_events_total{{outcome="{outcome}",stage="ingest"}} 1.0' in rendered


async def test_correlation_id_header_is_carried_on_the_event(
    api: httpx.AsyncClient, redis_client: aioredis.Redis
) -> None:
    await api.post("/v1/articles", content=article_json(), headers={**JSON, "X-Correlation-ID": "req-42.a"})
    await api.post(
        "/v1/articles",
        content=article_json(id="other"),
        headers={**JSON, "X-Correlation-ID": "not tame; " * 20},
    )

    tame, wild = await raw_events(redis_client)
    assert tame.correlation_id == "req-42.a"
    assert wild.correlation_id != "not tame; " * 20


async def test_invalid_fields_are_named_in_a_422_problem_and_dead_lettered(
    api: httpx.AsyncClient, redis_client: aioredis.Redis
) -> None:
    payload = article_json(title=42, authors="Ana")
    response = await api.post("/v1/articles", content=payload, headers=JSON)

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422
    assert problem["code"] == "invalid_field"
    assert problem["type"] == "urn:newsflow:problem:invalid_field"
    assert "title" in problem["detail"]
    assert {e["field"] for e in problem["errors"]} == {"title", "authors"}
    assert all(e["message"] for e in problem["errors"])
    [letter] = await dead_letters(redis_client)
    assert letter["code"] == "invalid_field"
    assert letter["reason"] == problem["detail"]
    assert dead_payload(letter) == payload.decode()
    assert await raw_events(redis_client) == []


async def test_missing_title_names_the_title_field(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/articles", content=article_json(title=...), headers=JSON)

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["title"]


@pytest.mark.parametrize(
    "case",
    [
        c
        for c in BAD_INPUTS
        if isinstance(c.payload, bytes)
        and c.content_type in ("application/json", "text/plain", "text/html")
        and c.code != "oversize"
    ],
    ids=lambda c: c.name,
)
async def test_bad_inputs_get_the_same_code_over_http(redis_client: aioredis.Redis, case: Any) -> None:
    app = build_app(redis_client)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://i") as http:
        response = await http.post(
            "/v1/articles", content=case.payload, headers={"Content-Type": case.content_type}
        )

    assert response.status_code == 422, response.text
    assert response.json()["code"] == case.code
    assert case.reason_contains in response.json()["detail"]
    [letter] = await dead_letters(redis_client)
    assert letter["code"] == case.code


async def test_oversize_content_length_is_refused_before_reading_and_head_is_dead_lettered(
    api: httpx.AsyncClient, redis_client: aioredis.Redis
) -> None:
    # The declared length alone decides: the body sent is small.
    response = await api.post(
        "/v1/articles",
        content=b"Title\n\nbody",
        headers={"Content-Type": "text/plain", "Content-Length": str(SMALL_LIMIT * 10)},
    )

    assert response.status_code == 413
    assert response.json()["code"] == "oversize"
    assert response.json()["limit_bytes"] == SMALL_LIMIT
    [letter] = await dead_letters(redis_client)
    assert letter["code"] == "oversize"
    assert "Content-Length" in letter["reason"]
    assert "only the first 11 bytes" in letter["reason"]
    assert dead_payload(letter) == "Title\n\nbody"


async def test_oversize_chunked_body_stops_reading_and_keeps_at_most_64_kib(
    redis_client: aioredis.Redis,
) -> None:
    chunk = b"x" * 16_384
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(1_000):  # 16 MB if it were all read
            sent += 1
            yield chunk

    app = build_app(redis_client, max_payload_bytes=100_000)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://i") as http:
        response = await http.post("/v1/articles", content=chunks(), headers={"Content-Type": "text/plain"})

    assert response.status_code == 413
    assert sent < 20  # stopped reading just past the limit
    [letter] = await dead_letters(redis_client)
    assert f"only the first {DEAD_LETTER_HEAD_BYTES} bytes" in letter["reason"]
    assert len(dead_payload(letter)) == DEAD_LETTER_HEAD_BYTES
    assert await raw_events(redis_client) == []


async def test_bearer_token_is_required_when_configured(redis_client: aioredis.Redis) -> None:
    app = build_app(redis_client, tokens=frozenset({TOKEN}))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://i") as http:
        missing = await http.post("/v1/articles", content=article_json(), headers=JSON)
        wrong = await http.post(
            "/v1/articles", content=article_json(), headers={**JSON, "Authorization": "Bearer nope"}
        )
        batch = await http.post("/v1/articles:batch", content=b"[]", headers=JSON)
        right = await http.post("/v1/articles", content=article_json(), headers={**JSON, **AUTH})
        spec = await http.get("/openapi.json")

    assert (missing.status_code, wrong.status_code, batch.status_code) == (401, 401, 401)
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert missing.headers["content-type"] == "application/problem+json"
    assert right.status_code == 202
    assert spec.status_code == 200  # the description is public
    assert len(await raw_events(redis_client)) == 1


async def test_a_scoped_token_is_refused_other_sources_and_a_resend_in_the_batch_is_not_a_duplicate(
    redis_client: aioredis.Redis,
) -> None:
    scoped = {"Authorization": "Bearer tok-b"}
    app = build_app(redis_client, tokens=frozenset({"tok-b"}), scopes={"tok-b": frozenset({"wire-b"})})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://i") as http:
        single = await http.post(
            "/v1/articles", content=article_json(source="wire-a"), headers={**JSON, **scoped}
        )
        # The same article of source A twice: neither is stored, so the second repeats nothing.
        foreign = good_article(source="wire-a", id="a-2")
        batch = await http.post(
            "/v1/articles:batch",
            content=orjson.dumps([foreign, foreign, good_article(source="wire-b", id="b-1")]),
            headers={**JSON, **scoped},
        )

    assert single.status_code == 403, single.text
    assert single.json()["code"] == "source_forbidden"
    assert "'wire-a'" in single.json()["detail"]
    assert batch.status_code == 207, batch.text
    results = batch.json()["results"]
    assert [(r["status"], r.get("code")) for r in results] == [
        ("rejected", "source_forbidden"),
        ("rejected", "source_forbidden"),
        ("accepted", None),
    ]
    assert [e.data.source for e in await raw_events(redis_client)] == ["wire-b"]
    refused = results[0]["article_id"]
    assert refused is not None
    assert results[1]["article_id"] == refused
    assert await redis_client.hget(ledger_key(refused, IngestSettings()), refused) is None


@pytest.mark.parametrize(
    "content_type",
    ["application/xml", "image/png", "text/plain; charset=iso-8859-1", "application/x-ndjson"],
)
async def test_unsupported_content_type_is_415(api: httpx.AsyncClient, content_type: str) -> None:
    response = await api.post(
        "/v1/articles", content=b"Title\n\nBody", headers={"Content-Type": content_type}
    )

    assert response.status_code == 415
    assert response.json()["supported"] == ["application/json", "text/plain", "text/html"]
    assert response.headers["Accept-Post"] == "application/json, text/plain, text/html"


async def test_missing_content_type_is_415(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/articles", content=b"Title\n\nBody")

    assert response.status_code == 415


async def test_rate_limit_answers_429(redis_client: aioredis.Redis) -> None:
    app = build_app(redis_client, rate_limit_per_s=2)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://i") as http:
        statuses = [
            (await http.post("/v1/articles", content=article_json(), headers=JSON)).status_code
            for _ in range(4)
        ]

    assert statuses[:2] == [202, 200]
    assert 429 in statuses[2:]


async def test_unreachable_redis_answers_503_with_retry_after() -> None:
    # Port 1 on localhost refuses connections at once.
    client: aioredis.Redis = aioredis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    try:
        app = build_app(client)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://i") as http:
            response = await http.post("/v1/articles", content=article_json(), headers=JSON)
    finally:
        await client.aclose()

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.json()["code"] == "redis_unavailable"


# --- batches ----------------------------------------------------------------------------------------


async def test_batch_with_mixed_results_is_207_in_one_transaction(
    api: httpx.AsyncClient, redis_client: aioredis.Redis
) -> None:
    batch = [
        good_article(),
        good_article(),  # the same article again: a duplicate of item 0
        good_article(id="second", title=None),
        good_article(id="third", body=good_article()["body"] + "\n\nMore."),
        "not an object",
    ]
    response = await api.post("/v1/articles:batch", content=orjson.dumps(batch), headers=JSON)

    assert response.status_code == 207
    results = response.json()["results"]
    assert [(r["index"], r["status"]) for r in results] == [
        (0, "accepted"),
        (1, "duplicate"),
        (2, "rejected"),
        (3, "accepted"),
        (4, "rejected"),
    ]
    assert results[1]["version"] == 1
    assert results[1]["event_id"] == results[0]["event_id"]
    assert results[2]["code"] == "missing_title"
    assert results[2]["errors"] == [{"field": "title", "message": results[2]["reason"]}]
    assert results[4]["code"] == "not_an_object"
    assert [e.event_id for e in await raw_events(redis_client)] == [
        results[0]["event_id"],
        results[3]["event_id"],
    ]
    assert [d["code"] for d in await dead_letters(redis_client)] == ["missing_title", "not_an_object"]


async def test_ndjson_batch_all_accepted_is_202(api: httpx.AsyncClient, redis_client: aioredis.Redis) -> None:
    lines = b"\n".join([article_json(), b"", article_json(id="b"), b"  "]) + b"\n"
    response = await api.post(
        "/v1/articles:batch", content=lines, headers={"Content-Type": "application/x-ndjson"}
    )

    assert response.status_code == 202
    assert [r["status"] for r in response.json()["results"]] == ["accepted", "accepted"]
    assert len(await raw_events(redis_client)) == 2


async def test_batch_resend_is_202_with_duplicates(api: httpx.AsyncClient) -> None:
    body = orjson.dumps([good_article(), good_article(id="b")])
    await api.post("/v1/articles:batch", content=body, headers=JSON)
    again = await api.post("/v1/articles:batch", content=body, headers=JSON)

    assert again.status_code == 202
    assert [r["status"] for r in again.json()["results"]] == ["duplicate", "duplicate"]


@pytest.mark.parametrize(
    ("body", "code"),
    [(b'{"title": "x"}', "not_an_array"), (b"[", "unparseable_json"), (b"[]", "empty")],
)
async def test_unusable_batch_is_422_and_dead_lettered(
    api: httpx.AsyncClient, redis_client: aioredis.Redis, body: bytes, code: str
) -> None:
    response = await api.post("/v1/articles:batch", content=body, headers=JSON)

    assert response.status_code == 422
    assert response.json()["code"] == code
    [letter] = await dead_letters(redis_client)
    assert (letter["code"], dead_payload(letter)) == (code, body.decode())


async def test_large_unusable_batch_keeps_only_its_head_in_the_dead_letter(
    api: httpx.AsyncClient, redis_client: aioredis.Redis
) -> None:
    body = b'{"title": "' + b"a" * 100_000  # unterminated: not JSON
    response = await api.post("/v1/articles:batch", content=body, headers=JSON)

    assert response.status_code == 422
    [letter] = await dead_letters(redis_client)
    assert f"only the first {DEAD_LETTER_HEAD_BYTES} bytes" in letter["reason"]
    assert dead_payload(letter) == body[:DEAD_LETTER_HEAD_BYTES].decode()


async def test_batch_over_1000_articles_is_413(api: httpx.AsyncClient, redis_client: aioredis.Redis) -> None:
    body = b"\n".join(b"{}" for _ in range(MAX_BATCH_ITEMS + 1))
    response = await api.post(
        "/v1/articles:batch", content=body, headers={"Content-Type": "application/x-ndjson"}
    )

    assert response.status_code == 413
    assert response.json()["code"] == "too_many_items"
    assert [d["code"] for d in await dead_letters(redis_client)] == ["too_many_items"]
    assert await raw_events(redis_client) == []


async def test_batch_over_its_byte_limit_is_413(api: httpx.AsyncClient) -> None:
    # SMALL_LIMIT per article: the batch limit is 1000 articles' worth.
    body = b"[" + b" " * (SMALL_LIMIT * MAX_BATCH_ITEMS) + b"]"
    response = await api.post("/v1/articles:batch", content=body, headers=JSON)

    assert response.status_code == 413
    assert response.json()["code"] == "oversize"


# --- the description --------------------------------------------------------------------------------


async def test_openapi_document_is_valid_3_1_and_lists_every_route(
    api: httpx.AsyncClient, redis_client: aioredis.Redis
) -> None:
    response = await api.get("/openapi.json")

    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.1.")
    Draft202012Validator(OPENAPI_31).validate(document)
    for name, schema in document["components"]["schemas"].items():
        assert Draft202012Validator.check_schema(schema) is None, name
    routes = make_routes(
        HttpContext("ingest", redis_client, ServiceMetrics("ingest"), [], frozenset({TOKEN})),
        IngestSettings(),
    )
    served = {
        (route.path, method.lower())
        for route in routes
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"
    }
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert documented == served
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_openapi_lists_every_status_each_write_route_can_answer() -> None:
    document = build_openapi(IngestSettings(), auth_required=True)

    article = document["paths"]["/v1/articles"]["post"]
    batch = document["paths"]["/v1/articles:batch"]["post"]
    assert set(article["responses"]) == {"200", "202", "401", "403", "413", "415", "422", "429", "503"}
    assert set(batch["responses"]) == {"202", "207", "401", "413", "415", "422", "429", "503"}
    assert set(article["requestBody"]["content"]) == {"application/json", "text/plain", "text/html"}
    assert article["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/InboundArticle"
    }
    assert article["security"] == [{"bearerAuth": []}]
    open_document = build_openapi(IngestSettings(), auth_required=False)
    assert "401" not in open_document["paths"]["/v1/articles"]["post"]["responses"]


def test_openapi_schema_says_what_ingest_requires_and_ndjson_is_text_of_articles() -> None:
    document = build_openapi(IngestSettings(), auth_required=True)

    def valid(schema: dict[str, Any], instance: object) -> bool:
        root = {**schema, "components": document["components"]}
        return Draft202012Validator(root).is_valid(instance)

    article = {"$ref": "#/components/schemas/InboundArticle"}
    good = good_article()
    assert valid(article, good)
    # What ingest refuses (missing_title, missing_body, a blank related title) the schema refuses too.
    for missing in ("title", "body"):
        assert not valid(article, {k: v for k, v in good.items() if k != missing}), missing
        assert not valid(article, {**good, missing: " \n"}), missing
        assert not valid(article, {**good, missing: None}), missing
    assert not valid(article, {**good, "related": [{"title": " ", "url": None}]})
    # A withdrawal needs no title or body, only something that names the article.
    assert valid(article, {"action": "withdraw", "id": "cms-1", "source": "cms"})
    assert valid(article, {"action": "withdraw", "url": "https://news.example/a"})
    assert not valid(article, {"action": "withdraw", "source": "cms", "reason": "legal"})

    ndjson = document["paths"]["/v1/articles:batch"]["post"]["requestBody"]["content"]["application/x-ndjson"]
    assert ndjson["schema"]["type"] == "string"
    assert "InboundArticle" in ndjson["schema"]["description"]
    assert not valid(ndjson["schema"], "\n \n")
    [example] = ndjson["schema"]["examples"]
    lines = example.splitlines()
    assert len(lines) == 2
    assert all(valid(article, orjson.loads(line)) for line in lines)


async def test_docs_page_lists_the_endpoints_without_scripts(api: httpx.AsyncClient) -> None:
    response = await api.get("/docs")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "POST /v1/articles:batch" in page
    assert "POST /v1/articles</code>" in page
    assert "<script" not in page.lower()
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
