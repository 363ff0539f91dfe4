"""Ingest's HTTP API: articles in over POST, validated by the same `decide` as the stream and the CLI.

- `POST /v1/articles`: one article (InboundArticle JSON, seed-layout plain text, or HTML);
- `POST /v1/articles:batch`: up to 1000 articles (JSON array or NDJSON), one transaction;
- `GET /openapi.json`: the OpenAPI 3.1 description of these routes, built from the pydantic models;
- `GET /docs`: that description as a script-free HTML page (it must work offline).

A 2xx answer is sent only after `commit_direct` returned, i.e. once Redis acknowledged the
transaction that holds the event, the ledger update and any dead letters.
"""

from __future__ import annotations

import codecs
import html
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import orjson
import redis.exceptions
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from services.ingest.extraction import HtmlWorkers
from services.ingest.logic import (
    EARLIEST_YEAR,
    MAX_EMBARGO,
    MAX_LINKS,
    MAX_TITLE_CHARS,
    MIN_BODY_CHARS,
    Code,
    Duplicate,
    FieldError,
    Rejection,
)
from services.ingest.settings import IngestSettings
from services.ingest.stages import (
    SOURCE_FORBIDDEN,
    Decision,
    SourceGrant,
    Submission,
    commit_direct,
    decide,
)
from shared.events import InboundArticle
from shared.logging import get_logger
from shared.runtime.consumer import Emit, Reject, Skip
from shared.runtime.http import PROBLEM_JSON, HttpContext, guarded, problem, read_body

log = get_logger(__name__)

API_VERSION: Final = "1.0.0"
ARTICLES_PATH: Final = "/v1/articles"
BATCH_PATH: Final = "/v1/articles:batch"
OPENAPI_PATH: Final = "/openapi.json"
DOCS_PATH: Final = "/docs"

MAX_BATCH_ITEMS: Final = 1000
# A batch may hold MAX_BATCH_ITEMS articles of max_payload_bytes each, but never more than this
# many bytes in memory at once (32 MiB), unless one article alone is allowed to be larger.
MAX_BATCH_BYTES: Final = 32 * 1024 * 1024
# Oversize bodies are not stored whole: the dead letter keeps this many leading bytes (63 KiB,
# so that with the entry's other fields the JSON stays under deadletter.PAYLOAD_HEAD_BYTES).
DEAD_LETTER_HEAD_BYTES: Final = 63 * 1024
# `Submission.source` of HTTP payloads; an InboundArticle's own `source` field takes precedence.
HTTP_SOURCE: Final = "http"
CORRELATION_HEADER: Final = "X-Correlation-ID"
# A caller's correlation id is kept only when it is this tame; any other value is replaced.
_CORRELATION_ID: Final = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# The 503 answer: seconds a client should wait before resending (resending is always safe).
RETRY_AFTER_S: Final = 1

JSON: Final = "application/json"
NDJSON: Final = "application/x-ndjson"
TEXT: Final = "text/plain"
HTML: Final = "text/html"
ARTICLE_TYPES: Final = (JSON, TEXT, HTML)
BATCH_TYPES: Final = (JSON, NDJSON)
# parse_payload reads UTF-8 only; US-ASCII is a subset of it.
_UTF8_CHARSETS: Final = frozenset({"utf-8", "utf8", "us-ascii"})

# Batch-level rejection codes; item-level codes are `Code` values, from the shared parser.
NOT_AN_ARRAY: Final = "not_an_array"
TOO_MANY_ITEMS: Final = "too_many_items"
TOO_DEEP: Final = "too_deep"

# Codes whose `Rejection.fields` name the invalid fields precisely (pydantic errors, URLs, dates,
# language); for the others the answer names the field the code concerns, with the reason.
_CODES_WITH_FIELDS: Final = frozenset(
    {
        Code.INVALID_FIELD,
        Code.UNKNOWN_FIELD,
        Code.INVALID_URL,
        Code.UNPARSEABLE_DATE,
        Code.DATE_TOO_OLD,
        Code.FUTURE_DATE,
    }
)
# Codes that concern one field although the parser names none.
_FIELD_OF_CODE: Final = {
    Code.MISSING_TITLE: "title",
    Code.TITLE_TOO_LONG: "title",
    Code.MISSING_BODY: "body",
    Code.BODY_TOO_SHORT: "body",
    Code.BODY_TOO_LONG: "body",
    Code.TOO_MANY_LINKS: "related",
    Code.UNPARSEABLE_DATE: "published_at",
    Code.DATE_TOO_OLD: "published_at",
    Code.FUTURE_DATE: "published_at",
    Code.INVALID_URL: "url",
}
# A full Redis (OOM, maxmemory reached) wrote nothing of the transaction: as safe to resend.
_UNAVAILABLE: Final = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.OutOfMemoryError,
)


