"""The ingest service: inbound stream consumer, HTTP API, health and metrics."""

from __future__ import annotations

from collections.abc import Sequence

from services.ingest import api
from services.ingest.settings import Settings
from services.ingest.stages import IngestStage
from shared import streams
from shared.runtime.consumer import Retention
from shared.runtime.service import Consumer, Runtime, Service


def create_service(settings: Settings | None = None) -> Service:
    settings = settings or Settings()

    async def make_consumers(rt: Runtime) -> Sequence[Consumer]:
        return [Consumer(streams.INBOUND, streams.INGEST_GROUP, IngestStage(rt.client, settings, rt.tracing))]

    return Service(
        name="ingest",
        settings=settings,
        make_consumers=make_consumers,
        make_routes=lambda ctx, _consumers: api.make_routes(ctx, settings),
        retention={streams.DLQ: Retention()},
        rate_limit_per_s=settings.rate_limit_per_s,
    )
