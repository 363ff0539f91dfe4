"""The enrich service: tags raw articles, keeps the related-articles index, health and metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from services.enrich.gazetteer import Gazetteer
from services.enrich.logic import Tagger
from services.enrich.related import RelatedIndex
from services.enrich.settings import Settings
from services.enrich.stages import EnrichStage, RelatedIndexStage
from shared import streams
from shared.runtime.retention import stream_retention
from shared.runtime.service import Consumer, Runtime, Service


def load_tagger(settings: Settings) -> Tagger:
    gazetteer = Gazetteer.load(settings.gazetteer_path) if settings.gazetteer_path else Gazetteer.default()
    return Tagger(settings.spacy_model, gazetteer=gazetteer)


def create_service(settings: Settings | None = None, *, tagger: Tagger | None = None) -> Service:
    settings = settings or Settings()

    async def make_consumers(rt: Runtime) -> Sequence[Consumer]:
        # The model loads once per process, off the event loop (about 1 s).
        loaded = tagger if tagger is not None else await asyncio.to_thread(load_tagger, settings)
        index = RelatedIndex(rt.client)
        stage = EnrichStage(loaded, index, settings, rt.metrics, rt.tracing)
        return [
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
