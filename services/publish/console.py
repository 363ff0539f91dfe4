"""The newsroom console on the publish service: live feed, article, entity and pipeline-health pages.

Routes read Redis and hand typed values to the pure renderers in `console_render`. Access:
- reading follows the read API's tokens (`NEWSFLOW_PUBLISH_API_TOKENS`; open when none are set),
  plus the editor tokens; a browser signs in once and the token rides in an HttpOnly,
  SameSite=Strict cookie scoped to /console (a bearer header works too);
- replay, merge and split need an editor token (`NEWSFLOW_PUBLISH_EDITOR_TOKENS`) and a CSRF token
  (an HMAC of the session's token) in the form, and a same-origin Origin header when one is sent.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl, quote, urlsplit

import redis.asyncio as aioredis
from pydantic import ValidationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from services.enrich.registry import EntityRegistry, RegistryError
from services.publish import console_render as render
from services.publish.api import (
    EVENT_STREAM_MEDIA_TYPE,
    HEARTBEAT_S,
    SSE_RETRY_MS,
    feed_full,
    last_entry_id,
    live_feed,
    published_entries,
    sse_message,
)
from services.publish.deadletters import (
    WebhookTargets,
    get_dead_letter,
    list_dead_letters,
    replay_entry,
)
from services.publish.listing import Cursor, ListingQuery, PublishIndex
from services.publish.live import LiveFeed
from services.publish.settings import PublishSettings
from services.publish.webhooks import new_http_client
from shared import streams, wire
from shared.events import PublishedEvent, TaggedEvent
from shared.logging import get_logger
from shared.runtime.http import HttpContext, read_body
from shared.wire import as_text

log = get_logger(__name__)

ASSETS_DIR: Final = Path(__file__).parent / "console_assets"
ASSET_TYPES: Final = {
    "console.css": "text/css; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
    "icon.svg": "image/svg+xml",
}
COOKIE: Final = "newsflow_console"
# Signed-in sessions last a working day (seconds); the token itself is the credential.
COOKIE_MAX_AGE_S: Final = 12 * 3600
FEED_PAGE_SIZE: Final = 50
ENTITY_PAGE_SIZE: Final = 25
# Newest articles.published entries scanned for an article's version history: the stream is not
# indexed by article, so history older than this many entries is not shown.
HISTORY_SCAN: Final = 2000
DLQ_SHOWN: Final = 50
# Newest dead letters counted by code and stage (the total is XLEN, exact).
DLQ_SCAN: Final = 5000
# Health samples: at most one every SAMPLE_EVERY_S seconds, the last SAMPLES of them kept (5 min).
SAMPLE_EVERY_S: Final = 5.0
SAMPLES: Final = 60
CSP: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
_CSRF_CONTEXT: Final = b"newsflow-console-csrf"
# Console forms are a few short fields; a larger body is refused unread past this many bytes.
MAX_FORM_BYTES: Final = 8192


# --------------------------------------------------------------------------------------------
# Access (pure)
# --------------------------------------------------------------------------------------------


def _in(token: str, tokens: frozenset[str]) -> bool:
    return any(hmac.compare_digest(token.encode(), known.encode()) for known in tokens)


@dataclass(frozen=True, slots=True)
class Access:
    readers: frozenset[str]
    editors: frozenset[str]

    @property
    def required(self) -> bool:
        return bool(self.readers or self.editors)

    def can_read(self, token: str | None) -> bool:
        if not self.required:
            return True
        return token is not None and (_in(token, self.readers) or _in(token, self.editors))

    def is_editor(self, token: str | None) -> bool:
        return token is not None and bool(self.editors) and _in(token, self.editors)

    def valid(self, token: str) -> bool:
        return _in(token, self.readers) or _in(token, self.editors)


def csrf_token(session_token: str | None) -> str:
    if not session_token:
        return ""
    return hmac.new(session_token.encode(), _CSRF_CONTEXT, hashlib.sha256).hexdigest()


def safe_next(path: str | None) -> str:
    """Only a path inside the console: never an absolute or protocol-relative URL."""
    if not path or not path.startswith("/console") or path.startswith("//") or "\\" in path:
        return "/console/"
    return path


def parse_form(body: bytes) -> dict[str, str]:
    """An application/x-www-form-urlencoded body (the last value of a repeated name wins)."""
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


async def read_form(request: Request) -> dict[str, str] | None:
    """The form, or None when it is too large or not url-encoded."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return None
    body = await read_body(request, MAX_FORM_BYTES)
    return None if body.over else parse_form(body.data)


