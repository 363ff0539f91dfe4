"""Running one service: Redis, consumer group, FastStream batch subscriber, recovery, HTTP, shutdown.

Every service is the same shape: a `Stage` (its pure logic behind a thin adapter) fed by a
FastStream batch subscriber, a recovery loop, and an HTTP server for health, metrics and its API.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
import uvicorn
from faststream import AckPolicy
from faststream.redis import RedisBroker, RedisClusterBroker, StreamSub
from faststream.redis.annotations import RedisBatchStreamMessage
from faststream.redis.message import FAKE_CONSUMER
from faststream.redis.message import RedisBatchStreamMessage as RedisBatchStreamMessageClass
from faststream.redis.prometheus import RedisPrometheusMiddleware
from opentelemetry.sdk.trace.export import SpanExporter
from starlette.routing import BaseRoute

from shared.logging import get_logger
from shared.runtime.consumer import (
    BatchObserver,
    Retention,
    Stage,
    StageRunner,
    deliveries_from_batch,
    ensure_group,
    unique_consumer_name,
)
from shared.runtime.functions import LibraryUnavailableError
from shared.runtime.http import HttpContext, build_http_app
from shared.runtime.metrics import ServiceMetrics
from shared.runtime.reader import StreamReader, refreshing_observer
from shared.runtime.redis_client import SlotMapRefresher, make_client, make_reader_client, redacted_url
from shared.runtime.tracing import Tracing, make_tracing
from shared.settings import ServiceSettings

log = get_logger(__name__)

# Waiting for Redis at start: 0.2 s doubling to 5 s between attempts, forever (ops restart order
# must not matter; the readiness probe says we are not ready meanwhile).
WAIT_BASE_S = 0.2
WAIT_CAP_S = 5.0

# Allocations (net of frees) between two young-generation collections; CPython's default is 700.
# A decoded event is hundreds of small objects, so at 700 the collector ran several times per
# article and walked the ~190k long-lived objects of a started service (models, settings, FastStream)
# whenever an older generation came due: 30-40% of publish's CPU. The hot path makes no reference
# cycles worth collecting promptly, so a collection every 50,000 allocations frees the same memory.
GC_GEN0_THRESHOLD = 50_000


@dataclass(frozen=True)
class Consumer:
    """One input: a stream read through a group by a stage. A service may have several."""

    input_stream: str
    group: str
    stage: Stage


@dataclass(frozen=True)
class Runtime:
    """The long-lived clients a service's consumers and routes are built with."""

    client: aioredis.Redis
    metrics: ServiceMetrics
    tracing: Tracing


@dataclass
class Service:
    """What a service module hands to `run_service`."""

    name: str
    settings: ServiceSettings
    # Builds the service's consumers once Redis is reachable (enrich loads its model here).
    make_consumers: Callable[[Runtime], Awaitable[Sequence[Consumer]]]
    retention: Mapping[str, Retention] = field(default_factory=dict)
    # Extra HTTP routes (the service's public API), built once the client and consumers exist.
    make_routes: Callable[[HttpContext, Sequence[Consumer]], Sequence[BaseRoute]] | None = None
    # Tests pass an in-memory exporter to look at spans; otherwise settings.otel_exporter decides.
    span_exporter: SpanExporter | None = None
    # HTTP requests per second per client before 429; 0 means no limit (only ingest sets one).
    rate_limit_per_s: float = 0.0
    # A loop run beside the consumers until its event is set (publish's embargo release).
    background: Callable[[Runtime, asyncio.Event], Coroutine[Any, Any, None]] | None = None
    # Run once when the service ends, however it ends (ingest stops its HTML worker processes).
    on_stop: Callable[[], Awaitable[None]] | None = None


async def wait_for_redis(client: aioredis.Redis, stop: asyncio.Event, url: str) -> bool:
    delay = WAIT_BASE_S
    while not stop.is_set():
        try:
            await client.ping()  # type: ignore[misc]
            return True
        except LibraryUnavailableError:
            raise  # up, but unusable until an admin loads the library: refuse to start
        except Exception as exc:
            log.warning("waiting for redis", url=redacted_url(url), error=repr(exc), retry_in_s=delay)
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)
        delay = min(delay * 2, WAIT_CAP_S)
    return False