# --- bodies (the receipts are built from these models, so the document cannot drift from them;
# problem bodies come from `shared.runtime.http.problem`, and `Problem` describes them) --------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FieldProblem(_Body):
    field: str = Field(description="Dotted path into the article, e.g. 'title' or 'related.3.url'.")
    message: str


class ArticleReceipt(_Body):
    """The answer to one stored (202) or already stored (200) article."""

    article_id: str
    version: int = Field(ge=1, description="The version this request created, or the current one.")
    status: Literal["accepted", "duplicate"]
    event_id: str | None = Field(
        None, description="The raw event's id; for a duplicate, that of the version it repeats."
    )


class BatchItemResult(_Body):
    index: int = Field(ge=0, description="Position in the array, or among the non-blank NDJSON lines.")
    status: Literal["accepted", "duplicate", "rejected"]
    article_id: str | None = None
    version: int | None = Field(None, ge=1)
    event_id: str | None = None
    code: str | None = Field(None, description="Rejection code, e.g. 'missing_title'.")
    reason: str | None = None
    errors: list[FieldProblem] | None = None


class BatchReceipt(_Body):
    results: list[BatchItemResult]


class Problem(BaseModel):
    """RFC 9457 problem details; members beyond these may appear."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="'urn:newsflow:problem:<code>' for our own problems, else 'about:blank'.")
    title: str
    status: int
    detail: str
    code: str | None = Field(None, description="Stable machine-readable reason, as in articles.dlq.")
    errors: list[FieldProblem] | None = Field(None, description="One entry per invalid field.")
    article_id: str | None = None
    limit_bytes: int | None = None
    max_items: int | None = None
    supported: list[str] | None = Field(None, description="Media types this route accepts (415).")


def _json(model: BaseModel, status: int) -> Response:
    body = orjson.dumps(model.model_dump(mode="json", exclude_none=True))
    return Response(body, status_code=status, media_type=JSON)


def _problem(status: int, title: str, code: str, detail: str, **extra: object) -> JSONResponse:
    return problem(status, title, detail, type=f"urn:newsflow:problem:{code}", code=code, **extra)


# --- reading the request ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Oversize:
    head: bytes  # the first bytes received, at most DEAD_LETTER_HEAD_BYTES
    detail: str


def _media_type(request: Request) -> tuple[str, str | None]:
    media, _, params = request.headers.get("content-type", "").partition(";")
    charset = None
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    return media.strip().lower(), charset


def _content_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    if value is None or not value.strip().isdigit():
        return None  # absent or malformed: the byte count while streaming decides
    return int(value)


def _utf8_prefix(data: bytes) -> bytes:
    """`data` without a UTF-8 sequence cut in half at its end, so a text head stays text."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason == "unexpected end of data":
            return data[: exc.start]
    return data


async def _read_body(request: Request, limit: int) -> bytes | _Oversize:
    """The body, or `_Oversize` as soon as it is known to exceed `limit` bytes (the rest unread)."""
    declared = _content_length(request)
    if declared is not None and declared > limit:
        head = await read_body(request, DEAD_LETTER_HEAD_BYTES)
        return _Oversize(
            head.data[:DEAD_LETTER_HEAD_BYTES],
            f"Content-Length is {declared} bytes, over the limit of {limit}",
        )
    body = await read_body(request, limit)
    if body.over:
        return _Oversize(
            body.data[:DEAD_LETTER_HEAD_BYTES],
            f"the body is over the limit of {limit} bytes (stopped reading after {len(body.data)})",
        )
    return body.data


def _correlation_id(request: Request) -> str | None:
    value = request.headers.get(CORRELATION_HEADER, "")
    return value if _CORRELATION_ID.fullmatch(value) else None


