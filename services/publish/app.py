"""The publish service: tagged articles become published events; read API, feeds, health, metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from starlette.routing import BaseRoute

from services.publish import api
from services.publish.console import make_console_routes
from services.publish.embargo import EmbargoMetrics, EmbargoReleaser
from services.publish.entities_api import make_entity_routes
from services.publish.settings import Settings
from services.publish.stages import PublishIndexStage, PublishStage, webhook_consumers
from shared import streams
from shared.runtime.consumer import Retention
from shared.runtime.http import HttpContext
from shared.runtime.retention import stream_retention
from shared.runtime.service import Consumer, Runtime, Service


def create_service(settings: Settings | None = None) -> Service:
    settings = settings or Settings()

    async def make_consumers(rt: Runtime) -> Sequence[Consumer]:
        stage = PublishStage(rt.client, settings, rt.tracing, rt.metrics.registry)
        return [
            *(
                Consumer(tagged, streams.PUBLISH_GROUP, stage)
                for tagged in streams.all_partitions(streams.TAGGED, settings.partitions)
            ),
            Consumer(
                streams.PUBLISHED,
                streams.PUBLISH_INDEX_GROUP,
                PublishIndexStage(rt.client, retention_days=settings.listing_retention_days),
            ),
            *(
                Consumer(stream, group, stage)
                for stream, group, stage in webhook_consumers(rt.client, settings)
            ),
        ]

    retention_days = settings.retention_days
    published_retention = Retention(
        maxlen=settings.retention_maxlen,
        max_age_s=retention_days * 86_400 if retention_days else None,
    )

    async def release_embargoes(rt: Runtime, stop: asyncio.Event) -> None:
        releaser = EmbargoReleaser(
            rt.client,
            base_url=settings.public_base_url,
            retention=published_retention,
            metrics=EmbargoMetrics(rt.metrics.registry),
        )
        await releaser.run(stop, interval_s=settings.embargo_poll_ms / 1000)

    def routes(ctx: HttpContext) -> list[BaseRoute]:
        feed = api.live_feed(settings, ctx.client)  # one reader for the API's and the console's clients
        return [
            *api.make_routes(ctx, settings, feed=feed),
            *make_entity_routes(ctx, settings),
            *make_console_routes(ctx, settings, feed=feed),
        ]

    return Service(
        name="publish",
        settings=settings,
        make_consumers=make_consumers,
        make_routes=lambda ctx, _: routes(ctx),
        background=release_embargoes,
        rate_limit_per_s=settings.rate_limit_per_s,
        retention={
            **stream_retention(settings),
            streams.PUBLISHED: published_retention,
        },
    )
