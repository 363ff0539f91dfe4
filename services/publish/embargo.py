"""Embargoes: publish holds an article until its `embargoed_until`, then releases it once.

State lives in Redis (keys in `shared.streams`), so a restart or another replica loses nothing:
a sorted set of article ids by release time (epoch ms), the held version's tagged event and its
version number. Holding is written by the publish stage with the acknowledgement of its input,
in the same transaction. Releasing is one function call (`functions.EMBARGO_RELEASE`) that checks
the held version is still the one read, drops it from the queue and then runs the very code of the
exactly-once version guard (`functions.GUARDED_XADD`): replicas racing on the same due article
publish it once, and a version superseded meanwhile is dropped, never published.

A later version may move the embargo (it replaces the held one) or lift it (it is published at
once, and the held one is re-queued as due now, where the guard discards it as stale).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from redis.exceptions import RedisError

from services.publish.changes import previously_shown
from services.publish.logic import event_type_for, published_event
from shared import streams, wire
from shared.events import PubStatus, RawArticle, TaggedArticle, TaggedEvent
from shared.logging import get_logger
from shared.runtime import functions
from shared.runtime.consumer import Op, Retention
from shared.wire import as_text

log = get_logger(__name__)

RELEASE_BATCH: Final = 100  # due articles taken per poll; the rest wait one poll interval
LATE_AFTER_MS: Final = 1_000  # a release more than 1 s after its time counts as late
RELEASE_LAG_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 30, 300)


def is_held(article: RawArticle, now: datetime) -> bool:
    """A usable article whose embargo lies ahead. A withdrawal is never held: a kill must not wait."""
    until = article.embargoed_until
    return article.pubstatus is PubStatus.USABLE and until is not None and until > now


def epoch_ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


@dataclass(frozen=True)
class Due:
    article_id: str
    due_ms: int
    event_json: str
    version: int


class EmbargoMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.held = Gauge(
            "newsflow_embargo_held", "Articles held under embargo, not yet released.", registry=registry
        )
        self.released = Counter(
            "newsflow_embargo_released_total", "Embargoed articles released (published).", registry=registry
        )
        self.late = Counter(
            "newsflow_embargo_late_releases_total",
            f"Releases more than {LATE_AFTER_MS} ms after the embargo time.",
            registry=registry,
        )
        self.lag = Histogram(
            "newsflow_embargo_release_lag_seconds",
            "Seconds from the embargo time to the release.",
            buckets=RELEASE_LAG_BUCKETS,
            registry=registry,
        )


class EmbargoReleaser:
    """Publishes due held articles; every publish replica runs one, and they may race safely."""

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        base_url: str,
        retention: Retention,
        metrics: EmbargoMetrics | None = None,
    ) -> None:
        self.client = client
        self.base_url = base_url
        self.retention = retention
        self.metrics = metrics

    async def due(self, now_ms: int) -> list[Due]:
        pipe = self.client.pipeline(transaction=False)
        pipe.zrangebyscore(
            streams.PUBLISH_EMBARGO_DUE, "-inf", now_ms, start=0, num=RELEASE_BATCH, withscores=True
        )
        pipe.zcard(streams.PUBLISH_EMBARGO_DUE)
        rows, held = await pipe.execute()
        if self.metrics is not None:
            self.metrics.held.set(int(held))
        if not rows:
            return []
        ids = [as_text(member) for member, _ in rows]
        events = await self.client.hmget(streams.PUBLISH_EMBARGO_HELD, ids)  # type: ignore[misc]
        due = []
        for (_, score), article_id, event_json in zip(rows, ids, events, strict=True):
            if event_json is None:
                continue  # released by another replica between the two reads
            text = as_text(event_json)
            version = TaggedEvent.model_validate_json(text).article_version
            due.append(Due(article_id, int(score), text, version))
        return due

    async def release_once(self, now: datetime | None = None) -> int:
        """Release what is due; returns how many this call published."""
        now = now or datetime.now(UTC)
        now_ms = epoch_ms(now)
        due = await self.due(now_ms)
        if not due:
            return 0
        ids = [d.article_id for d in due]
        pipe = self.client.pipeline(transaction=False)
        pipe.hmget(streams.PUBLISH_VERSIONS, ids)
        pipe.hmget(streams.PUBLISH_TAGGED, ids)
        stored, stored_tagged = await pipe.execute()
        shown = previously_shown(ids, stored_tagged)
        released = 0
        for item, current in zip(due, stored, strict=True):
            version = int(current) if current is not None else None
            released += await self._release(item, version, shown.get(item.article_id), now)
        return released

    async def _release(
        self, item: Due, published_version: int | None, previous: TaggedArticle | None, now: datetime
    ) -> int:
        event = TaggedEvent.model_validate_json(item.event_json)
        event_type = event_type_for(published_version, event.data.article)
        keys = [
            streams.PUBLISH_VERSIONS,
            streams.PUBLISH_LATEST,
            streams.PUBLISHED,
            streams.PUBLISH_TAGGED,
            streams.PUBLISH_EMBARGO_DUE,
            streams.PUBLISH_EMBARGO_HELD,
            streams.PUBLISH_EMBARGO_VERSIONS,
        ]
        if event_type is None:
            # Superseded by a published version: the guard will refuse it; drop it from the queue.
            fields: dict[str, str] = {}
            latest = ""
        else:
            out = published_event(
                event,
                event_type,
                base_url=self.base_url,
                published_at=now,
                previous=previous,
                traceparent=event.traceparent,
            )
            fields = wire.encode(out)
            latest = fields[streams.FIELD_EVENT]
        trim = self.retention.lua_args(epoch_ms(now))
        args: list[str | int] = [
            item.article_id,
            item.version,
            latest,
            1,
            item.event_json,
            len(trim),
            *trim,
            *(value for pair in fields.items() for value in pair),
        ]
        result = int(await functions.fcall(self.client, functions.EMBARGO_RELEASE, keys, args))
        if result != 1:
            return 0
        lag_s = max(0.0, (epoch_ms(now) - item.due_ms) / 1000)
        if self.metrics is not None:
            self.metrics.released.inc()
            self.metrics.lag.observe(lag_s)
            if lag_s * 1000 > LATE_AFTER_MS:
                self.metrics.late.inc()
        log.info(
            "embargo released",
            article_id=item.article_id,
            article_version=item.version,
            correlation_id=event.correlation_id,
            late_by_s=round(lag_s, 3),
        )
        return 1

    async def run(self, stop: asyncio.Event, *, interval_s: float) -> None:
        """Poll every `interval_s` seconds until `stop` is set; Redis errors wait for the next poll."""
        while not stop.is_set():
            started = time.monotonic()
            try:
                while await self.release_once() >= RELEASE_BATCH:
                    pass
            except RedisError as exc:
                log.warning("embargo release failed; retrying", error=repr(exc))
            remaining = interval_s - (time.monotonic() - started)
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=max(remaining, 0.001))


def hold_writes(event_json: str, article: RawArticle) -> tuple[Op, ...]:
    """The ops of an `Emit` that holds this version until its embargo time."""
    assert article.embargoed_until is not None
    article_id, due = article.article_id, streams.PUBLISH_EMBARGO_DUE
    return (
        Op(streams.PUBLISH_EMBARGO_HELD, "hset", (streams.PUBLISH_EMBARGO_HELD, article_id, event_json)),
        Op(
            streams.PUBLISH_EMBARGO_VERSIONS,
            "hset",
            (streams.PUBLISH_EMBARGO_VERSIONS, article_id, str(article.version)),
        ),
        Op(due, "zadd", (due, {article_id: float(epoch_ms(article.embargoed_until))})),
    )


def lift_writes(article_id: str) -> tuple[Op, ...]:
    """The op that makes a held, now superseded, version due at once (the release drops it)."""
    due = streams.PUBLISH_EMBARGO_DUE
    return (Op(due, "zadd", (due, {article_id: 0.0})),)


def held_versions_of(ids: Sequence[str], stored: Sequence[bytes | str | None]) -> dict[str, int]:
    return {i: int(v) for i, v in zip(ids, stored, strict=True) if v is not None}