@dataclass(frozen=True, slots=True)
class _TooMany:
    count: int  # the items counted, before any per-item work


_LINE: Final = re.compile(rb"[^\r\n]+")


def _ndjson_lines(body: bytes) -> Iterator[bytes]:
    """Non-blank lines, one at a time (a list of every line could be a million objects)."""
    for match in _LINE.finditer(body):
        stripped = match[0].strip()
        if stripped:
            yield stripped


def _split_batch(body: bytes, media: str) -> list[bytes] | Rejection | _TooMany:
    """The batch's items as single-article payloads, for `decide` to judge one by one.

    The items are counted before any is copied or re-encoded, so a batch of a million tiny
    items costs one parse, not a million payloads.
    """
    if media == NDJSON:
        items: list[bytes] = []
        for line in _ndjson_lines(body):
            if len(items) == MAX_BATCH_ITEMS:
                return _TooMany(sum(1 for _ in _ndjson_lines(body)))
            items.append(line)
    else:
        try:
            document: Any = orjson.loads(body.removeprefix(codecs.BOM_UTF8))
        except orjson.JSONDecodeError as exc:
            return Rejection(Code.UNPARSEABLE_JSON, f"the batch is not valid JSON: {exc}")
        if not isinstance(document, list):
            kind = type(document).__name__
            return Rejection(NOT_AN_ARRAY, f"a JSON batch must be an array of articles, not a {kind}")
        if len(document) > MAX_BATCH_ITEMS:
            return _TooMany(len(document))
        try:
            items = [orjson.dumps(item) for item in document]
        except orjson.JSONEncodeError as exc:
            # orjson re-encodes at most 254 levels deep; no article is nested like that.
            return Rejection(TOO_DEEP, f"an item of the batch is nested too deeply: {exc}")
    if not items:
        return Rejection(Code.EMPTY, "the batch has no articles")
    return items


# --- answering -------------------------------------------------------------------------------------


def _field_errors(decision: Decision) -> list[FieldProblem]:
    result, outcome = decision.result, decision.outcome
    fields = result.fields if isinstance(result, Rejection) and result.code in _CODES_WITH_FIELDS else ()
    if not fields and isinstance(outcome, Reject) and outcome.code in _FIELD_OF_CODE:
        fields = (FieldError(_FIELD_OF_CODE[Code(outcome.code)], outcome.reason),)
    return [FieldProblem(field=f.loc, message=f.message) for f in fields]


def _count(ctx: HttpContext, decisions: Sequence[Decision]) -> None:
    tally = {"emitted": 0, "skipped": 0, "rejected": 0}
    for d in decisions:
        if isinstance(d.outcome, Emit):
            tally["emitted"] += 1
        elif isinstance(d.outcome, Skip):
            tally["skipped"] += 1
        else:
            tally["rejected"] += 1
    for outcome, n in tally.items():
        if n:
            ctx.metrics.events.labels(ctx.metrics.stage, outcome).inc(n)


def _unsupported(request: Request, supported: Sequence[str]) -> Response:
    given = request.headers.get("content-type") or "none"
    response = _problem(
        415,
        "Unsupported Media Type",
        Code.UNKNOWN_CONTENT_TYPE,
        f"content type {given!r} is not accepted here; send one of {', '.join(supported)} (UTF-8 only)",
        supported=list(supported),
    )
    response.headers["Accept-Post"] = ", ".join(supported)
    return response


def _forbidden_problem(decision: Decision) -> Response:
    assert isinstance(decision.outcome, Reject)
    log.info("http article forbidden", source=decision.outcome.source)
    return _problem(403, "Forbidden", SOURCE_FORBIDDEN, decision.outcome.reason)


def _grant(ctx: HttpContext, request: Request) -> SourceGrant | None:
    sources = ctx.sources_of(request)
    return SourceGrant(sources, "this token") if sources is not None else None


def _unavailable(exc: Exception) -> Response:
    log.warning("redis unavailable", error=repr(exc))
    if isinstance(exc, redis.exceptions.OutOfMemoryError):
        code, detail = "redis_full", "the store is full, so nothing was stored; resend later"
    else:
        code, detail = (
            "redis_unavailable",
            "the store is unreachable, so the outcome is unknown; resending is safe "
            "(an article that was stored comes back as a duplicate)",
        )
    response = _problem(503, "Service Unavailable", code, detail)
    response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


