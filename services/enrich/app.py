"""The enrich service: tags raw articles, keeps the related-articles index, health and metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from services.enrich.knowledge import KnowledgeBase
from services.enrich.languages import parse_languages
from services.enrich.logic import Tagger
from services.enrich.multilingual import MultilingualTagger
from services.enrich.registry import EntityRegistry
from services.enrich.related import RelatedIndex
from services.enrich.same_story import SameStoryIndex
from services.enrich.settings import Settings
from services.enrich.stages import EnrichStage, RelatedIndexStage
from shared import streams
from shared.runtime.retention import stream_retention
from shared.runtime.service import Consumer, Runtime, Service


def load_tagger(settings: Settings, *, english: Tagger | None = None) -> MultilingualTagger:
    """The replica's taggers: English loaded now (unless given), other languages on first use."""
    knowledge = english.gazetteer if english is not None else None
    if knowledge is None:
        path = settings.gazetteer_path
        knowledge = KnowledgeBase.load(path) if path else KnowledgeBase.default()
    tagger = MultilingualTagger(
        parse_languages(settings.languages),
        english_model=settings.spacy_model,
        gazetteer=knowledge,
        loaded={"en": english} if english is not None else None,
    )
    tagger.tagger(tagger.default_language)
    return tagger


def create_service(
    settings: Settings | None = None, *, tagger: Tagger | MultilingualTagger | None = None
) -> Service:
    settings = settings or Settings()

    async def make_consumers(rt: Runtime) -> Sequence[Consumer]:
        # The English model loads once per process, off the event loop (about 1 s).
        loaded = (
            tagger
            if isinstance(tagger, MultilingualTagger)
            else await asyncio.to_thread(load_tagger, settings, english=tagger)
        )
        index = RelatedIndex(rt.client, retention_days=settings.related_retention_days)
        registry = EntityRegistry(rt.client, base_url=settings.public_base_url)
        same_story = SameStoryIndex(rt.client, threshold=settings.same_story_threshold)
        stage = EnrichStage(
            loaded, index, settings, rt.metrics, rt.tracing, registry=registry, same_story=same_story
        )
        return [
            # The urgent stream first: its own subscriber, so urgent articles never queue behind raw.
            *(
                Consumer(urgent, streams.ENRICH_GROUP, stage)
                for urgent in streams.all_partitions(streams.RAW_URGENT, settings.partitions)
            ),
            *(
                Consumer(raw, streams.ENRICH_GROUP, stage)
                for raw in streams.all_partitions(streams.RAW, settings.partitions)
            ),
            Consumer(
                streams.PUBLISHED,
                streams.ENRICH_INDEX_GROUP,
                RelatedIndexStage(index, settings.public_base_url),
            ),
        ]

    return Service(
        name="enrich",
        settings=settings,
        make_consumers=make_consumers,
        retention=stream_retention(settings),
    )
