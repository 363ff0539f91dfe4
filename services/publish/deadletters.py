"""Dead letters: read, describe, replay and purge them (the `newsflow dlq` CLI and the console share this).

Two kinds of dead-letter stream:
- `articles.dlq`: entries a stage rejected or gave up on. Replay puts the original entry, byte
  for byte, back on its `source_stream` (articles.inbound, .raw or .tagged) and deletes the dead
  letter, in one atomic script that first checks the dead letter is still there, so two people
  replaying at once cannot both re-submit it.
- `articles.webhooks.dlq:<name>`: deliveries a webhook subscriber never accepted. Replay
  re-delivers to that subscriber only (one attempt series, same signing and retry policy, to the
  URL in the webhook config, never one read from the dead letter) and deletes the dead letter on
  success. Re-adding to articles.published instead would notify every subscriber again.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import httpx
import orjson
import redis.asyncio as aioredis

from services.publish.webhooks import (
    WEBHOOK_DLQ_PREFIX,
    WEBHOOK_GROUP_PREFIX,
    Deliverer,
    WebhookConfigError,
    load_subscribers,
    read_secrets,
)
from shared import streams, wire
from shared.deadletter import DeadLetterError as DeadLetterError
from shared.deadletter import original_fields
from shared.events import PublishedEvent
from shared.runtime import functions
from shared.wire import as_text, text_fields

# Entries read per XRANGE while scanning a dead-letter stream.
PAGE_SIZE: Final = 500
# Streams a dead letter may be replayed onto. articles.published is not one: see the module doc.
REPLAYABLE_STREAMS: Final = frozenset({streams.INBOUND, streams.RAW, streams.TAGGED})


@dataclass(frozen=True, slots=True)
class DeadLetterEntry:
    stream: str
    entry_id: str
    fields: dict[str, str]

    @property
    def failed_at(self) -> datetime:
        try:
            return datetime.fromisoformat(self.fields["failed_at"])
        except (KeyError, ValueError):
            return datetime.fromtimestamp(int(self.entry_id.split("-")[0]) / 1000, UTC)

    def summary(self) -> dict[str, str]:
        """Everything but the payload."""
        rest = {k: v for k, v in self.fields.items() if k not in ("payload", "payload_encoding")}
        return {"id": self.entry_id, "stream": self.stream, **rest}


@dataclass(frozen=True, slots=True)
class ReplayResult:
    entry_id: str
    outcome: str  # "replayed", "failed" or "skipped"
    detail: str
    subscriber_down: bool = False  # a webhook subscriber still failing after a whole attempt series


@dataclass(slots=True)
class ReplaySummary:
    results: list[ReplayResult] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(1 for r in self.results if r.outcome == outcome)

    def line(self) -> str:
        return (
            f"replayed {self.count('replayed')}, failed {self.count('failed')}, "
            f"skipped {self.count('skipped')}"
        )


def is_dead_letter_stream(stream: str) -> bool:
    return stream == streams.DLQ or (stream.startswith(WEBHOOK_DLQ_PREFIX) and stream != WEBHOOK_DLQ_PREFIX)


def _readable(value: bytes) -> Any:
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(value).decode()}
    if text[:1] in ("{", "["):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return text


def describe(entry: DeadLetterEntry) -> dict[str, Any]:
    """Everything in the dead letter, its payload decoded (JSON values parsed) for reading."""
    doc: dict[str, Any] = entry.summary()
    if "payload_encoding" in entry.fields:
        doc["payload_encoding"] = entry.fields["payload_encoding"]
    try:
        doc["payload"] = {k: _readable(v) for k, v in original_fields(entry.fields, allow_head=True).items()}
    except DeadLetterError as exc:
        doc["payload"] = entry.fields.get("payload")
        doc["payload_error"] = str(exc)
    return doc


# --- reading ------------------------------------------------------------------------------------


def _entry(stream: str, entry_id: bytes | str, raw: Mapping[bytes, bytes]) -> DeadLetterEntry:
    eid = as_text(entry_id)
    return DeadLetterEntry(stream, eid, text_fields(dict(raw)))


async def iter_dead_letters(
    client: aioredis.Redis, stream: str, *, code: str | None = None, newest_first: bool = False
) -> AsyncIterator[DeadLetterEntry]:
    """Every entry of `stream` (with `code`, when given), a page at a time."""
    cursor: str | None = None
    while True:
        if newest_first:
            page = await client.xrevrange(stream, max=f"({cursor}" if cursor else "+", count=PAGE_SIZE)
        else:
            page = await client.xrange(stream, min=f"({cursor}" if cursor else "-", count=PAGE_SIZE)
        for entry_id, raw in page:
            entry = _entry(stream, entry_id, raw)
            cursor = entry.entry_id
            if code is None or entry.fields.get("code") == code:
                yield entry
        if len(page) < PAGE_SIZE:
            return


async def list_dead_letters(
    client: aioredis.Redis, stream: str, *, limit: int, code: str | None = None
) -> list[DeadLetterEntry]:
    """The newest `limit` dead letters, newest first."""
    found: list[DeadLetterEntry] = []
    async for entry in iter_dead_letters(client, stream, code=code, newest_first=True):
        found.append(entry)
        if len(found) >= limit:
            break
    return found


async def get_dead_letter(client: aioredis.Redis, stream: str, entry_id: str) -> DeadLetterEntry | None:
    page = await client.xrange(stream, min=entry_id, max=entry_id, count=1)
    return _entry(stream, page[0][0], page[0][1]) if page else None


async def dead_letter_streams(client: aioredis.Redis) -> list[tuple[str, int]]:
    """`articles.dlq` and every webhook dead-letter stream, with their lengths."""
    names = {streams.DLQ}
    async for key in client.scan_iter(match=f"{WEBHOOK_DLQ_PREFIX}*", _type="STREAM", count=1000):
        names.add(as_text(key))
    return [(name, int(await client.xlen(name))) for name in sorted(names)]


# --- replay -------------------------------------------------------------------------------------


DelivererFor = Callable[[str], Awaitable[Deliverer]]


def _webhook_target(entry: DeadLetterEntry) -> str | None:
    """The subscriber a dead letter is a failed delivery to, if it is one."""
    if entry.stream.startswith(WEBHOOK_DLQ_PREFIX):
        return entry.stream.removeprefix(WEBHOOK_DLQ_PREFIX)
    stage = entry.fields.get("stage", "")
    if entry.fields.get("source_stream") == streams.PUBLISHED and stage.startswith(WEBHOOK_GROUP_PREFIX):
        return stage.removeprefix(WEBHOOK_GROUP_PREFIX)
    return None


async def replay_entry(
    client: aioredis.Redis, entry: DeadLetterEntry, *, deliverer_for: DelivererFor
) -> ReplayResult:
    """Re-submit one dead letter (see the module doc); never raises for a bad dead letter."""
    try:
        original = original_fields(entry.fields)
        subscriber = _webhook_target(entry)
        if subscriber is not None:
            return await _redeliver(client, entry, original, await deliverer_for(subscriber))
        target = entry.fields.get("source_stream", "")
        if target == streams.PUBLISHED:
            return ReplayResult(
                entry.entry_id,
                "skipped",
                f"not replayed onto {streams.PUBLISHED}: every subscriber would get it again",
            )
        if streams.base_of(target) not in REPLAYABLE_STREAMS:
            return ReplayResult(entry.entry_id, "skipped", f"unknown source stream {target!r}")
    except (DeadLetterError, WebhookConfigError) as exc:
        return ReplayResult(entry.entry_id, "skipped", str(exc))
    flat = [item for pair in original.items() for item in pair]
    keys = [entry.stream, target]
    new_id = await functions.fcall(client, functions.DLQ_MOVE_BACK, keys, [entry.entry_id, *flat])
    if new_id is None:
        return ReplayResult(entry.entry_id, "skipped", "gone: replayed or purged meanwhile")
    shown = new_id.decode() if isinstance(new_id, bytes) else str(new_id)
    return ReplayResult(entry.entry_id, "replayed", f"-> {target} {shown}")


async def _redeliver(
    client: aioredis.Redis, entry: DeadLetterEntry, original: Mapping[str, bytes], deliverer: Deliverer
) -> ReplayResult:
    try:
        # Only a well-formed published event goes out (a rejected one may be in articles.dlq).
        event = wire.decode({k: v.decode("utf-8", "replace") for k, v in original.items()}, PublishedEvent)
    except wire.WireError as exc:
        raise DeadLetterError(f"not re-delivered: {exc}") from exc
    result = await deliverer.deliver(
        original[streams.FIELD_EVENT], event_id=event.event_id, event_type=event.event_type.value
    )
    if not result.delivered:
        detail = f"{deliverer.sub.name}: {result.describe()}"
        return ReplayResult(entry.entry_id, "failed", detail, subscriber_down=not result.permanent)
    await client.xdel(entry.stream, entry.entry_id)
    return ReplayResult(entry.entry_id, "replayed", f"-> {deliverer.sub.name}: {result.describe()}")


async def replay(
    client: aioredis.Redis,
    stream: str,
    *,
    entry_id: str | None = None,
    code: str | None = None,
    deliverer_for: DelivererFor,
) -> ReplaySummary:
    """Replay one dead letter (`entry_id`), or all of `stream` (with `code`), oldest first.

    Once a subscriber still fails after a whole attempt series, the rest of its dead letters are
    left alone rather than tried one slow series after another.
    """
    summary = ReplaySummary()
    if entry_id is not None:
        entry = await get_dead_letter(client, stream, entry_id)
        if entry is None:
            raise DeadLetterError(f"no dead letter {entry_id} in {stream}")
        summary.results.append(await replay_entry(client, entry, deliverer_for=deliverer_for))
        return summary
    down: set[str] = set()
    async for entry in iter_dead_letters(client, stream, code=code):
        subscriber = _webhook_target(entry)
        if subscriber in down:
            summary.results.append(ReplayResult(entry.entry_id, "skipped", f"{subscriber} still failing"))
            continue
        result = await replay_entry(client, entry, deliverer_for=deliverer_for)
        if subscriber is not None and result.subscriber_down:
            down.add(subscriber)
        summary.results.append(result)
    return summary


class WebhookTargets:
    """Deliverers for the subscribers in the webhook config, built on first use."""

    def __init__(
        self,
        config_path: Path | None,
        http: httpx.AsyncClient,
        *,
        env: Mapping[str, str] | None = None,
        **deliverer_kwargs: Any,
    ) -> None:
        self._path = config_path
        self._http = http
        self._env = env
        self._kwargs = deliverer_kwargs
        self._cache: dict[str, Deliverer] = {}

    async def __call__(self, name: str) -> Deliverer:
        if name in self._cache:
            return self._cache[name]
        if self._path is None:
            raise WebhookConfigError(
                "no webhook config: set NEWSFLOW_PUBLISH_WEBHOOKS_PATH or pass --webhooks"
            )
        subscribers = {s.name: s for s in load_subscribers(self._path)}
        sub = subscribers.get(name)
        if sub is None:
            raise WebhookConfigError(f"webhook subscriber {name!r} is not in {self._path}")
        secret = read_secrets([sub], self._env)[sub.name]
        self._cache[name] = Deliverer(sub, secret=secret, http=self._http, **self._kwargs)
        return self._cache[name]


async def purge(client: aioredis.Redis, stream: str, *, older_than_days: float, now: datetime) -> int:
    """Delete dead letters added more than `older_than_days` ago; returns how many."""
    cutoff_ms = int(now.timestamp() * 1000 - older_than_days * 86_400_000)
    # Exact MINID (not `~`): https://redis.io/docs/latest/commands/xtrim/
    return int(await client.xtrim(stream, minid=f"{max(cutoff_ms, 0)}-0", approximate=False))