def same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    host = request.headers.get("host", "")
    return urlsplit(origin).netloc == host


# --------------------------------------------------------------------------------------------
# Health sampling: a bounded ring buffer per console, filled when someone looks
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StageSpec:
    stage: str
    base: str
    group: str


def stage_specs() -> list[StageSpec]:
    return [
        StageSpec("ingest", streams.INBOUND, streams.INGEST_GROUP),
        StageSpec("enrich", streams.RAW, streams.ENRICH_GROUP),
        StageSpec("publish", streams.TAGGED, streams.PUBLISH_GROUP),
        StageSpec("publish-index", streams.PUBLISHED, streams.PUBLISH_INDEX_GROUP),
    ]


@dataclass(frozen=True, slots=True)
class Sample:
    at: float  # monotonic seconds
    processed: dict[str, int]
    failed: dict[str, int]
    lag: dict[str, int]


@dataclass
class HealthSampler:
    client: aioredis.Redis
    partitions: int
    samples: deque[Sample] = field(default_factory=lambda: deque(maxlen=SAMPLES))
    dlq_by_code: dict[str, int] = field(default_factory=dict)
    dlq_total: int = 0
    dlq_error: str | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def sample(self) -> None:
        async with self._lock:
            now = time.monotonic()
            if self.samples and now - self.samples[-1].at < SAMPLE_EVERY_S:
                return
            processed: dict[str, int] = {}
            lag: dict[str, int] = {}
            for spec in stage_specs():
                names = (
                    streams.all_partitions(spec.base, self.partitions)
                    if spec.base in (streams.RAW, streams.TAGGED)
                    else [spec.base]
                )
                done = behind = 0
                for name in names:
                    try:
                        groups = await self.client.xinfo_groups(name)
                    except ResponseError:
                        continue  # no such stream yet
                    for row in groups:
                        if as_text(row["name"]) != spec.group:
                            continue
                        read = row.get("entries-read") or 0
                        done += max(0, int(read) - int(row.get("pending") or 0))
                        behind += int(row.get("lag") or 0)
                processed[spec.stage] = done
                lag[spec.stage] = behind
            by_code: dict[str, int] = {}
            by_stage: dict[str, int] = {}
            try:
                newest = await self.client.xrevrange(streams.DLQ, count=DLQ_SCAN)
                self.dlq_total = int(await self.client.xlen(streams.DLQ))
                self.dlq_error = None
            except ResponseError as exc:  # NOPERM: this Redis user may only write the DLQ
                newest, self.dlq_error = [], dlq_refusal(exc)
            for _, raw in newest:
                fields = wire.text_fields(raw)
                code = fields.get("code") or "rejected"
                by_code[code] = by_code.get(code, 0) + 1
                stage = fields.get("stage") or "?"
                by_stage[stage] = by_stage.get(stage, 0) + 1
            self.dlq_by_code = by_code
            failed = {s.stage: by_stage.get(s.stage, 0) for s in stage_specs()}
            self.samples.append(Sample(now, processed, failed, lag))

    def series(self) -> list[render.StageSeries]:
        return [
            render.StageSeries(
                stage=spec.stage,
                stream=spec.base,
                processed=[s.processed.get(spec.stage, 0) for s in self.samples],
                failed=[s.failed.get(spec.stage, 0) for s in self.samples],
                lag=[s.lag.get(spec.stage, 0) for s in self.samples],
            )
            for spec in stage_specs()
        ]

    def window_s(self) -> float:
        return self.samples[-1].at - self.samples[0].at if len(self.samples) > 1 else 0.0


def dlq_refusal(exc: Exception) -> str:
    return (
        f"Redis refused the dead-letter stream to this service ({exc}); its user may only write it "
        "(deploy/redis/users.acl). Use `newsflow dlq` with an operator's Redis user instead."
    )


# --------------------------------------------------------------------------------------------
# Redis reads
# --------------------------------------------------------------------------------------------


def _decode_event(raw: Any) -> PublishedEvent | None:
    if raw is None:
        return None
    try:
        return PublishedEvent.model_validate_json(raw)
    except ValidationError:
        return None


