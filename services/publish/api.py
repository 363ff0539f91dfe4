"""The subscribers' HTTP read API: latest versions, a filtered listing, live events and an Atom feed.

Every route is behind `guarded` (a bearer token when tokens are configured, the rate limit), answers
errors as RFC 9457 problem+json, and reads Redis only:
- `GET /v1/articles/{article_id}` the latest version from `PUBLISH_LATEST` (ninjs 3.1 rendered from
  `PUBLISH_TAGGED`);
- `GET /v1/articles` and `GET /v1/feed.atom` the listing index kept by `PublishIndexStage`;
- `GET /v1/events` `articles.published` itself, as Server-Sent Events.
"""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final
from urllib.parse import urlencode, urlsplit

import orjson
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from services.publish.listing import (
    Cursor,
    IndexRecord,
    ListingQuery,
    PublishIndex,
    rfc3339,
)
from services.publish.live import LiveFeed
from services.publish.logic import article_uri, to_ninjs
from services.publish.settings import PublishSettings
from shared import streams, wire
from shared.events import EntityType, TaggedEvent
from shared.logging import get_logger
from shared.runtime.http import Handler, HttpContext, guarded, problem
from shared.wire import Fields, as_text

log = get_logger(__name__)

# --- limits and timings ------------------------------------------------------------------------
LIST_DEFAULT_LIMIT: Final = 20
LIST_MAX_LIMIT: Final = 100
FEED_DEFAULT_LIMIT: Final = 50
FEED_MAX_LIMIT: Final = 100
# Seconds without an event before the live feed sends a comment, so proxies and load balancers
# do not close the connection as idle (many do after 30-60 s). Also the XREAD BLOCK time.
HEARTBEAT_S: Final = 15.0
# Entries per XREAD of the live feed.
SSE_READ_COUNT: Final = 100
# Reconnect delay (ms) the live feed advertises to EventSource clients (`retry:` field).
SSE_RETRY_MS: Final = 3000
# Seconds a client should wait before retrying when Redis is unreachable (503 Retry-After).
RETRY_AFTER_S: Final = 1
# Date part of our `tag:` URIs (RFC 4151): fixed, so that an id, once minted, never changes.
TAG_DATE: Final = "2025"

FORMATS: Final = ("event", "ninjs2", "ninjs3")
ATOM_NS: Final = "http://www.w3.org/2005/Atom"
ATOM_MEDIA_TYPE: Final = "application/atom+xml; charset=utf-8"
EVENT_STREAM_MEDIA_TYPE: Final = "text/event-stream; charset=utf-8"

# A stream entry id as XREAD takes it: milliseconds, optionally "-sequence".
_STREAM_ID = re.compile(r"(\d{1,20})(?:-(\d{1,20}))?")
# Characters XML 1.0 cannot carry at all, not even escaped (control characters, lone surrogates).
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_MAX_U64 = 2**64 - 1


# --------------------------------------------------------------------------------------------
# Request parsing (pure; each raises ValueError with the message the 400 problem shows)
# --------------------------------------------------------------------------------------------


def _positive_int(name: str, value: str, maximum: int | None) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1 or (maximum is not None and number > maximum):
        upper = f"..{maximum}" if maximum is not None else " or more"
        raise ValueError(f"{name} must be an integer 1{upper}, got {value!r}")
    return number


def parse_limit(value: str | None, *, default: int, maximum: int) -> int:
    return default if value is None or value == "" else _positive_int("limit", value, maximum)


def parse_event_limit(value: str | None) -> int | None:
    """How many events the live feed sends before it closes; None: until the client leaves."""
    return None if value is None or value == "" else _positive_int("limit", value, None)


