"""Publish's stages: tagged events become published events (each article version once); the listing
index kept in step with articles.published; one webhook subscriber fed per stage."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry, Counter

from services.publish.changes import Shown, previously_shown
from services.publish.embargo import held_versions_of, hold_writes, is_held, lift_writes
from services.publish.listing import INDEX_PREFIX, PublishIndex
from services.publish.logic import event_type_for, published_fields
from services.publish.ninjs import schema_problem
from services.publish.settings import PublishSettings
from services.publish.views import IndexedEvent, TaggedEventView
from services.publish.webhooks import (
    Deliverer,
    DeliveryResult,
    Sleep,
    WebhookConfigError,
    WebhookSubscriber,
    load_subscribers,
    matches,
    new_http_client,
    read_secrets,
    webhook_dead_letter,
)
from shared import streams, wire
from shared.events import PublishedEvent, TaggedEvent
from shared.logging import get_logger
from shared.runtime.consumer import (
    Delivery,
    Emit,
    Outcome,
    Output,
    Reject,
    Retry,
    Skip,
    Stage,
    VersionGuard,
    decode_events,
)
from shared.runtime.tracing import NO_TRACING, Tracing

log = get_logger(__name__)


class NinjsCheck:
    """Checks 1 in `every` published ninjs documents against the models (0: none). The documents
    are built as plain dicts (tests hold each mapping to the official schemas); this catches at
    run time what the tests did not foresee, logged and counted, without blocking the article."""

    def __init__(self, every: int, registry: CollectorRegistry | None = None) -> None:
        self.every = every
        self.seen = 0
        self.invalid = Counter(
            "newsflow_ninjs_invalid_total",
            "Sampled published ninjs documents that failed the check against the ninjs models.",
            registry=registry if registry is not None else CollectorRegistry(),
        )

    def __call__(self, event: PublishedEvent) -> str | None:
        """The problem of the event's document when it is one of the sample, else None."""
        return self.document(event.data.ninjs, article_id=event.article_id, version=event.article_version)

    def document(self, ninjs: dict[str, Any], *, article_id: str, version: int) -> str | None:
        """The same check, of a document given with the article it belongs to."""
        self.seen += 1
        if not self.every or self.seen % self.every:
            return None
        problem = schema_problem(ninjs, "2.2")
        if problem is not None:
            self.invalid.inc()
            log.error(
                "published ninjs document failed the sampled check",
                article_id=article_id,
                article_version=version,
                problem=problem,
            )
        return problem