async def _refuse(
    ctx: HttpContext,
    sub: Submission,
    *,
    status: int,
    title: str,
    code: str,
    reason: str,
    **extra: object,
) -> Response:
    """A whole request refused after its body was read: dead-lettered, then a problem answer."""
    decision = Decision(sub, Reject(reason, code, source=sub.source), Rejection(code, reason))
    try:
        await commit_direct(ctx.client, [decision], retention=ctx.retention)
    except _UNAVAILABLE as exc:
        return _unavailable(exc)
    _count(ctx, [decision])
    log.info("http request refused", code=code, reason=reason, status=status)
    return _problem(status, title, code, reason, **extra)


async def _refuse_oversize(ctx: HttpContext, request: Request, oversize: _Oversize, limit: int) -> Response:
    head = _utf8_prefix(oversize.head)
    sub = Submission(head, request.headers.get("content-type"), HTTP_SOURCE)
    return await _refuse(
        ctx,
        sub,
        status=413,
        title="Content Too Large",
        code=Code.OVERSIZE,
        reason=f"{oversize.detail}; this dead letter keeps only the first {len(head)} bytes",
        limit_bytes=limit,
    )


def batch_limit_bytes(settings: IngestSettings) -> int:
    """Largest batch body: MAX_BATCH_ITEMS articles' worth, capped at MAX_BATCH_BYTES unless one
    article alone may be larger."""
    return max(
        settings.max_payload_bytes,
        min(settings.max_payload_bytes * MAX_BATCH_ITEMS, MAX_BATCH_BYTES),
    )