def parse_since(value: str | None) -> int | None:
    """ISO 8601 with a zone, as epoch milliseconds. An unescaped `+` in a query string arrives
    as a space (`...T09:00:00 02:00`), so a last space is read as `+` when that parses."""
    if value is None or value.strip() == "":
        return None
    text = value.strip()
    candidates = [text]
    head, space, tail = text.rpartition(" ")
    if space:
        candidates.append(f"{head}+{tail}")
    for candidate in candidates:
        try:
            parsed = datetime.fromisoformat(candidate)
        except ValueError:
            continue
        if parsed.utcoffset() is None:
            raise ValueError(f"since must include a time zone (e.g. Z or +02:00), got {value!r}")
        return int(parsed.timestamp() * 1000)
    raise ValueError(f"since must be an ISO 8601 date-time with a zone, got {value!r}")


def parse_urgency_max(value: str | None) -> int | None:
    """`?urgency_max=N`: ninjs urgency 1 (most urgent) to 9."""
    if value is None or value == "":
        return None
    return _positive_int("urgency_max", value, 9)


def parse_collapse(value: str | None) -> bool:
    """`?collapse=story`: one row per story (its first copy); nothing else is collapsible."""
    if value is None or value == "":
        return False
    if value != "story":
        raise ValueError("collapse must be 'story'")
    return True


def parse_entity_type(value: str | None) -> EntityType | None:
    if value is None or value == "":
        return None
    try:
        return EntityType(value.strip().lower())
    except ValueError:
        allowed = ", ".join(t.value for t in EntityType)
        raise ValueError(f"type must be one of {allowed}, got {value!r}") from None


def parse_stream_id(value: str) -> str:
    """A full `ms-seq` entry id (a bare `ms` means `ms-0`), or `$` for "only what comes next"."""
    text = value.strip()
    if text == "$":
        return text
    match = _STREAM_ID.fullmatch(text)
    if match is None or int(match[1]) > _MAX_U64 or int(match[2] or 0) > _MAX_U64:
        raise ValueError(f"not a stream entry id (e.g. 1718000000000-0): {value!r}")
    return f"{int(match[1])}-{int(match[2] or 0)}"


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 weak comparison of `If-None-Match` against our (strong) ETag."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in if_none_match.split(","))


# --------------------------------------------------------------------------------------------
# Rendering (pure)
# --------------------------------------------------------------------------------------------


def listing_item(record: IndexRecord) -> dict[str, Any]:
    item = {
        "article_id": record.article_id,
        "version": record.version,
        "title": record.title,
        "url": record.url,
        "published_at": rfc3339(record.listed_ms),
        "event_type": record.event_type.value,
        "entities": record.entity_names(),
    }
    # Only when known, so that items without them keep their shape.
    item |= {k: v for k, v in (("urgency", record.urgency), ("story_id", record.story_id)) if v is not None}
    return item


def sse_message(entry_id: str, event_type: str, data: str) -> bytes:
    """One Server-Sent Events message; a line break in the data becomes another `data:` line."""
    lines = [f"id: {entry_id}", f"event: {event_type}"]
    lines += [f"data: {line}" for line in data.splitlines() or [""]]
    return ("\n".join(lines) + "\n\n").encode()


def tag_uri(authority: str, specific: str) -> str:
    return f"tag:{authority},{TAG_DATE}:{specific}"


def _xml_text(value: str) -> str:
    return _NOT_XML_CHAR.sub("", value)


def _child(parent: ET.Element, tag: str, text: str, attrib: Mapping[str, str] | None = None) -> None:
    element = ET.SubElement(parent, tag, {k: _xml_text(v) for k, v in (attrib or {}).items()})
    element.text = _xml_text(text)


