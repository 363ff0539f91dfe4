"""Enrich's adapters: raw-article events in, tagged-article events out; published events kept indexed."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from datetime import UTC, datetime

from services.enrich.multilingual import MultilingualTagger
from services.enrich.registry import EntityRegistry
from services.enrich.related import (
    RelatedIndex,
    indexed_from_published,
    inline_links,
    rank_related,
    reference_links,
    trim_limit,
)
from services.enrich.same_story import Match, SameStoryIndex
from services.enrich.settings import EnrichSettings
from shared import streams, wire
from shared.events import (
    Entities,
    EventType,
    PublishedEvent,
    PubStatus,
    RawEvent,
    TaggedArticle,
    TaggedEvent,
)
from shared.logging import get_logger
from shared.runtime.consumer import Delivery, Emit, Op, Outcome, Output, Reject, decode_events
from shared.runtime.metrics import ServiceMetrics
from shared.runtime.tracing import NO_TRACING, Tracing

log = get_logger(__name__)

SECONDS_PER_DAY = 86_400.0

# What the kernel's OOM killer leaves (128 + SIGKILL); the crash_marker fault injection exits so.
CRASH_EXIT_CODE = 137


class PoisonArticleError(RuntimeError):
    """Raised by fault injection (`poison_marker`), to prove retries and the DLQ work."""


class EnrichStage:
    name = "enrich"

    def __init__(
        self,
        tagger: MultilingualTagger,
        index: RelatedIndex,
        settings: EnrichSettings,
        metrics: ServiceMetrics,
        tracing: Tracing = NO_TRACING,
        registry: EntityRegistry | None = None,
        same_story: SameStoryIndex | None = None,
    ) -> None:
        self.registry = registry
        self.tracing = tracing
        self.same_story = same_story
        self.tagger = tagger
        self.index = index
        self.settings = settings
        self.metrics = metrics

    def _bounded(self, event: RawEvent | Reject) -> RawEvent | Reject:
        """Ingest bounds the body too; this guards enrich's memory against any other producer."""
        limit = self.settings.max_body_chars
        if isinstance(event, Reject) or len(event.data.body) <= limit:
            return event
        return Reject(
            f"the body is {len(event.data.body)} characters, over the limit of {limit}",
            "body_too_long",
            source=event.data.source,
            article_id=event.article_id,
            correlation_id=event.correlation_id,
        )

    async def process(self, batch: Sequence[Delivery]) -> Sequence[Outcome]:
        events = [self._bounded(e) for e in decode_events(batch, RawEvent)]
        usable = [e for e in events if not isinstance(e, Reject) and e.data.pubstatus is PubStatus.USABLE]
        marker = self.settings.poison_marker
        if marker and any(marker in e.data.body for e in usable):
            raise PoisonArticleError(f"article body contains the poison marker {marker!r}")
        crash = self.settings.crash_marker
        if crash and any(crash in e.data.body for e in usable):
            log.error("crash marker seen: exiting at once", marker=crash)
            os._exit(CRASH_EXIT_CODE)
        # spaCy is CPU-bound: a worker thread keeps the loop free for health checks and heartbeats.
        tagged = await asyncio.to_thread(
            self.tagger.tag, [e.data for e in usable], batch_size=self.settings.nlp_batch_size
        )
        if self.registry is not None:
            # In order, one article at a time: an entity first seen in this batch is found by the
            # next article, and a kill after a version undoes it. The registry's scripts are
            # idempotent (see services/enrich/registry.py), so they run ahead of the runner's
            # commit; a redelivery gets the same ids back.
            by_event = {id(e): ents for e, ents in zip(usable, tagged, strict=True)}
            for e in events:
                if isinstance(e, Reject):
                    continue
                if id(e) in by_event:
                    by_event[id(e)] = await self.registry.link(e.article_id, _published(e), by_event[id(e)])
                else:
                    await self.registry.withdraw(e.article_id)
            tagged = [by_event[id(e)] for e in usable]
        entities_by_event = {id(e): ents for e, ents in zip(usable, tagged, strict=True)}
        candidates = await self.index.candidates(
            [(e.article_id, ents.all()) for e, ents in zip(usable, tagged, strict=True)],
            per_entity=self.settings.related_candidates_per_entity,
            max_candidates=self.settings.related_max_candidates,
        )
        candidates_by_event = {id(e): c for e, c in zip(usable, candidates, strict=True)}
        matches: dict[int, Match | None] = {}
        if self.same_story is not None:
            found = await self.same_story.match_many(
                [(e.article_id, e.data.title, e.data.body) for e in usable],
                published=[_published(e) for e in usable],
            )
            matches = {id(e): m for e, m in zip(usable, found, strict=True)}
        now = datetime.now(UTC)
        total_docs = await self.index.total_docs() if usable else 0
        trim = await self._trim_ops(usable, tagged)

        outcomes: list[Outcome] = []
        for event in events:
            if isinstance(event, Reject):
                outcomes.append(event)
                continue
            entities = entities_by_event.get(id(event), Entities())
            related = inline_links(event.data)
            if id(event) in candidates_by_event:
                all_entities = entities.all()
                related += rank_related(
                    all_entities,
                    candidates_by_event[id(event)],
                    now=now,
                    top_k=self.settings.related_top_k,
                    min_score=self.settings.related_min_score,
                    half_life_days=self.settings.related_half_life_days,
                    total_docs=total_docs,
                )
                related += reference_links(all_entities)
                self.metrics.entities_per_article.observe(len(all_entities))
            match = matches.get(id(event))
            same_link = match.link() if match is not None else None
            if same_link is not None:
                related.insert(0, same_link)
            with self.tracing.span(
                "enrich", parent=event.traceparent, attributes={"article_id": event.article_id}
            ) as span:
                out = TaggedEvent(
                    event_type=EventType.TAGGED
                    if event.data.pubstatus is PubStatus.USABLE
                    else EventType.WITHDRAWN,
                    article_id=event.article_id,
                    article_version=event.article_version,
                    correlation_id=event.correlation_id,
                    traceparent=span.traceparent,
                    data=TaggedArticle(
                        article=event.data,
                        entities=entities,
                        related=related,
                        tagger=self.tagger.name_for(self.tagger.language_of(event.data)),
                        same_story_as=match.same_story_as if match is not None else None,
                        story_id=match.story_id if match is not None else None,
                    ),
                )
            log.info(
                "tagged",
                article_id=out.article_id,
                article_version=out.article_version,
                correlation_id=out.correlation_id,
                trace_id=span.trace_id,
                entities=len(entities.all()),
                related=len(related),
            )
            tagged_stream = streams.for_article(streams.TAGGED, out.article_id, self.settings.partitions)
            # The trimming rides on the first Emit: the runner commits all of them together.
            outcomes.append(
                Emit((Output(tagged_stream, wire.encode(out)),), article_id=out.article_id, ops=tuple(trim))
            )
            trim = []
        return outcomes

    async def _trim_ops(self, usable: Sequence[RawEvent], tagged: Sequence[Entities]) -> list[Op]:
        """Age trimming of the entity article lists and the same-story buckets, for the commit:
        counted back from the newest article of the batch, a bounded amount per batch."""
        if not usable:
            return []
        newest = max(_published(e) for e in usable).timestamp()
        limit = trim_limit(usable)
        ops: list[Op] = []
        if self.registry is not None:
            ids = [x.entity_id for ents in tagged for x in ents.all() if x.entity_id]
            before = newest - self.settings.entity_articles_retention_days * SECONDS_PER_DAY
            ops += await self.registry.trim_ops(ids, before=before, limit=limit)
        if self.same_story is not None:
            before = newest - self.settings.same_story_retention_days * SECONDS_PER_DAY
            ops += await self.same_story.trim_ops(before=before, limit=limit)
        return ops


def _published(event: RawEvent) -> datetime:
    # What the registry files the article under: the source's time, else when ingest received it.
    moment = event.data.published_at or event.data.received_at
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


class RelatedIndexStage:
    """Keeps the related-articles index in step with what was published, updated or withdrawn."""

    name = "enrich-index"

    def __init__(self, index: RelatedIndex, base_url: str) -> None:
        self.index = index
        self.base_url = base_url

    async def process(self, batch: Sequence[Delivery]) -> Sequence[Outcome]:
        events = decode_events(batch, PublishedEvent)
        changes = [
            (
                e.article_id,
                None
                if e.data.pubstatus is PubStatus.WITHDRAWN
                else indexed_from_published(e.data, base_url=self.base_url),
            )
            for e in events
            if not isinstance(e, Reject)
        ]
        ops, reads = await self.index.plan(changes)
        planned = iter(ops)
        outcomes: list[Outcome] = []
        for event in events:
            if isinstance(event, Reject):
                outcomes.append(event)
                continue
            # Every read rides on the first outcome: the runner checks them all before committing.
            outcomes.append(
                Emit((), article_id=event.article_id, ops=tuple(next(planned)), reads=tuple(reads))
            )
            reads = []
        return outcomes
