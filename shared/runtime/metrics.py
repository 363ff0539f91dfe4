"""Prometheus metrics of one service, in its own registry (no global state).

Names are shared by all services and told apart by the `stage` label, so one dashboard fits all.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from shared import streams
from shared.runtime.consumer import BatchReport
from shared.wire import as_text

BATCH_SECONDS_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
ENTITY_BUCKETS = (0, 1, 2, 5, 10, 20, 50, 100)


class ServiceMetrics:
    def __init__(self, stage: str, registry: CollectorRegistry | None = None) -> None:
        self.stage = stage
        self.registry = registry or CollectorRegistry()
        self.events = Counter(
            "newsflow_events_total",
            "Entries handled, by stage and outcome (emitted, skipped, rejected, retried, dead_lettered).",
            ["stage", "outcome"],
            registry=self.registry,
        )
        self.batch_seconds = Histogram(
            "newsflow_batch_seconds",
            "Seconds to process and commit one batch.",
            ["stage"],
            buckets=BATCH_SECONDS_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "newsflow_batch_size",
            "Entries per batch.",
            ["stage"],
            buckets=(1, 5, 10, 25, 50, 100, 250, 1000),
            registry=self.registry,
        )
        self.lag = Gauge(
            "newsflow_consumer_lag",
            "Entries in the stream not yet delivered to the group (XINFO GROUPS lag).",
            ["stream", "group"],
            registry=self.registry,
        )
        self.pending = Gauge(
            "newsflow_consumer_pending",
            "Entries delivered to the group but not yet acknowledged.",
            ["stream", "group"],
            registry=self.registry,
        )
        self.dlq_length = Gauge(
            "newsflow_dlq_length", "Entries in the dead-letter stream.", registry=self.registry
        )
        self.entities_per_article = Histogram(
            "newsflow_entities_per_article",
            "Distinct entities tagged per article.",
            buckets=ENTITY_BUCKETS,
            registry=self.registry,
        )
        self.read_recoveries = Counter(
            "newsflow_read_recoveries_total",
            "Recoveries of a cluster read loop after a failed read or commit, by action "
            "(rebuild_client, refresh_slot_map) and the error class that caused it.",
            ["stage", "stream", "action", "error"],
            registry=self.registry,
        )
        for outcome in ("emitted", "skipped", "rejected", "retried", "dead_lettered"):
            self.events.labels(stage, outcome)

    def observe_batch(self, stage: str, report: BatchReport) -> None:
        self.batch_seconds.labels(stage).observe(report.duration_s)
        self.batch_size.labels(stage).observe(len(report.outcomes))
        for outcome, count in (
            ("emitted", report.emitted),
            ("skipped", report.skipped),
            ("rejected", report.rejected),
            ("retried", report.retried),
            ("dead_lettered", report.dead_lettered),
        ):
            if count:
                self.events.labels(stage, outcome).inc(count)

    def observe_read_recovery(self, stream: str, action: str, error: str) -> None:
        self.read_recoveries.labels(self.stage, stream, action, error).inc()

    async def refresh_stream_gauges(self, client: aioredis.Redis, groups: Sequence[tuple[str, str]]) -> None:
        """Read lag and pending of each (stream, group) and the DLQ length, at scrape time."""
        pipe = client.pipeline(transaction=False)
        for stream, _ in groups:
            pipe.xinfo_groups(stream)
        pipe.xlen(streams.DLQ)
        *infos, dlq_len = await pipe.execute(raise_on_error=False)
        for (stream, group), info in zip(groups, infos, strict=True):
            if isinstance(info, Exception):
                continue
            for row in info:
                name = as_text(row["name"])
                if name != group:
                    continue
                self.pending.labels(stream, group).set(int(row["pending"]))
                lag = row.get("lag")
                if lag is not None:
                    self.lag.labels(stream, group).set(int(lag))
        if not isinstance(dlq_len, Exception):
            self.dlq_length.set(int(dlq_len))

    def render(self) -> bytes:
        return generate_latest(self.registry)