def atom_feed(
    records: Iterable[IndexRecord],
    *,
    feed_id: str,
    title: str,
    self_url: str,
    base_url: str,
    now_ms: int,
) -> bytes:
    """An Atom 1.0 (RFC 4287) document; ElementTree escapes, and characters XML cannot carry
    (control characters) are dropped."""
    records = list(records)
    authority = urlsplit(base_url).hostname or "newsflow.invalid"
    feed = ET.Element("feed", {"xmlns": ATOM_NS})
    _child(feed, "id", feed_id)
    _child(feed, "title", title)
    _child(feed, "updated", rfc3339(max((r.updated_ms for r in records), default=now_ms)))
    _child(feed, "link", "", {"rel": "self", "href": self_url, "type": "application/atom+xml"})
    _child(feed, "link", "", {"rel": "alternate", "href": base_url})
    _child(ET.SubElement(feed, "author"), "name", "newsflow")
    _child(feed, "generator", "newsflow")
    for record in records:
        entry = ET.SubElement(feed, "entry")
        _child(entry, "id", record.uri or tag_uri(authority, f"articles/{record.article_id}"))
        _child(entry, "title", record.title)
        _child(entry, "updated", rfc3339(record.updated_ms))
        _child(entry, "published", rfc3339(record.listed_ms))
        # An entry without content needs an alternate link (RFC 4287 section 4.1.1).
        href = record.url or record.uri or article_uri(base_url, record.article_id)
        _child(entry, "link", "", {"rel": "alternate", "href": href})
        if record.by:
            _child(ET.SubElement(entry, "author"), "name", record.by)
        if record.summary:
            _child(entry, "summary", record.summary)
        seen: set[str] = set()
        for entity in record.entities:
            if entity.id in seen:
                continue
            seen.add(entity.id)
            scheme = tag_uri(authority, f"entity-types/{entity.type.value}")
            _child(entry, "category", "", {"term": entity.id, "label": entity.name, "scheme": scheme})
    document: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return document


# --------------------------------------------------------------------------------------------
# Redis reads
# --------------------------------------------------------------------------------------------


def _is_entry(row: Any) -> bool:
    return isinstance(row, list | tuple) and len(row) == 2 and isinstance(row[0], bytes | str)


def _stream_entries(reply: Any) -> list[tuple[Any, Any]]:
    """XREAD's reply as (entry id, fields) pairs: RESP2 gives [[stream, entries]], RESP3
    {stream: [entries]}."""
    if not reply:
        return []
    entries: list[tuple[Any, Any]] = []
    for _stream, rows in reply.items() if isinstance(reply, dict) else reply:
        if rows and not _is_entry(rows[0]):
            rows = rows[0]
        entries.extend((row[0], row[1]) for row in rows)
    return entries


async def last_entry_id(client: aioredis.Redis) -> str:
    """The newest entry of `articles.published`, so that "from now" has no gap between reads."""
    newest = await client.xrevrange(streams.PUBLISHED, count=1)
    return as_text(newest[0][0]) if newest else "0-0"


async def published_entries(
    client: aioredis.Redis, start_id: str, *, heartbeat_s: float, feed: LiveFeed | None = None
) -> AsyncIterator[list[tuple[str, Fields]]]:
    """Batches of (entry id, fields) of `articles.published` after `start_id`, as they arrive; an
    empty batch when `heartbeat_s` passed with none. Ends on a Redis failure (the client resumes
    from the last id it got) or when cancelled because the client went away.

    With `feed` (the service's shared reader) these reads never block, so a client holds a pooled
    connection only for a moment; without, each client blocks on its own XREAD.
    """
    last = start_id
    block_ms = max(1, int(heartbeat_s * 1000))
    try:
        while True:
            ticket = feed.ticket() if feed is not None else None
            block = None if feed is not None else block_ms
            reply = await client.xread({streams.PUBLISHED: last}, count=SSE_READ_COUNT, block=block)
            entries = [(as_text(entry_id), wire.text_fields(raw)) for entry_id, raw in _stream_entries(reply)]
            if entries:
                last = entries[-1][0]
                yield entries
            elif feed is None or ticket is None or not await feed.wait(ticket, heartbeat_s):
                yield []
    except (RedisConnectionError, RedisTimeoutError) as exc:
        log.warning("event stream ended: redis unreachable", error=repr(exc), last_event_id=last)


