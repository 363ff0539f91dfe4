"""The ingest service: inbound stream consumer, HTTP API, health and metrics."""

from __future__ import annotations

from collections.abc import Sequence

from services.ingest import api
from services.ingest.extraction import HtmlWorkers
from services.ingest.settings import Settings
from services.ingest.stages import IngestStage, SourceGrant
from shared import streams
from shared.runtime.retention import stream_retention
from shared.runtime.service import Consumer, Runtime, Service


def create_service(settings: Settings | None = None) -> Service:
    settings = settings or Settings()
    # One set of HTML worker processes for the stream and the API; started with the consumers when
    # configured so, else on the first HTML page.
    html = HtmlWorkers(
        processes=settings.html_workers,
        time_limit_s=settings.html_time_limit_s,
        memory_limit_bytes=settings.html_memory_limit_mb * 2**20,
    )

    async def make_consumers(rt: Runtime) -> Sequence[Consumer]:
        if settings.html_workers_at_start:
            await html.start()
        stage = IngestStage(rt.client, settings, rt.tracing, html)
        # The shared stream takes any source; each producer's own stream only the sources it holds.
        consumers = [Consumer(streams.INBOUND, streams.INGEST_GROUP, stage)]
        for producer, sources in settings.producers().items():
            grant = SourceGrant(sources, f"producer {producer!r}") if sources is not None else None
            producer_stage = IngestStage(rt.client, settings, rt.tracing, html, grant)
            consumers.append(Consumer(streams.inbound_of(producer), streams.INGEST_GROUP, producer_stage))
        return consumers

    return Service(
        name="ingest",
        settings=settings,
        make_consumers=make_consumers,
        make_routes=lambda ctx, _consumers: api.make_routes(ctx, settings, html),
        retention=stream_retention(settings),
        rate_limit_per_s=settings.rate_limit_per_s,
        on_stop=html.close,
    )