def tune_gc() -> None:
    """Once the service holds what it keeps for its lifetime (models, clients, consumers): move
    those objects out of the collector's sight (`gc.freeze`) and collect the young generation less
    often, so that each collection walks only what the batches in hand allocated."""
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


def install_signal_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


def build_broker(settings: ServiceSettings, metrics: ServiceMetrics | None = None) -> RedisBroker:
    kwargs: dict[str, Any] = {
        # FastStream logs each batch at this level; DEBUG keeps the hot path quiet at INFO.
        "log_level": logging.DEBUG,
        # Through the standard library into our structured handler, filtered at its level.
        "logger": logging.getLogger("newsflow.faststream"),
        "graceful_timeout": settings.graceful_timeout_s,
    }
    if settings.redis_username:
        kwargs["username"] = settings.redis_username
    if settings.redis_password is not None:
        kwargs["password"] = settings.redis_password.get_secret_value()
    if metrics is not None:
        # FastStream's own metrics (received messages and sizes, handler time, exceptions) in the
        # service's registry, beside ours.
        kwargs["middlewares"] = (
            RedisPrometheusMiddleware(registry=metrics.registry, app_name=f"newsflow-{metrics.stage}"),
        )
    if settings.cluster:
        return RedisClusterBroker(settings.node_url, **kwargs)
    return RedisBroker(settings.node_url, **kwargs)


@dataclass
class RunningService:
    """Handles to a started service, for tests and embedding (demo, bench)."""

    service: Service
    client: aioredis.Redis
    runners: Sequence[StageRunner]
    metrics: ServiceMetrics
    http_port: int | None


async def run_service(
    service: Service,
    *,
    stop: asyncio.Event | None = None,
    started: Callable[[RunningService], None] | None = None,
    http_port: int | None = None,
) -> None:
    """Run until `stop` is set (SIGTERM/SIGINT set it when not given), then shut down gracefully."""
    settings = service.settings
    own_stop = stop is None
    stop = stop or asyncio.Event()
    if own_stop:
        install_signal_handlers(stop)
    consumer = settings.consumer_name or unique_consumer_name(service.name)
    bound = log.bind(service=service.name, consumer=consumer)
    client = make_client(settings, ensure_functions=True)
    metrics = ServiceMetrics(service.name)
    try:
        if not await wait_for_redis(client, stop, settings.redis_url):
            return
        tracing = make_tracing(service.name, settings.otel_exporter, span_exporter=service.span_exporter)
        runtime = Runtime(client, metrics, tracing)
        consumers = await service.make_consumers(runtime)
        tune_gc()
        # On a cluster our own read loops replace FastStream's subscriber, which cannot recover
        # from a failover (shared/runtime/reader.py); on one Redis its subscriber reconnects.
        broker = None if settings.cluster else build_broker(settings, metrics)
        readers: list[StreamReader] = []
        observer: BatchObserver = metrics.observe_batch
        if settings.cluster:
            # One refresher for the client every runner of the service commits with.
            observer = refreshing_observer(metrics, SlotMapRefresher(client))
        runners = []
        for spec in consumers:
            await ensure_group(client, spec.input_stream, spec.group)
            runner = StageRunner(
                client,
                spec.stage,
                input_stream=spec.input_stream,
                group=spec.group,
                consumer=consumer,
                max_deliveries=settings.max_deliveries,
                retention=service.retention,
                observer=observer,
            )
            if broker is not None:
                _subscribe(broker, runner, settings)
            else:
                readers.append(_reader(runner, settings, metrics))
            runners.append(runner)

        ctx = HttpContext(
            service=service.name,
            client=client,
            metrics=metrics,
            groups=[(spec.input_stream, spec.group) for spec in consumers],
            tokens=settings.token_set(),
            scopes=settings.token_scopes(),
            rate_limit_per_s=service.rate_limit_per_s,
            retention=service.retention,
            trusted_proxies=settings.trusted_networks(),
        )
        routes = service.make_routes(ctx, consumers) if service.make_routes else ()
        port = settings.http_port if http_port is None else http_port
        server: uvicorn.Server | None = None
        tasks: list[asyncio.Task[None]] = []
        if port:
            config = uvicorn.Config(
                build_http_app(ctx, routes),
                host=settings.http_host,
                port=port,
                log_level="warning",
                access_log=False,
                lifespan="off",
                # Off: uvicorn would believe X-Forwarded-For from loopback (or FORWARDED_ALLOW_IPS);
                # HttpContext.client_address decides, from the trusted_proxies setting.
                proxy_headers=False,
            )
            server = uvicorn.Server(config)
            # _serve, not serve: serve() takes over SIGTERM/SIGINT, which are ours to handle.
            tasks.append(asyncio.create_task(server._serve(), name=f"{service.name}-http"))

        if broker is not None:
            await broker.start()
        reading = [
            asyncio.create_task(reader.run(stop), name=f"{service.name}-read-{reader.runner.input_stream}")
            for reader in readers
        ]
        recovery_stop = asyncio.Event()
        tasks.extend(
            asyncio.create_task(
                runner.run_recovery(
                    recovery_stop,
                    min_idle_ms=settings.reclaim_idle_ms,
                    interval_s=settings.reclaim_interval_s,
                    count=settings.batch_size,
                    stale_idle_ms=settings.stale_consumer_idle_ms,
                ),
                name=f"{service.name}-recovery-{runner.input_stream}",
            )
            for runner in runners
        )
        if service.background is not None:
            tasks.append(
                asyncio.create_task(
                    service.background(runtime, recovery_stop), name=f"{service.name}-background"
                )
            )
        bound.info(
            "started",
            inputs=[f"{spec.input_stream}/{spec.group}" for spec in consumers],
            redis=redacted_url(settings.redis_url),
            http_port=port or None,
        )
        if started:
            started(RunningService(service, client, runners, metrics, port or None))
        await stop.wait()

        bound.info("stopping: no new reads; finishing the batch in hand")
        if broker is not None:
            await broker.stop()  # waits up to graceful_timeout for the running batch to commit
        if reading:
            # Each read loop returns once its batch in hand is committed.
            await asyncio.wait(reading, timeout=settings.graceful_timeout_s)
            for task in reading:
                task.cancel()
        recovery_stop.set()
        if server is not None:
            server.should_exit = True
        await asyncio.wait(tasks, timeout=settings.graceful_timeout_s)
        for task in tasks:
            task.cancel()
        bound.info("stopped")
    finally:
        if service.on_stop is not None:
            await service.on_stop()
        await client.aclose()


