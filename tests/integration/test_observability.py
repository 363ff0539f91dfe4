"""Metrics, health and tracing of the three services running together on a real redis-server."""

from __future__ import annotations

import httpx
import pytest
import redis.asyncio as aioredis
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families

from newsflow.pipeline import push_file, run_pipeline, wait_group_idle, wait_settled
from newsflow.redis_server import free_port
from newsflow.samples import sample_paths
from shared import streams
from tests.utils.paths import SEED

pytestmark = pytest.mark.integration


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


async def test_metrics_count_what_each_stage_did_and_show_zero_lag(
    redis_client: aioredis.Redis, redis_url: str
) -> None:
    ports = {"ingest": free_port(), "enrich": free_port(), "publish": free_port()}
    async with run_pipeline(redis_url, http_ports=ports):
        pushed = []
        for path in sample_paths()[:3]:
            pushed += await push_file(redis_client, path, source="metrics")
        await wait_settled(redis_client, [p.correlation_id for p in pushed], timeout_s=60)
        await wait_group_idle(redis_client, streams.PUBLISHED, streams.PUBLISH_INDEX_GROUP)
        async with httpx.AsyncClient() as http:
            scraped = {}
            for name, port in ports.items():
                health = await http.get(f"http://127.0.0.1:{port}/healthz")
                ready = await http.get(f"http://127.0.0.1:{port}/readyz")
                assert (health.status_code, ready.status_code) == (200, 200)
                scraped[name] = _samples((await http.get(f"http://127.0.0.1:{port}/metrics")).text)

    n = len(pushed)
    ingest, enrich, publish = scraped["ingest"], scraped["enrich"], scraped["publish"]
    emitted = "newsflow_events_total"
    assert ingest[(emitted, (("outcome", "emitted"), ("stage", "ingest")))] == n
    assert ingest[(emitted, (("outcome", "rejected"), ("stage", "ingest")))] == 0
    assert enrich[(emitted, (("outcome", "emitted"), ("stage", "enrich")))] == n
    assert publish[(emitted, (("outcome", "emitted"), ("stage", "publish")))] == n
    for values, stream, group in (
        (ingest, streams.INBOUND, streams.INGEST_GROUP),
        (enrich, streams.RAW, streams.ENRICH_GROUP),
        (publish, streams.TAGGED, streams.PUBLISH_GROUP),
    ):
        labels = (("group", group), ("stream", stream))
        assert values[("newsflow_consumer_pending", labels)] == 0
        if ("newsflow_consumer_lag", labels) in values:  # XINFO GROUPS has `lag` from Redis 7
            assert values[("newsflow_consumer_lag", labels)] == 0
    assert enrich[("newsflow_entities_per_article_count", ())] == n
    assert publish[("newsflow_dlq_length", ())] == 0
    # FastStream's own middleware reports into the same registry.
    assert any(name.startswith("faststream_received_messages") for name, _ in ingest)


async def test_readiness_fails_while_redis_is_unreachable(redis_url: str) -> None:
    from newsflow.redis_server import RedisServer

    port = free_port()
    with RedisServer() as server:
        async with run_pipeline(server.url, http_ports={"publish": port}), httpx.AsyncClient() as http:
            assert (await http.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200
            server.kill()
            response = await http.get(f"http://127.0.0.1:{port}/readyz", timeout=10)
            assert response.status_code == 503
            assert (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200


async def test_one_articles_journey_is_one_trace_across_the_three_services(
    redis_client: aioredis.Redis, redis_url: str
) -> None:
    exporter = InMemorySpanExporter()
    async with run_pipeline(redis_url, span_exporter=exporter):
        (pushed,) = await push_file(redis_client, SEED, source="trace")
        settled = await wait_settled(redis_client, [pushed.correlation_id], timeout_s=60)
    event = settled[pushed.correlation_id].published
    assert event is not None
    assert event.traceparent
    spans = [
        s for s in exporter.get_finished_spans() if (s.attributes or {}).get("article_id") == event.article_id
    ]
    assert sorted(s.name for s in spans) == ["enrich", "ingest", "publish"]
    trace_ids = {s.context.trace_id for s in spans}
    assert len(trace_ids) == 1
    assert event.traceparent.split("-")[1] == format(trace_ids.pop(), "032x")
    by_name = {s.name: s for s in spans}
    assert by_name["enrich"].parent is not None
    assert by_name["enrich"].parent.span_id == by_name["ingest"].context.span_id
    assert by_name["publish"].parent is not None
    assert by_name["publish"].parent.span_id == by_name["enrich"].context.span_id