async def version_history(client: aioredis.Redis, article_id: str) -> list[render.VersionRow]:
    rows = []
    for entry_id, raw in await client.xrevrange(streams.PUBLISHED, count=HISTORY_SCAN):
        fields = wire.text_fields(raw)
        if fields.get(streams.FIELD_ARTICLE_ID) != article_id:
            continue
        eid = as_text(entry_id)
        rows.append(
            render.VersionRow(
                entry_id=eid,
                version=int(fields.get(streams.FIELD_ARTICLE_VERSION) or 0),
                event_type=fields.get(streams.FIELD_EVENT_TYPE, "?"),
                at=datetime.fromtimestamp(int(eid.split("-")[0]) / 1000, UTC),
            )
        )
    return rows


async def console_events(
    client: aioredis.Redis, start_id: str, *, heartbeat_s: float, feed: LiveFeed | None = None
) -> AsyncIterator[bytes]:
    """Rendered feed items as SSE `item` events, after `start_id`, until the client leaves."""
    yield f"retry: {SSE_RETRY_MS}\n: connected\n\n".encode()
    async for entries in published_entries(client, start_id, heartbeat_s=heartbeat_s, feed=feed):
        if not entries:
            yield b": heartbeat\n\n"
        for entry_id, fields in entries:
            event = _decode_event(fields.get(streams.FIELD_EVENT))
            if event is not None:
                yield sse_message(entry_id, "item", render.feed_item(event))


def _coordinates(event: PublishedEvent | None, entity_id: str) -> tuple[float, float] | None:
    if event is None:
        return None
    for entity in event.data.enrichment.entities.all():
        ids = entity.identifiers
        if entity.entity_id == entity_id and ids.latitude is not None and ids.longitude is not None:
            return ids.latitude, ids.longitude
    return None


# --------------------------------------------------------------------------------------------
# Routes
# --------------------------------------------------------------------------------------------


def _html(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        body,
        status,
        headers={
            "Content-Security-Policy": CSP,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
            "Cache-Control": "no-store",
        },
    )