def make_routes(
    ctx: HttpContext, settings: IngestSettings, html: HtmlWorkers | None = None
) -> list[BaseRoute]:
    """The ingest API routes; `ctx` supplies Redis, metrics, bearer tokens and the rate limit,
    `html` the worker processes that extract HTML pages (None: inline, for tests)."""
    batch_limit = batch_limit_bytes(settings)
    document = build_openapi(settings, auth_required=bool(ctx.tokens))
    document_json = orjson.dumps(document)
    docs_page = render_docs(document)

    async def submit_article(request: Request) -> Response:
        media, charset = _media_type(request)
        if media not in ARTICLE_TYPES or (charset is not None and charset not in _UTF8_CHARSETS):
            return _unsupported(request, ARTICLE_TYPES)
        body = await _read_body(request, settings.max_payload_bytes)
        if isinstance(body, _Oversize):
            return await _refuse_oversize(ctx, request, body, settings.max_payload_bytes)
        sub = Submission(
            body,
            request.headers.get("content-type"),
            HTTP_SOURCE,
            correlation_id=_correlation_id(request),
        )
        try:
            [decision] = await decide(ctx.client, [sub], settings, html=html, grant=_grant(ctx, request))
            if isinstance(decision.result, Rejection) and decision.result.code == SOURCE_FORBIDDEN:
                return _forbidden_problem(decision)  # refused, not dead-lettered: nothing is written
            await commit_direct(ctx.client, [decision], retention=ctx.retention)
        except _UNAVAILABLE as exc:
            return _unavailable(exc)
        _count(ctx, [decision])
        outcome = decision.outcome
        if isinstance(outcome, Emit):
            assert decision.event is not None  # decide sets the event of every Emit
            receipt = ArticleReceipt(
                article_id=decision.event.article_id,
                version=decision.event.article_version,
                status="accepted",
                event_id=decision.event.event_id,
            )
            return _json(receipt, 202)
        if isinstance(decision.result, Duplicate):
            duplicate = decision.result
            receipt = ArticleReceipt(
                article_id=duplicate.article_id,
                version=duplicate.version,
                status="duplicate",
                event_id=duplicate.event_id,
            )
            return _json(receipt, 200)
        assert isinstance(outcome, Reject)  # decide makes a Skip only of a Duplicate
        errors = _field_errors(decision)
        log.info("http article rejected", code=outcome.code, reason=outcome.reason)
        extra: dict[str, object] = {"errors": [e.model_dump() for e in errors]}
        if outcome.article_id:
            extra["article_id"] = outcome.article_id
        return _problem(422, "Unprocessable Content", outcome.code, outcome.reason, **extra)

    async def submit_batch(request: Request) -> Response:
        media, charset = _media_type(request)
        if media not in BATCH_TYPES or (charset is not None and charset not in _UTF8_CHARSETS):
            return _unsupported(request, BATCH_TYPES)
        body = await _read_body(request, batch_limit)
        if isinstance(body, _Oversize):
            return await _refuse_oversize(ctx, request, body, batch_limit)
        content_type = request.headers.get("content-type")
        items = _split_batch(body, media)
        if isinstance(items, _TooMany):
            head = _utf8_prefix(body[:DEAD_LETTER_HEAD_BYTES])
            return await _refuse(
                ctx,
                Submission(head, content_type, HTTP_SOURCE),
                status=413,
                title="Content Too Large",
                code=TOO_MANY_ITEMS,
                reason=f"the batch has {items.count} articles, over the limit of {MAX_BATCH_ITEMS}; "
                f"this dead letter keeps only the first {len(head)} bytes",
                max_items=MAX_BATCH_ITEMS,
            )
        if isinstance(items, Rejection):
            reason = items.reason
            if len(body) > settings.max_payload_bytes:
                # No more of an unusable batch is kept than of an oversize article.
                body = _utf8_prefix(body[:DEAD_LETTER_HEAD_BYTES])
                reason += f"; this dead letter keeps only the first {len(body)} bytes"
            return await _refuse(
                ctx,
                Submission(body, content_type, HTTP_SOURCE),
                status=422,
                title="Unprocessable Content",
                code=items.code,
                reason=reason,
                errors=[],
            )
        correlation_id = _correlation_id(request)
        subs = [Submission(item, JSON, HTTP_SOURCE, correlation_id=correlation_id) for item in items]
        try:
            decisions = await decide(ctx.client, subs, settings, html=html, grant=_grant(ctx, request))
            await commit_direct(ctx.client, decisions, retention=ctx.retention)
        except _UNAVAILABLE as exc:
            return _unavailable(exc)
        _count(ctx, decisions)
        results: list[BatchItemResult] = []
        for index, decision in enumerate(decisions):
            outcome = decision.outcome
            if isinstance(outcome, Emit):
                assert decision.event is not None
                results.append(
                    BatchItemResult(
                        index=index,
                        status="accepted",
                        article_id=decision.event.article_id,
                        version=decision.event.article_version,
                        event_id=decision.event.event_id,
                    )
                )
            elif isinstance(decision.result, Duplicate):
                duplicate = decision.result
                results.append(
                    BatchItemResult(
                        index=index,
                        status="duplicate",
                        article_id=duplicate.article_id,
                        version=duplicate.version,
                        event_id=duplicate.event_id,
                    )
                )
            elif isinstance(outcome, Reject):
                results.append(
                    BatchItemResult(
                        index=index,
                        status="rejected",
                        article_id=outcome.article_id,
                        code=outcome.code,
                        reason=outcome.reason,
                        errors=_field_errors(decision),
                    )
                )
        rejected = sum(r.status == "rejected" for r in results)
        log.info("http batch", items=len(results), rejected=rejected)
        return _json(BatchReceipt(results=results), 207 if rejected else 202)

    async def openapi(_: Request) -> Response:
        return Response(document_json, media_type=JSON)

    async def docs(_: Request) -> Response:
        response = HTMLResponse(docs_page)
        # The page has no scripts and loads nothing: say so to the browser too.
        response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
        return response

    return [
        Route(ARTICLES_PATH, guarded(ctx, submit_article), methods=["POST"]),
        Route(BATCH_PATH, guarded(ctx, submit_batch), methods=["POST"]),
        Route(OPENAPI_PATH, openapi, methods=["GET"]),
        Route(DOCS_PATH, docs, methods=["GET"]),
    ]


# --- the OpenAPI document --------------------------------------------------------------------------

_REF: Final = "#/components/schemas/{model}"