class PublishStage:
    name = "publish"

    def __init__(
        self,
        client: aioredis.Redis,
        settings: PublishSettings,
        tracing: Tracing = NO_TRACING,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.client = client
        self.settings = settings
        self.tracing = tracing
        self.check = NinjsCheck(settings.ninjs_check_every, registry)

    async def process(self, batch: Sequence[Delivery]) -> Sequence[Outcome]:
        decoded = [_decode_tagged(delivery) for delivery in batch]
        ids = sorted({e[0].article_id for e in decoded if not isinstance(e, Reject)})
        published: dict[str, int] = {}
        held: dict[str, int] = {}
        shown: dict[str, Shown] = {}
        if ids:
            pipe = self.client.pipeline(transaction=False)
            pipe.hmget(streams.PUBLISH_VERSIONS, ids)
            pipe.hmget(streams.PUBLISH_EMBARGO_VERSIONS, ids)
            pipe.hmget(streams.PUBLISH_TAGGED, ids)
            stored, stored_held, stored_tagged = await pipe.execute()
            published = {i: int(v) for i, v in zip(ids, stored, strict=True) if v is not None}
            held = held_versions_of(ids, stored_held)
            shown = dict(previously_shown(ids, stored_tagged))

        now = datetime.now(UTC)
        outcomes: list[Outcome] = []
        for delivery, item in zip(batch, decoded, strict=True):
            if isinstance(item, Reject):
                outcomes.append(item)
                continue
            event, tagged_json = item
            article = event.data.article
            previous = published.get(event.article_id)
            event_type = event_type_for(previous, article)
            if event_type is None:
                outcomes.append(
                    Skip(
                        f"version {article.version} not newer than published {previous}",
                        article_id=event.article_id,
                    )
                )
                continue
            held_version = held.get(event.article_id)
            if held_version is not None and article.version < held_version:
                outcomes.append(
                    Skip(
                        f"version {article.version} older than held {held_version}",
                        article_id=event.article_id,
                    )
                )
                continue
            if is_held(article, now):
                # The release decodes the held event in full: one it could not read is refused
                # here, as the view reads less of it (embargoes are few; this costs nothing).
                try:
                    wire.decode(delivery.fields, TaggedEvent)
                except wire.WireError as exc:
                    outcomes.append(Reject(str(exc), "invalid_event", article_id=event.article_id))
                    continue
                held[event.article_id] = article.version
                outcomes.append(
                    Emit(
                        (),
                        ops=hold_writes(delivery.fields[streams.FIELD_EVENT], article),
                        article_id=event.article_id,
                    )
                )
                log.info(
                    "held under embargo",
                    article_id=event.article_id,
                    article_version=article.version,
                    correlation_id=event.correlation_id,
                    embargoed_until=article.embargoed_until.isoformat() if article.embargoed_until else None,
                )
                continue
            with self.tracing.span(
                "publish", parent=event.traceparent, attributes={"article_id": event.article_id}
            ) as span:
                out = published_fields(
                    event,
                    tagged_json,
                    event_type,
                    base_url=self.settings.public_base_url,
                    published_at=now,
                    previous=shown.get(event.article_id),
                    traceparent=span.traceparent,
                )
            self.check.document(out.ninjs, article_id=event.article_id, version=event.article_version)
            fields = out.fields
            published[event.article_id] = article.version  # later entries in this batch see it
            shown[event.article_id] = event.data
            guard = VersionGuard(
                versions_key=streams.PUBLISH_VERSIONS,
                latest_key=streams.PUBLISH_LATEST,
                article_id=event.article_id,
                version=article.version,
                latest_value=fields[streams.FIELD_EVENT],
                # The input as read: kept for ninjs 3.1 on request, at no cost here.
                also_set=((streams.PUBLISH_TAGGED, delivery.fields[streams.FIELD_EVENT]),),
            )
            # A held older version (the embargo lifted) is made due now; its release finds it stale.
            lifted = lift_writes(event.article_id) if held_version is not None else ()
            outcomes.append(
                Emit(
                    (Output(streams.PUBLISHED, fields),),
                    guard=guard,
                    article_id=event.article_id,
                    ops=lifted,
                )
            )
            log.info(
                "published",
                article_id=event.article_id,
                article_version=event.article_version,
                correlation_id=event.correlation_id,
                trace_id=span.trace_id,
                event_type=out.event_type.value,
            )
        return outcomes


def _decode_tagged(delivery: Delivery) -> tuple[TaggedEventView, dict[str, Any]] | Reject:
    """The delivery's tagged event as publish reads it, with its JSON, or why it is not one."""
    try:
        return wire.decode_with_json(delivery.fields, TaggedEventView)
    except wire.WireError as exc:
        return Reject(str(exc), "invalid_event")


class PublishIndexStage:
    """Keeps the listing index in step with what was published, updated or withdrawn."""

    name = "publish-index"

    def __init__(
        self, client: aioredis.Redis, *, prefix: str = INDEX_PREFIX, retention_days: float | None = None
    ) -> None:
        self.index = PublishIndex(client, prefix=prefix, retention_days=retention_days)

    async def process(self, batch: Sequence[Delivery]) -> Sequence[Outcome]:
        events = decode_events(batch, IndexedEvent)
        newest: dict[str, IndexedEvent] = {}
        for event in events:
            if isinstance(event, Reject):
                continue
            held = newest.get(event.article_id)
            if held is None or event.article_version >= held.article_version:
                newest[event.article_id] = event
        changed_flags, merged, reads = await self.index.plan_batch(list(newest.values()))
        changed = {id(e) for e, c in zip(newest.values(), changed_flags, strict=True) if c}
        # The batch commits in one transaction, so the whole batch's index writes and every read
        # they rest on ride on its first Emit, one command per sorted set (see `plan_batch`).
        outcomes: list[Outcome] = []
        for event in events:
            if isinstance(event, Reject):
                outcomes.append(event)
            elif id(event) in changed:
                outcomes.append(Emit((), article_id=event.article_id, ops=merged, reads=tuple(reads)))
                merged, reads = (), []
            else:
                outcomes.append(Skip("already indexed", article_id=event.article_id))
        log.debug("listing index planned", events=len(newest), changed=len(changed))
        return outcomes


class WebhookStage:
    """Delivers the events one subscriber wants from `articles.published` (a runtime `Stage`)."""

    def __init__(
        self,
        sub: WebhookSubscriber,
        *,
        secret: str,
        http: httpx.AsyncClient,
        redis: aioredis.Redis,
        max_deliveries: int,
        batch_budget_s: float,
        sleep: Sleep = asyncio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if sub.timeout_s >= batch_budget_s:
            raise WebhookConfigError(
                f"webhook subscriber {sub.name!r}: timeout_s ({sub.timeout_s:g}) must be below the batch "
                f"budget ({batch_budget_s:g} s, half of reclaim_idle_ms)"
            )
        self.name = sub.stage_name
        self.sub = sub
        self.deliverer = Deliverer(sub, secret=secret, http=http, sleep=sleep, rand=rand)
        self.redis = redis
        self.max_deliveries = max_deliveries
        self.batch_budget_s = batch_budget_s
        self._log = log.bind(stage=self.name, subscriber=sub.name)

    async def process(self, batch: Sequence[Delivery]) -> Sequence[Outcome]:
        deadline = asyncio.get_running_loop().time() + self.batch_budget_s
        outcomes: list[Outcome | None] = [None] * len(batch)
        events: dict[int, PublishedEvent] = {}
        for i, delivery in enumerate(batch):
            try:
                events[i] = wire.decode(delivery.fields, PublishedEvent)
            except wire.WireError as exc:
                outcomes[i] = Reject(str(exc), code="invalid_event")
        followed = await self._followed({e.article_id for e in events.values()})
        chains: dict[str, list[int]] = {}
        for i, event in events.items():
            if not matches(self.sub.filter, event, followed=event.article_id in followed):
                outcomes[i] = Skip(f"not for {self.sub.name} ({event.event_type.value})", event.article_id)
                continue
            if self.sub.filter.entities:
                followed.add(event.article_id)  # its later events in this batch follow it too
            chains.setdefault(event.article_id, []).append(i)
        done = await asyncio.gather(
            *(self._deliver_chain(batch, events, indexes, deadline) for indexes in chains.values())
        )
        for indexes, chain_outcomes in zip(chains.values(), done, strict=True):
            for i, outcome in zip(indexes, chain_outcomes, strict=True):
                outcomes[i] = outcome
        return [o for o in outcomes if o is not None]

    async def _followed(self, article_ids: set[str]) -> set[str]:
        if not self.sub.filter.entities or not article_ids:
            return set()
        ordered = sorted(article_ids)
        values = await self.redis.hmget(self.sub.followed_key, ordered)  # type: ignore[misc]
        return {aid for aid, value in zip(ordered, values, strict=True) if value is not None}

    async def _deliver_chain(
        self,
        batch: Sequence[Delivery],
        events: Mapping[int, PublishedEvent],
        indexes: Sequence[int],
        deadline: float,
    ) -> list[Outcome]:
        """One article's events, in order: a later one waits for the earlier to be settled."""
        outcomes: list[Outcome] = []
        held_back: str | None = None
        for i in indexes:
            delivery, event = batch[i], events[i]
            if held_back is not None:
                result = DeliveryResult(delivered=False, attempts=0, error=held_back, out_of_time=True)
            else:
                result = await self.deliverer.deliver(
                    delivery.fields[streams.FIELD_EVENT].encode("utf-8"),
                    event_id=event.event_id,
                    event_type=event.event_type.value,
                    deadline=deadline,
                )
            outcome = self._settle(delivery, event, result)
            if isinstance(outcome, Retry):
                held_back = f"not attempted: an earlier event of article {event.article_id} is pending"
            outcomes.append(outcome)
        return outcomes

    def _settle(self, delivery: Delivery, event: PublishedEvent, result: DeliveryResult) -> Outcome:
        hset = (
            ((self.sub.followed_key, event.article_id, str(event.article_version)),)
            if self.sub.filter.entities
            else ()
        )
        bound = self._log.bind(
            article_id=event.article_id,
            article_version=event.article_version,
            event_id=event.event_id,
            correlation_id=event.correlation_id,
            attempts=result.attempts,
        )
        if result.delivered:
            bound.info("webhook delivered", status=result.status)
            return Emit((), hset=hset, article_id=event.article_id)
        if result.out_of_time and delivery.delivery_count < self.max_deliveries:
            bound.warning("webhook delivery postponed", reason=result.describe())
            return Retry(result.describe(), article_id=event.article_id)
        if result.destination_refused:
            code = "destination_refused"
        elif result.permanent:
            code = "refused"
        elif result.out_of_time:
            code = "out_of_time"
        else:
            code = "retries_exhausted"
        fields = webhook_dead_letter(self.sub, delivery, result, code=code, reason=result.describe())
        bound.error(
            "webhook delivery parked", stream=self.sub.dlq_stream, code=code, reason=result.describe()
        )
        return Emit((Output(self.sub.dlq_stream, fields),), hset=hset, article_id=event.article_id)


WebhookConsumer = tuple[str, str, Stage]


def webhook_consumers(
    client: aioredis.Redis,
    settings: PublishSettings,
    *,
    http: httpx.AsyncClient | None = None,
    env: Mapping[str, str] | None = None,
) -> list[WebhookConsumer]:
    """(input stream, group, stage) for every configured subscriber; none without `webhooks_path`.

    Fails fast (`WebhookConfigError`) on a bad file or a missing secret. `http` defaults to one
    shared `new_http_client()` that lives as long as the process; pass your own to close it.
    """
    if settings.webhooks_path is None:
        return []
    subscribers = load_subscribers(settings.webhooks_path)
    if not subscribers:
        return []
    secrets = read_secrets(subscribers, env)
    http = http or new_http_client()
    budget_s = settings.reclaim_idle_ms / 1000 / 2
    return [
        (
            streams.PUBLISHED,
            sub.group,
            WebhookStage(
                sub,
                secret=secrets[sub.name],
                http=http,
                redis=client,
                max_deliveries=settings.max_deliveries,
                batch_budget_s=budget_s,
            ),
        )
        for sub in subscribers
    ]