def _see_other(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def load_assets() -> dict[str, bytes]:
    return {name: (ASSETS_DIR / name).read_bytes() for name in ASSET_TYPES}


def make_console_routes(
    ctx: HttpContext,
    settings: PublishSettings,
    *,
    heartbeat_s: float = HEARTBEAT_S,
    feed: LiveFeed | None = None,
) -> list[BaseRoute]:
    """The console; `feed` is the process's shared live reader (one of its own when not given),
    so console clients count against the same cap as the read API's."""
    live = feed or live_feed(settings, ctx.client, heartbeat_s=heartbeat_s)
    access = Access(readers=ctx.tokens, editors=settings.editor_token_set())
    index = PublishIndex(ctx.client)
    registry = EntityRegistry(ctx.client, base_url=settings.public_base_url)
    sampler = HealthSampler(ctx.client, settings.partitions)
    assets = load_assets()

    def session_token(request: Request) -> str | None:
        scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and bearer:
            return bearer
        return request.cookies.get(COOKIE) or None

    def viewer(request: Request) -> render.Viewer:
        token = session_token(request)
        signed_in = token is not None and access.valid(token)
        return render.Viewer(
            signed_in=signed_in,
            editor=access.is_editor(token),
            csrf=csrf_token(token) if signed_in else "",
            auth_required=access.required,
        )

    def reader(handler: Any) -> Any:
        async def wrapper(request: Request) -> Response:
            if not access.can_read(session_token(request)):
                target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
                return _see_other(f"/console/login?next={target}")
            if not ctx.allow(request):
                return _html("<p>Too many requests; retry shortly.</p>", 429)
            try:
                response: Response = await handler(request, viewer(request))
            except (RedisConnectionError, RedisTimeoutError) as exc:
                log.warning("console: redis unreachable", path=request.url.path, error=repr(exc))
                return _html("<p>The article store is unreachable; retry shortly.</p>", 503)
            return response

        return wrapper

    def editor(handler: Any) -> Any:
        async def wrapper(request: Request) -> Response:
            token = session_token(request)
            form = await read_form(request)
            if form is None:
                return _html("<p>Not a console form.</p>", 400)
            sent = form.get("csrf", "")
            if not same_origin(request) or not token or not hmac.compare_digest(sent, csrf_token(token)):
                return _html("<p>The form has expired or came from elsewhere; reload and retry.</p>", 403)
            if not access.is_editor(token):
                return _html("<p>This needs a token with the editor role.</p>", 403)
            response: Response = await handler(request, form)
            return response

        return wrapper

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in assets:
            return Response(status_code=404)
        return Response(
            assets[name],
            media_type=ASSET_TYPES[name],
            headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
        )

    async def login_form(request: Request) -> Response:
        return _html(render.login_page(error=None, next_path=safe_next(request.query_params.get("next"))))

    async def login(request: Request) -> Response:
        if not same_origin(request):
            return _html("<p>Sign-in came from another site.</p>", 403)
        form = await read_form(request)
        if form is None:
            return _html("<p>Not a console form.</p>", 400)
        token = form.get("token", "").strip()
        next_path = safe_next(form.get("next"))
        if not access.valid(token):
            return _html(render.login_page(error="That token is not valid.", next_path=next_path), 401)
        response = _see_other(next_path)
        response.set_cookie(
            COOKIE,
            token,
            max_age=COOKIE_MAX_AGE_S,
            path="/console",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    async def logout(request: Request) -> Response:
        token = session_token(request)
        form = await read_form(request) or {}
        if token and not hmac.compare_digest(form.get("csrf", ""), csrf_token(token)):
            return _html("<p>The form has expired; reload and retry.</p>", 403)
        response = _see_other("/console/login")
        response.delete_cookie(COOKIE, path="/console")
        return response

    async def feed_page(request: Request, who: render.Viewer) -> Response:
        cursor_text = request.query_params.get("cursor")
        try:
            after = Cursor.decode(cursor_text) if cursor_text else None
        except ValueError:
            after = None
        listing = await index.page(ListingQuery(limit=FEED_PAGE_SIZE, after=after))
        ids = [r.article_id for r in listing.records]
        stored = await ctx.client.hmget(streams.PUBLISH_LATEST, ids) if ids else []  # type: ignore[misc]
        events = [e for e in map(_decode_event, stored) if e is not None]
        next_cursor = listing.next_cursor.encode() if listing.next_cursor is not None else None
        body = render.feed_page(
            [render.feed_item(e) for e in events], next_cursor=next_cursor, live=after is None, viewer=who
        )
        return _html(body)

    async def events(request: Request, _who: render.Viewer) -> Response:
        if not live.join():
            return feed_full(live)
        try:
            resume = request.headers.get("last-event-id") or await last_entry_id(ctx.client)
        except BaseException:
            live.leave()
            raise

        async def stream() -> AsyncIterator[bytes]:
            async with live.member():
                async for chunk in console_events(ctx.client, resume, heartbeat_s=heartbeat_s, feed=live):
                    yield chunk

        return StreamingResponse(
            stream(),
            media_type=EVENT_STREAM_MEDIA_TYPE,
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    async def article(request: Request, who: render.Viewer) -> Response:
        article_id = request.path_params["article_id"]
        async with ctx.client.pipeline(transaction=False) as pipe:
            pipe.hget(streams.PUBLISH_LATEST, article_id)
            pipe.hget(streams.PUBLISH_TAGGED, article_id)
            latest, tagged_raw = await pipe.execute()
        event = _decode_event(latest)
        if event is None:
            return _html(render.page("Not found", "<h1>No such article</h1>", who), 404)
        tagged = None
        if tagged_raw is not None:
            try:
                tagged = TaggedEvent.model_validate_json(tagged_raw).data
            except ValidationError:
                tagged = None
        history = await version_history(ctx.client, article_id)
        return _html(render.article_page(event, tagged, history, who))

    async def entity(request: Request, who: render.Viewer) -> Response:
        entity_id = request.path_params["entity_id"]
        card = await registry.get(entity_id)
        if card is None:
            return _html(render.page("Not found", "<h1>No such entity</h1>", who), 404)
        offset_text = request.query_params.get("offset") or "0"
        offset = int(offset_text) if offset_text.isdigit() else 0
        ids, total = await registry.articles(card.id, offset=offset, limit=ENTITY_PAGE_SIZE)
        stored = await ctx.client.hmget(streams.PUBLISH_LATEST, ids) if ids else []  # type: ignore[misc]
        decoded = [_decode_event(raw) for raw in stored]
        rows = [
            render.EntityArticleRow(
                article_id=aid,
                title=e.data.title if e else None,
                version=e.data.version if e else None,
                withdrawn=bool(e and e.data.pubstatus.value == "withdrawn"),
            )
            for aid, e in zip(ids, decoded, strict=True)
        ]
        coordinates = None
        if card.type.value == "place":
            coordinates = next((c for c in (_coordinates(e, card.id) for e in decoded) if c), None)
        body = render.entity_page(
            card,
            rows,
            total=total,
            offset=offset,
            limit=ENTITY_PAGE_SIZE,
            coordinates=coordinates,
            viewer=who,
            message=request.query_params.get("done"),
            editing_enabled=bool(access.editors),
        )
        return _html(body)

    async def edit_entity(request: Request, form: dict[str, str]) -> Response:
        entity_id = request.path_params["entity_id"]
        action = request.path_params["action"]
        try:
            if action == "merge":
                card = await registry.merge(entity_id, form.get("into", "").strip())
                done = f"merged {entity_id} into {card.id}"
            elif action == "split":
                card = await registry.split(entity_id, form.get("alias", ""))
                done = f"split {form.get('alias', '')!r} off as {card.id}"
            else:
                return _html("<p>Unknown action.</p>", 404)
        except RegistryError as exc:
            return _see_other(f"/console/entities/{quote(entity_id, safe='')}?done={quote(str(exc))}")
        log.info("console entity edit", action=action, entity_id=entity_id, result=card.id)
        return _see_other(f"/console/entities/{quote(card.id, safe='')}?done={quote(done)}")

    async def health(request: Request, who: render.Viewer) -> Response:
        await sampler.sample()
        try:
            entries = await list_dead_letters(ctx.client, streams.DLQ, limit=DLQ_SHOWN)
        except ResponseError as exc:
            entries = []
            sampler.dlq_error = dlq_refusal(exc)
        rows = [
            render.DeadLetterRow(
                entry_id=e.entry_id,
                failed_at=e.failed_at,
                stage=e.fields.get("stage", "?"),
                code=e.fields.get("code", "rejected"),
                reason=e.fields.get("reason", ""),
                article_id=e.fields.get("article_id", ""),
                source_stream=e.fields.get("source_stream", ""),
            )
            for e in entries
        ]
        body = render.health_page(
            sampler.series(),
            window_s=sampler.window_s(),
            dlq_total=sampler.dlq_total,
            dlq_by_code=sampler.dlq_by_code,
            entries=rows,
            viewer=who,
            editing_enabled=bool(access.editors),
            message=request.query_params.get("done"),
            dlq_error=sampler.dlq_error,
        )
        return _html(body)

    async def replay(request: Request, form: dict[str, str]) -> Response:
        entry_id = form.get("entry_id", "")
        try:
            entry = await get_dead_letter(ctx.client, streams.DLQ, entry_id) if entry_id else None
            if entry is None:
                return _see_other(f"/console/health?done={quote(f'no dead letter {entry_id}')}")
            async with new_http_client() as http:
                targets = WebhookTargets(settings.webhooks_path, http)
                result = await replay_entry(ctx.client, entry, deliverer_for=targets)
        except ResponseError as exc:  # NOPERM under the least-privilege ACL
            log.warning("console replay refused by redis", entry_id=entry_id, error=repr(exc))
            return _see_other(f"/console/health?done={quote(f'not replayed {entry_id}: {exc}')}")
        log.info("console replay", entry_id=entry_id, outcome=result.outcome, detail=result.detail)
        return _see_other(f"/console/health?done={quote(f'{result.outcome} {entry_id} {result.detail}')}")

    async def root_redirect(_: Request) -> Response:
        return _see_other("/console/")

    return [
        Route("/console", root_redirect, methods=["GET"]),
        Route("/console/", reader(feed_page), methods=["GET"]),
        Route("/console/events", reader(events), methods=["GET"]),
        Route("/console/articles/{article_id}", reader(article), methods=["GET"]),
        Route("/console/entities/{entity_id}", reader(entity), methods=["GET"]),
        Route("/console/entities/{entity_id}/{action}", editor(edit_entity), methods=["POST"]),
        Route("/console/health", reader(health), methods=["GET"]),
        Route("/console/dlq/replay", editor(replay), methods=["POST"]),
        Route("/console/login", login_form, methods=["GET"]),
        Route("/console/login", login, methods=["POST"]),
        Route("/console/logout", logout, methods=["POST"]),
        Route("/console/assets/{name}", asset, methods=["GET"]),
    ]