# Request examples: documentation, and the first cases schemathesis sends (so 2xx paths are covered).
_EXAMPLE_ARTICLE: Final = {
    "id": "cms-48213",
    "source": "cms",
    "url": "https://news.example.org/2024/05/harbour-ferry-terminal",
    "title": "Harbour authority approves new ferry terminal",
    "body": "The harbour authority approved plans for a new ferry terminal on Tuesday.\n\n"
    "Construction is expected to start next spring.",
    "published_at": "2024-05-01T10:00:00+02:00",
    "authors": ["Ana Lima"],
    "related": [{"title": "Ferry passenger numbers rise", "url": "https://news.example.org/2024/04/ferries"}],
}
_EXAMPLE_TEXT: Final = (
    "Harbour News\n\nHarbour authority approves new ferry terminal\n\nMay 1, 2024 at 10:00 am\n\n"
    "The harbour authority approved plans for a new ferry terminal on Tuesday.\n\n"
    "READ: Ferry passenger numbers rise\n\nConstruction is expected to start next spring.\n"
)
_EXAMPLE_HTML: Final = (
    "<!doctype html><html><head><title>Harbour authority approves new ferry terminal</title></head>"
    "<body><article><h1>Harbour authority approves new ferry terminal</h1>"
    "<p>The harbour authority approved plans for a new ferry terminal on Tuesday.</p>"
    "<p>Construction is expected to start next spring, the authority said.</p></article></body></html>"
)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF.format(model=name)}


def _problem_response(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": _ref("Problem")}},
    }
    if headers:
        response["headers"] = headers
    return response


def _header(description: str) -> dict[str, Any]:
    return {"description": description, "required": True, "schema": {"type": "string"}}


# Text with at least one character that is not white space: what "missing or empty" is not.
_NOT_BLANK: Final = {"type": "string", "pattern": r"\S"}


def _inbound_article_schema(generated: dict[str, Any]) -> dict[str, Any]:
    """InboundArticle as pydantic generates it, plus the rules `parse_payload` applies across
    fields, so that a schema-valid article is not refused for what the schema could have said:
    an article to publish needs a title and a body; a withdrawal needs an id, url or title."""
    names = ("id", "url", "title")
    return {
        **generated,
        "if": {"properties": {"action": {"const": "withdraw"}}, "required": ["action"]},
        "then": {"anyOf": [{"properties": {name: _NOT_BLANK}, "required": [name]} for name in names]},
        "else": {"properties": {"title": _NOT_BLANK, "body": _NOT_BLANK}, "required": ["title", "body"]},
    }


def _ndjson_example(items: Sequence[object]) -> str:
    return "".join(orjson.dumps(item).decode() + "\n" for item in items)