def _subscribe(broker: RedisBroker, runner: StageRunner, settings: ServiceSettings) -> None:
    @broker.subscriber(
        stream=StreamSub(
            runner.input_stream,
            group=runner.group,
            consumer=runner.consumer,
            batch=True,
            max_records=settings.batch_size,
            polling_interval=settings.poll_interval_ms,
        ),
        # We acknowledge ourselves, inside the commit transaction (see shared.runtime.consumer).
        ack_policy=AckPolicy.MANUAL,
        parser=_raw_batch,
        decoder=_no_body,
    )
    async def on_batch(msg: RedisBatchStreamMessage) -> None:
        await runner.handle(deliveries_from_batch(msg.raw_message))


def _reader(runner: StageRunner, settings: ServiceSettings, metrics: ServiceMetrics) -> StreamReader:
    def new_client(previous: aioredis.Redis | None) -> aioredis.Redis:
        return make_reader_client(settings, block_ms=settings.poll_interval_ms, previous=previous)

    return StreamReader(
        runner,
        new_client,
        count=settings.batch_size,
        block_ms=settings.poll_interval_ms,
        on_recovery=metrics.observe_read_recovery,
    )


async def _raw_batch(message: Any) -> Any:
    """The batch as Redis returned it: no body decoding. FastStream's own parser JSON-encodes
    every entry first and fails on a field that is not UTF-8, stalling the whole batch; our
    stages read the raw fields (`deliveries_from_batch`) and dead-letter such an entry alone."""
    return RedisBatchStreamMessageClass(
        raw_message=message,
        body=b"",
        consumer=FAKE_CONSUMER,
        group=None,
        message_id=None,
    )


async def _no_body(_: Any) -> None:
    return None