async def event_stream(
    client: aioredis.Redis,
    start_id: str,
    *,
    limit: int | None,
    heartbeat_s: float,
    feed: LiveFeed | None = None,
) -> AsyncIterator[bytes]:
    """SSE bytes for entries after `start_id`: each event under its type; ends after `limit`."""
    sent = 0
    yield f"retry: {SSE_RETRY_MS}\n: connected\n\n".encode()
    if limit is not None and limit <= 0:
        return
    async for entries in published_entries(client, start_id, heartbeat_s=heartbeat_s, feed=feed):
        if not entries:
            yield b": heartbeat\n\n"
        for entry_id, fields in entries:
            data = fields.get(streams.FIELD_EVENT)
            if data is None:
                continue  # not a newsflow event; nothing a subscriber could use
            yield sse_message(entry_id, fields.get(streams.FIELD_EVENT_TYPE) or "message", data)
            sent += 1
            if limit is not None and sent >= limit:
                return


def live_feed(
    settings: PublishSettings, client: aioredis.Redis, *, heartbeat_s: float = HEARTBEAT_S
) -> LiveFeed:
    """The process's one shared reader, for every live route (the read API's and the console's)."""
    return LiveFeed(client, max_clients=settings.max_sse_clients, block_s=heartbeat_s)


def feed_full(feed: LiveFeed) -> Response:
    response = problem(503, "Service Unavailable", f"the live feed serves at most {feed.max_clients} clients")
    response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


# --------------------------------------------------------------------------------------------
# Routes
# --------------------------------------------------------------------------------------------


def _bad_request(detail: str) -> Response:
    return problem(400, "Bad Request", detail)


def _unavailable_on_redis_error(handler: Handler) -> Handler:
    async def wrapper(request: Request) -> Response:
        try:
            return await handler(request)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            log.warning("read api: redis unreachable", path=request.url.path, error=repr(exc))
            response = problem(503, "Service Unavailable", "the article store is unreachable; retry shortly")
            response.headers["Retry-After"] = str(RETRY_AFTER_S)
            return response

    return wrapper