def build_openapi(settings: IngestSettings, *, auth_required: bool = True) -> dict[str, Any]:
    """The OpenAPI 3.1 document of `make_routes`' routes.

    `auth_required` adds the bearer requirement and the 401 answers (the service has tokens).
    """
    batch_limit = batch_limit_bytes(settings)
    _, defs = models_json_schema(
        [
            (InboundArticle, "validation"),
            (ArticleReceipt, "validation"),
            (BatchReceipt, "validation"),
            (Problem, "validation"),
        ],
        ref_template=_REF,
    )
    schemas: dict[str, Any] = defs["$defs"]
    schemas["InboundArticle"] = _inbound_article_schema(schemas["InboundArticle"])
    # A related link's title names it: a blank one is refused (`invalid_field`).
    link_title = schemas["InlineLink"]["properties"]["title"]
    schemas["InlineLink"]["properties"]["title"] = {**link_title, **_NOT_BLANK}

    guard: dict[str, Any] = {
        "429": _problem_response("Too many requests from this client; retry shortly."),
        "503": _problem_response(
            "Redis is unreachable; the outcome is unknown and resending is safe.",
            {"Retry-After": _header("Seconds to wait before resending.")},
        ),
    }
    if auth_required:
        guard["401"] = _problem_response(
            "No valid bearer token.",
            {"WWW-Authenticate": _header("The bearer challenge.")},
        )

    def too_large(what: str) -> dict[str, Any]:
        return _problem_response(
            f"{what} Nothing is processed; a dead letter in articles.dlq keeps the reason and "
            f"the first {DEAD_LETTER_HEAD_BYTES} bytes."
        )

    def unsupported(types: Sequence[str]) -> dict[str, Any]:
        return _problem_response(
            f"Content-Type is not one of {', '.join(types)} (or a charset other than UTF-8).",
            {"Accept-Post": _header("The media types this route accepts.")},
        )

    correlation = {
        "name": CORRELATION_HEADER,
        "in": "header",
        "required": False,
        "description": "Carried on the raw events; used when it is 1-128 characters of letters, "
        "digits and `._:-`, otherwise a new id is made per article.",
        "schema": {"type": "string"},
    }
    security: list[dict[str, list[str]]] = [{"bearerAuth": []}] if auth_required else []
    receipt_json = {JSON: {"schema": _ref("ArticleReceipt")}}
    batch_json = {JSON: {"schema": _ref("BatchReceipt")}}
    batch_example = [_EXAMPLE_ARTICLE, {**_EXAMPLE_ARTICLE, "id": "cms-48214", "url": None}]
    articles = {
        "type": "array",
        "items": _ref("InboundArticle"),
        "minItems": 1,
        "maxItems": MAX_BATCH_ITEMS,
    }

    article = {
        "operationId": "submitArticle",
        "summary": "Submit one article",
        "description": (
            "The body is one article: an InboundArticle JSON object, seed-layout plain text, or "
            f"an HTML page, at most {settings.max_payload_bytes} bytes. All three are validated, "
            "identified and versioned as articles from the inbound stream are. A 2xx answer "
            "means the raw event is stored in Redis. Resending is safe: unchanged content is a "
            "duplicate (200), changed content the next version (202)."
        ),
        "security": security,
        "parameters": [correlation],
        "requestBody": {
            "required": True,
            "content": {
                JSON: {"schema": _ref("InboundArticle"), "example": _EXAMPLE_ARTICLE},
                TEXT: {"schema": {"type": "string"}, "example": _EXAMPLE_TEXT},
                HTML: {"schema": {"type": "string"}, "example": _EXAMPLE_HTML},
            },
        },
        "responses": {
            "202": {
                "description": "Accepted and stored: a new article or a new version.",
                "content": receipt_json,
            },
            "200": {
                "description": "A duplicate of the current version; nothing new was stored.",
                "content": receipt_json,
            },
            "413": too_large(f"The body is over {settings.max_payload_bytes} bytes."),
            "415": unsupported(ARTICLE_TYPES),
            "422": _problem_response(
                "The article was rejected: `code` and `detail` say why, `errors` names each "
                "invalid field. The payload is stored in articles.dlq. Besides what the schema "
                f"says, an article is refused when its title or body is empty once cleaned of "
                f"markup and invisible characters, its body is under {MIN_BODY_CHARS} or over "
                f"{settings.max_body_chars} characters, its title over {MAX_TITLE_CHARS}, it has "
                f"over {MAX_LINKS} related links, a date is unreadable, before {EARLIEST_YEAR} or "
                f"too far ahead ({settings.max_future_hours:g} hours; embargoes {MAX_EMBARGO.days} "
                "days), a URL is not absolute http(s), the language is not ISO 639-1, or a "
                "withdrawal names an "
                "article ingest does not know. Text and HTML bodies are refused when no title and "
                "body can be read from them."
            ),
            **guard,
            **(
                {
                    "403": _problem_response(
                        "The token is bound to sources (`token:source1|source2`) and the "
                        "article's source is not one of them (`source_forbidden`); nothing is "
                        "stored. (In a batch such an item is rejected instead.)"
                    )
                }
                if auth_required
                else {}
            ),
        },
    }
    batch = {
        "operationId": "submitArticleBatch",
        "summary": "Submit up to 1000 articles",
        "description": (
            f"A JSON array of InboundArticle objects, or NDJSON (one per line, blank lines "
            f"skipped), at most {MAX_BATCH_ITEMS} articles and {batch_limit} bytes, each article "
            f"at most {settings.max_payload_bytes} bytes. Validated as one batch and stored in one "
            "transaction. Every item gets a result at its index: 202 when none was rejected, "
            "207 when any was (rejected items are in articles.dlq, the others are stored)."
        ),
        "security": security,
        "parameters": [correlation],
        "requestBody": {
            "required": True,
            "content": {
                JSON: {"schema": articles, "example": batch_example},
                # OpenAPI 3.1 has no schema for a sequence of documents (3.2's itemSchema): the body
                # is text a client sends as it is, each line of it one InboundArticle.
                NDJSON: {
                    "schema": {
                        **_NOT_BLANK,  # no line at all is an `empty` batch (422)
                        "contentMediaType": NDJSON,
                        "description": (
                            "Newline-delimited JSON: each non-blank line one InboundArticle object "
                            f"(#/components/schemas/InboundArticle), at most {MAX_BATCH_ITEMS} lines; "
                            "lines are separated by LF or CRLF and blank lines are skipped. A line "
                            "that is not an InboundArticle is rejected on its own (207)."
                        ),
                        "examples": [_ndjson_example(batch_example)],
                    },
                    "example": _ndjson_example(batch_example),
                },
            },
        },
        "responses": {
            "202": {
                "description": "Every article was accepted or was a duplicate.",
                "content": batch_json,
            },
            "207": {
                "description": (
                    "At least one article was rejected; see each result. This is also the answer "
                    "to items that are not valid InboundArticle objects: each is rejected on its "
                    "own (`invalid_field`, `unknown_field`, `not_an_object`, `unparseable_json`) "
                    "with the refusals the single-article 422 lists, while the others are stored."
                ),
                "content": batch_json,
            },
            "413": too_large(f"The body is over {batch_limit} bytes or {MAX_BATCH_ITEMS} articles."),
            "415": unsupported(BATCH_TYPES),
            "422": _problem_response(
                "The batch itself is unusable (not JSON, not an array, or empty); it is stored "
                "in articles.dlq."
            ),
            **guard,
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "newsflow ingest API",
            "version": API_VERSION,
            "description": (
                "Articles in: validated, versioned and written to the articles.raw stream. "
                "Rejected payloads go to articles.dlq with a reason. Problems are RFC 9457 "
                "application/problem+json."
            ),
        },
        "paths": {
            ARTICLES_PATH: {"post": article},
            BATCH_PATH: {"post": batch},
            OPENAPI_PATH: {
                "get": {
                    "operationId": "getOpenApi",
                    "summary": "This document",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "The OpenAPI 3.1 document.",
                            "content": {JSON: {"schema": {"type": "object"}}},
                        }
                    },
                }
            },
            DOCS_PATH: {
                "get": {
                    "operationId": "getDocs",
                    "summary": "This document as an HTML page",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "A plain HTML page, without scripts.",
                            "content": {HTML: {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "One of the tokens in NEWSFLOW_INGEST_API_TOKENS.",
                }
            },
        },
    }


