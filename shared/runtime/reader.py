"""Our own read loop for one input stream: XREADGROUP, hand the batch to the runner, recover.

Used on a Redis Cluster instead of FastStream's stream subscriber. On a fetch error that
subscriber sleeps 5 s on the same client, and it re-raises every `ResponseError` other than
NOGROUP: MOVED, ASK, CLUSTERDOWN and TRYAGAIN are `ResponseError`s in redis-py, so one of them
during a failover ends its read task for good and the partition stops being read. This loop
never ends on an error: it backs off (exponential, jittered, capped at about a second), builds
its client again from every node it knew, re-reads the slot map of the client the commits use,
logs the recovery and counts it.

Every delivery guarantee stays with the runner: the loop reads only new entries (`>`); what it
read and could not commit stays pending and the runner's reclaimer takes it over (XAUTOCLAIM);
`StageRunner.handle` checks delivery counts and commits with the XACK in one transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import redis.asyncio as aioredis

from shared.logging import get_logger
from shared.runtime.consumer import BatchObserver, BatchReport, Delivery, StageRunner
from shared.runtime.metrics import ServiceMetrics
from shared.runtime.redis_client import SlotMapRefresher, is_recoverable, refresh_slot_map
from shared.wire import as_text, text_fields

log = get_logger(__name__)

# Seconds between attempts after a failed read or commit: 0.05 doubling to 1, with jitter, so a
# failover (a few seconds) is noticed within about a second of its end, and many readers
# restarting together do not hit the new master in step.
READ_RETRY_BASE_S = 0.05
READ_RETRY_CAP_S = 1.0

# Builds the reader's client; given the one that failed, a new client seeded from what it knew.
ClientFactory = Callable[[aioredis.Redis | None], aioredis.Redis]
# Called once per recovery: (input stream, action, error class name); the action is
# "rebuild_client" (the reader's own) or "refresh_slot_map" (the commits' client).
RecoveryObserver = Callable[[str, str, str], None]


@dataclass
class Backoff:
    """Exponential delays with "equal jitter": half the step fixed, half random, never above `cap_s`."""

    base_s: float = READ_RETRY_BASE_S
    cap_s: float = READ_RETRY_CAP_S
    rng: random.Random = field(default_factory=random.Random)
    failures: int = 0

    def next_delay(self) -> float:
        step = min(self.cap_s, math.ldexp(self.base_s, min(self.failures, 30)))  # base * 2**failures
        self.failures += 1
        return step / 2 + self.rng.uniform(0, step / 2)

    def reset(self) -> None:
        self.failures = 0


class StreamReader:
    """Reads `runner`'s input through its group and consumer, `count` entries per XREADGROUP."""

    def __init__(
        self,
        runner: StageRunner,
        new_client: ClientFactory,
        *,
        count: int,
        block_ms: int,
        backoff: Backoff | None = None,
        on_recovery: RecoveryObserver | None = None,
    ) -> None:
        self.runner = runner
        self.new_client = new_client
        self.client = new_client(None)
        self.count = count
        self.block_ms = block_ms
        self.backoff = backoff or Backoff()
        self.on_recovery = on_recovery
        self.rebuilds = 0
        self._log = log.bind(stream=runner.input_stream, group=runner.group, consumer=runner.consumer)

    async def read(self) -> list[Delivery]:
        """New entries for this consumer (`>`), waiting up to `block_ms` for the first one."""
        reply = await self.client.xreadgroup(
            self.runner.group,
            self.runner.consumer,
            {self.runner.input_stream: ">"},
            count=self.count,
            block=self.block_ms,
        )
        return [
            Delivery(self.runner.input_stream, as_text(eid), text_fields(f), raw=f)
            for _, entries in reply or []
            for eid, f in entries
        ]

    async def run(self, stop: asyncio.Event) -> None:
        """Read and handle batches until `stop` is set; the batch in hand is finished first."""
        failing_since: float | None = None
        try:
            while not stop.is_set():
                try:
                    batch = await self.read()
                except Exception as exc:
                    failing_since = failing_since or time.monotonic()
                    await self.recover_read(exc, stop)
                    continue
                try:
                    if batch:
                        await self.runner.handle(batch)
                except Exception as exc:
                    failing_since = failing_since or time.monotonic()
                    await self.recover_commit(exc, stop)
                    continue
                if failing_since is not None:
                    outage_s = round(time.monotonic() - failing_since, 2)
                    self._log.info("reading again", outage_s=outage_s, rebuilds=self.rebuilds)
                    failing_since = None
                self.backoff.reset()
        finally:
            with contextlib.suppress(Exception):
                await self.client.aclose()

    async def recover_read(self, exc: Exception, stop: asyncio.Event) -> None:
        """After a failed read: a new client when the error is one a new client can cure."""
        delay_s = self.backoff.next_delay()
        if not is_recoverable(exc):
            # Not a failover (e.g. NOGROUP after a flush): keep trying, loudly, on the same client.
            self._log.error("read failed", error=repr(exc), retry_in_s=round(delay_s, 3))
            await self._pause(stop, delay_s)
            return
        old = self.client
        self.client = self.new_client(old)
        with contextlib.suppress(Exception):
            await old.aclose()
        self.rebuilds += 1
        kind = type(exc).__name__
        if self.on_recovery is not None:
            self.on_recovery(self.runner.input_stream, "rebuild_client", kind)
        self._log.warning(
            "read failed; rebuilt the redis client",
            error=repr(exc),
            error_type=kind,
            rebuilds=self.rebuilds,
            retry_in_s=round(delay_s, 3),
        )
        await self._pause(stop, delay_s)

    async def recover_commit(self, exc: Exception, stop: asyncio.Event) -> None:
        """After a batch that could not be committed: its entries stay pending for the reclaimer;
        on a failover error, re-read the slot map of the client the commits go through."""
        delay_s = self.backoff.next_delay()
        refreshed = False
        if is_recoverable(exc):
            with contextlib.suppress(Exception):  # the next failure tries again
                refreshed = await refresh_slot_map(self.runner.client)
        if refreshed and self.on_recovery is not None:
            self.on_recovery(self.runner.input_stream, "refresh_slot_map", type(exc).__name__)
        self._log.warning(
            "batch not committed; its entries stay pending for the reclaimer",
            error=repr(exc),
            slot_map_refreshed=refreshed,
            retry_in_s=round(delay_s, 3),
        )
        await self._pause(stop, delay_s)

    @staticmethod
    async def _pause(stop: asyncio.Event, delay_s: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay_s)


def refreshing_observer(metrics: ServiceMetrics, refresher: SlotMapRefresher) -> BatchObserver:
    """Batch metrics, and a fresh slot map for the commits' client after a batch left entries to
    retry: a stage's own Redis calls fail after a failover too (e.g. NOSCRIPT on the promoted
    replica), and nothing raises out of the runner for the read loop to see."""

    async def observe(stage: str, report: BatchReport) -> None:
        metrics.observe_batch(stage, report)
        if report.retried and await refresher.refresh():
            stream = report.outcomes[0][0].stream
            metrics.observe_read_recovery(stream, "refresh_slot_map", "Retry")

    return observe