def make_routes(
    ctx: HttpContext,
    settings: PublishSettings,
    *,
    heartbeat_s: float = HEARTBEAT_S,
    feed: LiveFeed | None = None,
) -> list[BaseRoute]:
    """The public read API; `heartbeat_s` is the live feed's idle heartbeat in seconds, `feed` the
    process's shared reader (one of its own when not given)."""
    index = PublishIndex(ctx.client)
    feed = feed or live_feed(settings, ctx.client, heartbeat_s=heartbeat_s)
    base_url = settings.public_base_url.rstrip("/")

    async def get_article(request: Request) -> Response:
        article_id = request.path_params["article_id"]
        fmt = request.query_params.get("format") or "event"
        if fmt not in FORMATS:
            return _bad_request(
                f"unknown format {fmt!r}; use ninjs2 or ninjs3, or leave it out for the event"
            )
        async with ctx.client.pipeline(transaction=True) as pipe:
            pipe.hget(streams.PUBLISH_LATEST, article_id)
            if fmt == "ninjs3":
                pipe.hget(streams.PUBLISH_TAGGED, article_id)
            stored: list[bytes | str | None] = await pipe.execute()
        latest = stored[0]
        if latest is None:
            return problem(404, "Not Found", f"no published article with id {article_id!r}")
        event = orjson.loads(latest)
        etag = f'"{event["event_id"]}"'
        headers = {"ETag": etag, "Cache-Control": "no-cache"}
        if etag_matches(request.headers.get("if-none-match"), etag):
            return Response(status_code=304, headers=headers)
        if fmt == "event":
            body = latest.encode() if isinstance(latest, str) else latest
        elif fmt == "ninjs2":
            body = orjson.dumps(event["data"]["ninjs"])
        else:
            tagged = stored[1]
            if tagged is None:
                return problem(404, "Not Found", f"no ninjs 3.1 source stored for article {article_id!r}")
            source = TaggedEvent.model_validate_json(tagged).data
            body = orjson.dumps(to_ninjs(source, ninjs_version="3.1", base_url=base_url))
        return Response(body, media_type="application/json", headers=headers)

    async def list_articles(request: Request) -> Response:
        params = request.query_params
        try:
            cursor_text = params.get("cursor")
            query = ListingQuery(
                entity=(params.get("entity") or "").strip() or None,
                entity_type=parse_entity_type(params.get("type")),
                since_ms=parse_since(params.get("since")),
                limit=parse_limit(params.get("limit"), default=LIST_DEFAULT_LIMIT, maximum=LIST_MAX_LIMIT),
                after=Cursor.decode(cursor_text) if cursor_text else None,
                urgency_max=parse_urgency_max(params.get("urgency_max")),
                collapse_story=parse_collapse(params.get("collapse")),
            )
        except ValueError as exc:
            return _bad_request(str(exc))
        page = await index.page(query)
        next_cursor = page.next_cursor.encode() if page.next_cursor is not None else None
        next_link = None
        headers: dict[str, str] = {}
        if next_cursor is not None:
            kept = [(k, v) for k, v in params.multi_items() if k != "cursor"]
            next_link = f"{request.url.path}?{urlencode([*kept, ('cursor', next_cursor)])}"
            headers["Link"] = f'<{next_link}>; rel="next"'
        body = {
            "items": [listing_item(r) for r in page.records],
            "next_cursor": next_cursor,
            "next": next_link,
        }
        return Response(orjson.dumps(body), media_type="application/json", headers=headers)

    async def live_events(request: Request) -> Response:
        try:
            limit = parse_event_limit(request.query_params.get("limit"))
            resume = request.headers.get("last-event-id") or request.query_params.get("from") or "$"
            start = parse_stream_id(resume)
        except ValueError as exc:
            return _bad_request(str(exc))
        if not feed.join():
            return feed_full(feed)
        try:
            if start == "$":
                # Resolved now, before the response starts, so nothing written after connect is missed.
                start = await last_entry_id(ctx.client)
        except BaseException:
            feed.leave()
            raise

        async def stream() -> AsyncIterator[bytes]:
            async with feed.member():
                async for chunk in event_stream(
                    ctx.client, start, limit=limit, heartbeat_s=heartbeat_s, feed=feed
                ):
                    yield chunk

        return StreamingResponse(
            stream(),
            media_type=EVENT_STREAM_MEDIA_TYPE,
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    async def atom(request: Request) -> Response:
        params = request.query_params
        try:
            entity = (params.get("entity") or "").strip() or None
            entity_type = parse_entity_type(params.get("type"))
            limit = parse_limit(params.get("limit"), default=FEED_DEFAULT_LIMIT, maximum=FEED_MAX_LIMIT)
        except ValueError as exc:
            return _bad_request(str(exc))
        query = ListingQuery(entity=entity, entity_type=entity_type, limit=limit)
        page = await index.page(query)
        filters = [(k, v) for k, v in (("entity", entity), ("type", entity_type)) if v]
        feed_id = f"{base_url}/v1/feed.atom" + (f"?{urlencode(filters)}" if filters else "")
        title = (
            "newsflow"
            + (f": {entity}" if entity else "")
            + (f" ({entity_type.value})" if entity_type else "")
        )
        body = atom_feed(
            page.records,
            feed_id=feed_id,
            title=title,
            # From the public base URL, never the request's Host header (which the client chose).
            self_url=feed_id,
            base_url=base_url,
            now_ms=int(time.time() * 1000),
        )
        return Response(body, media_type=ATOM_MEDIA_TYPE)

    def public(handler: Handler) -> Handler:
        return guarded(ctx, _unavailable_on_redis_error(handler))

    routes: Sequence[tuple[str, Handler]] = (
        ("/v1/articles", list_articles),
        ("/v1/articles/{article_id}", get_article),
        ("/v1/events", live_events),
        ("/v1/feed.atom", atom),
    )
    return [Route(path, public(handler), methods=["GET"]) for path, handler in routes]