def render_docs(document: dict[str, Any]) -> str:
    """A self-contained HTML page listing the document's operations, then the document itself."""
    esc = html.escape
    info = document["info"]
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(info['title'])}</title>",
        "<style>body{font-family:sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
        "code,pre{background:#f4f4f4}pre{padding:1rem;overflow:auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3rem .6rem;"
        "text-align:left;vertical-align:top}</style></head><body>",
        f"<h1>{esc(info['title'])} <small>{esc(info['version'])}</small></h1>",
        f"<p>{esc(info.get('description', ''))}</p>",
        "<h2>Endpoints</h2>",
    ]
    for path, methods in document["paths"].items():
        for method, op in methods.items():
            parts.append(f"<h3><code>{esc(method.upper())} {esc(path)}</code></h3>")
            parts.append(f"<p><strong>{esc(op.get('summary', ''))}</strong></p>")
            if op.get("description"):
                parts.append(f"<p>{esc(op['description'])}</p>")
            auth = "bearer token" if op.get("security") else "none"
            parts.append(f"<p>Authentication: {esc(auth)}</p>")
            body = op.get("requestBody")
            if body:
                kinds = ", ".join(f"<code>{esc(kind)}</code>" for kind in body["content"])
                parts.append(f"<p>Request body: {kinds}</p>")
            parts.append("<table><tr><th>Status</th><th>Meaning</th><th>Content</th></tr>")
            for status, response in sorted(op["responses"].items()):
                kinds = ", ".join(esc(kind) for kind in response.get("content", {}))
                parts.append(
                    f"<tr><td>{esc(status)}</td><td>{esc(response['description'])}</td><td>{kinds}</td></tr>"
                )
            parts.append("</table>")
    pretty = orjson.dumps(document, option=orjson.OPT_INDENT_2).decode()
    parts += [
        f'<h2>OpenAPI document</h2><p><a href="{esc(OPENAPI_PATH.lstrip("/"))}">openapi.json</a></p>',
        f"<pre>{esc(pretty)}</pre>",
        "</body></html>",
    ]
    return "\n".join(parts)
