"""`newsflow tail`: follow articles.published, from a point in time or through a consumer group."""

from __future__ import annotations

from datetime import datetime

from redis.exceptions import ResponseError

from newsflow.settings import redis_client
from newsflow.summary import render
from shared import streams, wire
from shared.events import PublishedEvent
from shared.runtime.consumer import unique_consumer_name

BLOCK_MS = 1_000


def start_id(from_id: str | None, since: str | None) -> str:
    """An XREAD id: an explicit id, a time (stream ids are milliseconds since the epoch), or `$`."""
    if from_id:
        return from_id
    if since:
        when = datetime.fromisoformat(since.replace("Z", "+00:00"))
        if when.tzinfo is None:
            raise ValueError(f"--since needs a time zone (e.g. {since}Z): {since}")
        return f"{int(when.timestamp() * 1000) - 1}-0"
    return "$"


async def run_tail(
    redis_url: str,
    *,
    group: str | None,
    from_id: str | None,
    since: str | None,
    as_json: bool,
    follow: bool,
    count: int | None,
) -> int:
    client = redis_client(redis_url)
    shown = 0
    cursor = start_id(from_id, since)
    consumer = unique_consumer_name("tail") if group else ""
    try:
        if group:
            try:
                await client.xgroup_create(
                    streams.PUBLISHED, group, id=cursor if cursor != "$" else "$", mkstream=True
                )
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
        while count is None or shown < count:
            if group:
                reply = await client.xreadgroup(
                    group,
                    consumer,
                    {streams.PUBLISHED: ">"},
                    count=100,
                    block=BLOCK_MS if follow else None,
                )
            else:
                reply = await client.xread(
                    {streams.PUBLISHED: cursor}, count=100, block=BLOCK_MS if follow else None
                )
            if not reply:
                if not follow:
                    break
                continue
            for _, entries in reply:
                for entry_id, raw in entries:
                    cursor = entry_id.decode()
                    event = wire.decode(wire.text_fields(raw), PublishedEvent)
                    print(event.model_dump_json() if as_json else render(event) + "\n", flush=True)
                    if group:
                        await client.xack(streams.PUBLISHED, group, entry_id)
                    shown += 1
                    if count is not None and shown >= count:
                        return shown
    finally:
        await client.aclose()
    return shown
