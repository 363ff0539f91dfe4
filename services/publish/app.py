"""The publish service: tagged articles become published events; read API, feeds, health, metrics."""

from __future__ import annotations

from collections.abc import Sequence

from services.publish import api
from services.publish.console import make_console_routes
from services.publish.entities_api import make_entity_routes
from services.publish.handlers import PublishStage
from services.publish.listing import PublishIndexStage
from services.publish.settings import Settings
from services.publish.webhooks import webhook_consumers
from shared import streams
from shared.consumer import Retention
from shared.service import Consumer, Runtime, Service


def create_service(settings: Settings | None = None) -> Service:
    settings = settings or Settings()

    async def make_consumers(rt: Runtime) -> Sequence[Consumer]:
        stage = PublishStage(rt.client, settings, rt.tracing)
        return [
            *(
                Consumer(tagged, streams.PUBLISH_GROUP, stage)
                for tagged in streams.all_partitions(streams.TAGGED, settings.partitions)
            ),
            Consumer(streams.PUBLISHED, streams.PUBLISH_INDEX_GROUP, PublishIndexStage(rt.client)),
            *(
                Consumer(stream, group, stage)
                for stream, group, stage in webhook_consumers(rt.client, settings)
            ),
        ]

    retention_days = settings.retention_days
    return Service(
        name="publish",
        settings=settings,
        make_consumers=make_consumers,
        make_routes=lambda ctx, _: [
            *api.make_routes(ctx, settings),
            *make_entity_routes(ctx, settings),
            *make_console_routes(ctx, settings),
        ],
        retention={
            streams.PUBLISHED: Retention(
                maxlen=settings.retention_maxlen,
                max_age_s=retention_days * 86_400 if retention_days else None,
            ),
            streams.DLQ: Retention(),
        },
    )
