"""The reliability layer every service uses: read in batches, commit atomically, recover, dead-letter.

Design (decided once, for all three services):
- Each service reads its input stream in batches through its own consumer group, created from
  the start of the stream (`0`), never `$`, so a backlog written before the group exists is read.
- A stage turns a batch of deliveries into one outcome per delivery. The outcomes are committed
  in ONE `MULTI`/`EXEC` transaction: output entries, state, dead letters and the `XACK` of the
  inputs. Either all of it happens or none: an entry is never acknowledged before its output is
  written, and a crash between the two cannot happen.
- A failed entry stays pending. The reclaimer takes over entries idle longer than
  `reclaim_idle_ms` (`XAUTOCLAIM`, https://redis.io/docs/latest/commands/xautoclaim/), reads
  their delivery counts from the pending list (`XPENDING`,
  https://redis.io/docs/latest/commands/xpending/) and, past `max_deliveries`, moves them to
  `articles.dlq` with the stage, error, count and original fields, acknowledging them in the
  same transaction.
- If a whole batch raises, it is re-run one entry at a time so that one poison entry cannot take
  its neighbours to the dead-letter stream with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot
from redis.exceptions import OutOfMemoryError, ResponseError, WatchError

from shared import deadletter, streams, wire
from shared.logging import get_logger
from shared.runtime import functions
from shared.runtime.redis_client import is_recoverable, refresh_slot_map
from shared.wire import EnvelopeT, Fields, as_text, text_fields

log = get_logger(__name__)

# Plans of one batch before giving up when other writers keep changing what its stage read (the
# entries stay pending for the reclaimer); bounds how many concurrent writers of one key we outlast.
MAX_STALE_RETRIES = 16


@dataclass(frozen=True, slots=True)
class Delivery:
    stream: str
    entry_id: str
    fields: Fields  # decoded as UTF-8 (invalid bytes replaced); `raw` keeps the exact bytes
    delivery_count: int = 1
    raw: Mapping[bytes, bytes] | None = None


@dataclass(frozen=True, slots=True)
class Output:
    stream: str
    fields: Fields


@dataclass(frozen=True, slots=True)
class VersionGuard:
    """Write the outputs only if `version` is newer than the one stored for `article_id`.

    Checked and written inside Redis (`functions.GUARDED_XADD_MANY`, one call for the batch, in the
    same transaction), so two consumers racing on a redelivered entry cannot both publish it.
    """

    versions_key: str
    latest_key: str
    article_id: str
    version: int
    latest_value: str
    # More (hash key, value) pairs set under `article_id` only when the version is written.
    also_set: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Op:
    """One Redis command of the commit: `pipeline.<method>(*args)`; `key` routes it on a cluster."""

    key: str
    method: str
    args: tuple[Any, ...] = ()


@dataclass(frozen=True, slots=True)
class Read:
    """A value a stage read to plan its ops (`client.<method>(*args)` returned `value`).

    The commit WATCHes `key` and checks the value is still the same before running the ops
    (optimistic locking, https://redis.io/docs/latest/develop/interactions/transactions/); if
    another writer changed it, the runner plans the batch again from the new state.
    """

    key: str
    method: str
    args: tuple[Any, ...]
    value: Any


@dataclass(frozen=True, slots=True)
class Emit:
    outputs: tuple[Output, ...]
    # (key, field, value): state written atomically with the outputs, e.g. ingest's ledger.
    hset: tuple[tuple[str, str, str], ...] = ()
    guard: VersionGuard | None = None
    article_id: str | None = None
    # Other state written with the outputs (index entries, publish's embargo queue); when `reads`
    # are given, the commands run only while what the stage read is unchanged.
    ops: tuple[Op, ...] = ()
    reads: tuple[Read, ...] = ()


@dataclass(frozen=True, slots=True)
class Skip:
    """Acknowledge without output (a duplicate, an already-published version)."""

    reason: str
    article_id: str | None = None


@dataclass(frozen=True, slots=True)
class Reject:
    """Bad input: retrying cannot help, so it goes to the dead-letter stream at once."""

    reason: str
    code: str = "rejected"
    source: str | None = None
    article_id: str | None = None
    correlation_id: str | None = None


@dataclass(frozen=True, slots=True)
class Retry:
    """Something failed that may succeed later: leave the entry pending for the reclaimer."""

    error: str
    article_id: str | None = None


Outcome = Emit | Skip | Reject | Retry


class Stage(Protocol):
    name: str

    async def process(self, batch: Sequence[Delivery]) -> Sequence[Outcome]:
        """One outcome per delivery, in the same order."""
        ...


# Seconds between commit attempts while Redis answers OOM: 0.1 doubling to 5.
OOM_RETRY_BASE_S = 0.1
OOM_RETRY_CAP_S = 5.0


@dataclass(frozen=True, slots=True)
class Retention:
    """How an output stream is trimmed on every XADD; both None keeps everything."""

    maxlen: int | None = None
    max_age_s: float | None = None

    def xadd_kwargs(self, now_ms: int) -> dict[str, Any]:
        if self.max_age_s is not None:
            return {"minid": f"{now_ms - int(self.max_age_s * 1000)}-0", "approximate": True}
        if self.maxlen is not None:
            return {"maxlen": self.maxlen, "approximate": True}
        return {}

    def lua_args(self, now_ms: int) -> list[str]:
        if self.max_age_s is not None:
            return ["MINID", "~", f"{now_ms - int(self.max_age_s * 1000)}-0"]
        if self.maxlen is not None:
            return ["MAXLEN", "~", str(self.maxlen)]
        return []


def retention_for(retention: Mapping[str, Retention], stream: str) -> Retention:
    """The stream's own entry, else its logical stream's, else its prefix's; none keeps all."""
    if stream in retention:
        return retention[stream]
    base = streams.base_of(stream)
    if base in retention:
        return retention[base]
    if stream.startswith(streams.WEBHOOK_DLQ_PREFIX) and streams.WEBHOOK_DLQ_PREFIX in retention:
        return retention[streams.WEBHOOK_DLQ_PREFIX]
    return Retention()


@dataclass(slots=True)
class BatchReport:
    emitted: int = 0
    skipped: int = 0
    rejected: int = 0
    retried: int = 0
    dead_lettered: int = 0
    duration_s: float = 0.0
    outcomes: list[tuple[Delivery, Outcome]] = field(default_factory=list)


def unique_consumer_name(prefix: str) -> str:
    """host-pid-random: unique per process and replica, readable in XINFO CONSUMERS."""
    return f"{prefix}-{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


async def ensure_group(client: aioredis.Redis, stream: str, group: str) -> bool:
    """Create `group` on `stream` from its first entry; True if created, False if it existed."""
    try:
        await client.xgroup_create(name=stream, groupname=group, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise
        return False
    return True


def dead_letter_fields(
    *,
    stage: str,
    delivery: Delivery,
    reason: str,
    code: str,
    source: str | None = None,
    article_id: str | None = None,
    correlation_id: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> Fields:
    """The dead letter of `delivery`, in the one format `shared.deadletter` defines."""
    return deadletter.encode(
        deadletter.DeadLetter(
            stage=stage,
            code=code,
            reason=reason,
            source_stream=delivery.stream,
            source_entry_id=delivery.entry_id,
            original=delivery.raw if delivery.raw is not None else delivery.fields,
            delivery_count=delivery.delivery_count,
            source=source,
            article_id=article_id,
            correlation_id=correlation_id,
            extra=extra or {},
        )
    )


class StaleReadError(Exception):
    """What a stage read changed before the commit (WATCH); nothing of that transaction was written."""


@dataclass
class Writes:
    """Redis commands to run as one transaction, each with the key that routes it.

    On one Redis they run as one MULTI/EXEC. On a Redis Cluster a transaction cannot span hash
    slots, so they run as one MULTI/EXEC per slot: the slots of `reads` first (so a stale read
    aborts before anything is written), the slot of `last_key` (the input stream, whose XACK ends
    the commit) last: a crash in between leaves the input unacknowledged, and the redelivery is
    caught by ingest's ledger, publish's version guard and the indexes' own versions.
    """

    ops: list[tuple[str, str, tuple[Any, ...], dict[str, Any]]] = field(default_factory=list)
    reads: list[Read] = field(default_factory=list)

    def add(self, key: str, method: str, *args: Any, **kwargs: Any) -> None:
        self.ops.append((key, method, args, kwargs))

    async def commit(self, client: aioredis.Redis, *, last_key: str | None = None) -> list[Any]:
        """Run the commands; raises `StaleReadError` (having written nothing) when a read changed."""
        if not self.ops:
            return []
        if not isinstance(client, RedisCluster):
            return await self._run(client, self.ops, self.reads)
        groups: dict[int, list[tuple[str, str, tuple[Any, ...], dict[str, Any]]]] = {}
        for op in self.ops:
            groups.setdefault(key_slot(op[0].encode()), []).append(op)
        reads: dict[int, list[Read]] = {}
        for read in self.reads:
            reads.setdefault(key_slot(read.key.encode()), []).append(read)
        last_slot = key_slot(last_key.encode()) if last_key else None
        results: list[Any] = []
        for slot in sorted(groups, key=lambda s: (s == last_slot, s not in reads)):
            results += await self._run(client, groups[slot], reads.get(slot, ()))
        return results

    @staticmethod
    async def _run(
        client: Any,
        ops: Sequence[tuple[str, str, tuple[Any, ...], dict[str, Any]]],
        reads: Sequence[Read] = (),
    ) -> list[Any]:
        async with client.pipeline(transaction=True) as pipe:
            try:
                if reads:
                    await pipe.watch(*dict.fromkeys(r.key for r in reads))
                    # Once WATCH is in place any change to these keys aborts the EXEC below, so the
                    # values can be checked on another connection, all in one round trip (on the
                    # watching connection each command would be a round trip of its own).
                    if not isinstance(client, RedisCluster) and all(r.method == "get" for r in reads):
                        # Plain GETs (the indexes' records): one MGET on one Redis.
                        current = await client.mget([r.args[0] for r in reads])
                    else:
                        async with client.pipeline(transaction=False) as check:
                            for read in reads:
                                getattr(check, read.method)(*read.args)
                            current = await check.execute()
                    for read, value in zip(reads, current, strict=True):
                        if value != read.value:
                            raise StaleReadError(read.key)
                    pipe.multi()
                for _, method, args, kwargs in ops:
                    getattr(pipe, method)(*args, **kwargs)
                return list(await pipe.execute())
            except WatchError as exc:
                raise StaleReadError(str(exc)) from exc


async def commit_fresh(
    client: aioredis.Redis,
    plan: Callable[[], Awaitable[Writes]],
    *,
    last_key: str | None = None,
    commit: Callable[[Writes], Awaitable[Any]] | None = None,
) -> bool:
    """Commit what `plan` returns, planning again while what it read goes stale in between.

    `commit` replaces the plain `Writes.commit` (the runner's waits out a full Redis). False
    when it was still stale after `MAX_STALE_RETRIES` plans (nothing written then).
    """
    for _ in range(MAX_STALE_RETRIES):
        writes = await plan()
        try:
            if commit is not None:
                await commit(writes)
            else:
                await writes.commit(client, last_key=last_key)
        except StaleReadError as exc:
            # Another writer changed what the plan read: plan again from the new state.
            log.debug("state changed under a plan; planning again", key=str(exc))
            continue
        return True
    return False


def writes_of(ops: Sequence[Op], reads: Sequence[Read] = ()) -> Writes:
    writes = Writes(reads=list(reads))
    for op in ops:
        writes.add(op.key, op.method, *op.args)
    return writes


BatchObserver = Callable[[str, BatchReport], Awaitable[None] | None]


class StageRunner:
    """Runs a `Stage` over batches from one input stream and commits the outcomes atomically."""

    def __init__(
        self,
        client: aioredis.Redis,
        stage: Stage,
        *,
        input_stream: str,
        group: str,
        consumer: str,
        max_deliveries: int,
        retention: Mapping[str, Retention] | None = None,
        observer: BatchObserver | None = None,
    ) -> None:
        self.client = client
        self.stage = stage
        self.input_stream = input_stream
        self.group = group
        self.consumer = consumer
        self.max_deliveries = max_deliveries
        self.retention = dict(retention or {})
        self.observer = observer
        self.last_handled = time.monotonic()
        self._log = log.bind(stage=stage.name, stream=input_stream, group=group, consumer=consumer)

    async def process(self, batch: Sequence[Delivery]) -> list[Outcome]:
        """The stage's outcomes; a batch that raises is re-run one entry at a time."""
        try:
            outcomes = list(await self.stage.process(batch))
        except Exception as exc:
            if len(batch) == 1:
                self._log.warning("entry failed", entry_id=batch[0].entry_id, error=repr(exc))
                return [Retry(error=repr(exc))]
            self._log.warning("batch failed; retrying entries one by one", size=len(batch), error=repr(exc))
            outcomes = []
            for delivery in batch:
                outcomes.extend(await self.process([delivery]))
        if len(outcomes) != len(batch):
            raise RuntimeError(f"stage {self.stage.name} returned {len(outcomes)} outcomes for {len(batch)}")
        return outcomes

    async def handle(self, batch: Sequence[Delivery]) -> BatchReport:
        self.last_handled = time.monotonic()
        started = time.perf_counter()
        report = BatchReport()
        # An entry delivered more often than allowed may be one that kills the process (its
        # Retry was never committed): it goes to the DLQ without running the stage again.
        spent = [d for d in batch if d.delivery_count > self.max_deliveries]
        fresh = [d for d in batch if d.delivery_count <= self.max_deliveries]
        not_run = [Retry(error=f"delivered {d.delivery_count} times; not run again") for d in spent]

        async def plan_batch() -> Writes:
            nonlocal report
            outcomes = await self.process(fresh) if fresh else []
            report, writes = self.plan([*fresh, *spent], [*outcomes, *not_run])
            return writes

        if not await commit_fresh(self.client, plan_batch, last_key=self.input_stream, commit=self._commit):
            error = f"state changed under the batch {MAX_STALE_RETRIES} times"
            report, writes = self.plan(batch, [Retry(error) for _ in batch])
            await self._commit(writes)
        report.duration_s = time.perf_counter() - started
        self._log_report(report)
        if self.observer is not None:
            result = self.observer(self.stage.name, report)
            if result is not None:
                await result
        return report

    def plan(self, batch: Sequence[Delivery], outcomes: Sequence[Outcome]) -> tuple[BatchReport, Writes]:
        """What committing `outcomes` writes: outputs, state, dead letters and the XACK."""
        report = BatchReport(outcomes=list(zip(batch, outcomes, strict=True)))
        now_ms = int(time.time() * 1000)
        writes = Writes()
        acks: list[str] = []
        # Emit.hset values of the whole batch, one HSET per hash (ingest's ledger: one command per
        # batch, not per article); a field set twice keeps its later value, as two HSETs would.
        hsets: dict[str, dict[str, str]] = {}
        # Guarded outputs by (keys of the guard): one FCALL per group for the whole batch.
        guarded: dict[tuple[str, ...], list[Any]] = {}
        for delivery, outcome in report.outcomes:
            if isinstance(outcome, Emit):
                self._queue_emit(writes, outcome, now_ms, guarded)
                for key, hash_field, value in outcome.hset:
                    hsets.setdefault(key, {})[hash_field] = value
                acks.append(delivery.entry_id)
                report.emitted += 1
            elif isinstance(outcome, Skip):
                acks.append(delivery.entry_id)
                report.skipped += 1
            elif isinstance(outcome, Reject):
                self._queue_dead_letter(writes, delivery, outcome.reason, outcome.code, outcome, now_ms)
                acks.append(delivery.entry_id)
                report.rejected += 1
            elif delivery.delivery_count >= self.max_deliveries:
                reason = f"failed {delivery.delivery_count} deliveries: {outcome.error}"
                self._queue_dead_letter(writes, delivery, reason, "max_deliveries", None, now_ms)
                acks.append(delivery.entry_id)
                report.dead_lettered += 1
            else:
                report.retried += 1
        for keys, args in guarded.items():
            trim = retention_for(self.retention, keys[2]).lua_args(now_ms)
            writes.add(
                keys[2], "fcall", functions.GUARDED_XADD_MANY, len(keys), *keys, len(trim), *trim, *args
            )
        for key, mapping in hsets.items():
            writes.add(key, "hset", key, mapping=mapping)
        if acks:
            writes.add(self.input_stream, "xack", self.input_stream, self.group, *acks)
        else:
            writes.reads.clear()  # nothing is written, so nothing read can be stale
        return report, writes

    async def _commit(self, writes: Writes) -> None:
        """Commit, waiting out a full Redis (OOM: the transaction wrote nothing) rather than
        letting the entries' delivery counts run up to the dead-letter stream."""
        delay_s = OOM_RETRY_BASE_S
        while True:
            try:
                await writes.commit(self.client, last_key=self.input_stream)
                return
            except OutOfMemoryError as exc:
                self._log.warning("redis is full; retrying the commit", retry_in_s=delay_s, error=str(exc))
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, OOM_RETRY_CAP_S)

    def _queue_emit(
        self, writes: Writes, outcome: Emit, now_ms: int, guarded: dict[tuple[str, ...], list[Any]]
    ) -> None:
        guard = outcome.guard
        for output in outcome.outputs:
            if guard is None:
                retention = retention_for(self.retention, output.stream)
                writes.add(
                    output.stream, "xadd", output.stream, output.fields, **retention.xadd_kwargs(now_ms)
                )
                continue
            # Checked and written in order inside Redis with the batch's other guarded outputs
            # (`functions.GUARDED_XADD_MANY`), so a later entry of the same article sees this one.
            keys = (guard.versions_key, guard.latest_key, output.stream, *(k for k, _ in guard.also_set))
            guarded.setdefault(keys, []).extend(
                (
                    guard.article_id,
                    guard.version,
                    guard.latest_value,
                    *(v for _, v in guard.also_set),
                    2 * len(output.fields),
                    *(item for pair in output.fields.items() for item in pair),
                )
            )
        for op in outcome.ops:
            writes.add(op.key, op.method, *op.args)
        writes.reads.extend(outcome.reads)

    def _queue_dead_letter(
        self,
        writes: Writes,
        delivery: Delivery,
        reason: str,
        code: str,
        reject: Reject | None,
        now_ms: int,
    ) -> None:
        fields = dead_letter_fields(
            stage=self.stage.name,
            delivery=delivery,
            reason=reason,
            code=code,
            source=reject.source if reject else None,
            article_id=reject.article_id if reject else None,
            correlation_id=reject.correlation_id if reject else None,
        )
        trim_kwargs = retention_for(self.retention, streams.DLQ).xadd_kwargs(now_ms)
        writes.add(streams.DLQ, "xadd", streams.DLQ, fields, **trim_kwargs)

    def _log_report(self, report: BatchReport) -> None:
        for delivery, outcome in report.outcomes:
            if isinstance(outcome, Emit):
                continue  # the stage logs its own success lines with the article context
            entry_log = self._log.bind(
                entry_id=delivery.entry_id,
                article_id=getattr(outcome, "article_id", None)
                or delivery.fields.get(streams.FIELD_ARTICLE_ID),
                article_version=delivery.fields.get(streams.FIELD_ARTICLE_VERSION),
                correlation_id=delivery.fields.get(streams.FIELD_CORRELATION_ID),
                trace_id=_trace_id(delivery.fields.get(streams.FIELD_TRACEPARENT)),
                delivery_count=delivery.delivery_count,
            )
            if isinstance(outcome, Skip):
                entry_log.info("skipped", reason=outcome.reason)
            elif isinstance(outcome, Reject):
                entry_log.warning("rejected to dead-letter stream", code=outcome.code, reason=outcome.reason)
            elif delivery.delivery_count >= self.max_deliveries:
                entry_log.error("dead-lettered after max deliveries", error=outcome.error)
            else:
                entry_log.warning("left pending for retry", error=outcome.error)
        self._log.debug(
            "batch committed",
            size=len(report.outcomes),
            emitted=report.emitted,
            skipped=report.skipped,
            rejected=report.rejected,
            retried=report.retried,
            dead_lettered=report.dead_lettered,
            duration_ms=round(report.duration_s * 1000, 2),
        )

    # --- recovery -----------------------------------------------------------------------------

    async def _delivery_counts(self, entry_ids: Sequence[str]) -> dict[str, int]:
        """Times delivered of each entry still pending; an entry acknowledged since is left out."""
        pipe = self.client.pipeline(transaction=False)
        for entry_id in entry_ids:
            pipe.xpending_range(self.input_stream, self.group, min=entry_id, max=entry_id, count=1)
        counts: dict[str, int] = {}
        for entry_id, rows in zip(entry_ids, await pipe.execute(), strict=True):
            if rows:
                counts[entry_id] = int(rows[0]["times_delivered"])
        return counts

    async def reclaim_once(self, *, min_idle_ms: int, count: int) -> int:
        """Take over entries idle at least `min_idle_ms` from any consumer and handle them.

        One entry per XAUTOCLAIM, handled and committed alone: an idle entry may be one that
        killed the process with its whole batch. Claimed with its neighbours, it would raise
        their delivery counts with each crash and take them past max_deliveries too. `count`
        bounds the entries handled per sweep.
        """
        start = "0-0"
        handled = 0
        while handled < count:
            reply = await self.client.xautoclaim(
                self.input_stream,
                self.group,
                self.consumer,
                min_idle_ms,
                start_id=start,
                count=1,
            )
            next_id, claimed = reply[0], reply[1]
            deleted = list(reply[2]) if len(reply) > 2 else []
            live = [(eid, f) for eid, f in claimed if f is not None]
            deleted += [eid for eid, f in claimed if f is None]
            if deleted:
                # Trimmed away before anyone handled them: nothing left to process or replay.
                self._log.error("pending entries were trimmed before handling", count=len(deleted))
                await self.client.xack(self.input_stream, self.group, *deleted)
            if live:
                ids = [as_text(eid) for eid, _ in live]
                counts = await self._delivery_counts(ids)
                # A slow first handler (a loaded host) may commit between the claim and now:
                # its entries are done, and handling them again would only skip them.
                batch = [
                    Delivery(self.input_stream, eid, text_fields(f), counts[eid], raw=f)
                    for eid, (_, f) in zip(ids, live, strict=True)
                    if eid in counts
                ]
                if batch:
                    self._log.info("reclaimed idle entries", count=len(batch))
                    await self.handle(batch)
                    handled += len(batch)
            start = as_text(next_id)
            if start == "0-0":
                break
        return handled

    async def read_new_once(self, *, count: int) -> int:
        """Read and handle new entries ('>') with our own client, without blocking.

        The recovery loop calls this only when the read loop has handled nothing for a while
        (a subscriber stuck for any reason): this keeps new entries moving meanwhile. Like one
        more replica in the group.
        """
        reply = await self.client.xreadgroup(self.group, self.consumer, {self.input_stream: ">"}, count=count)
        batch = [
            Delivery(self.input_stream, as_text(eid), text_fields(f), raw=f)
            for _, entries in reply or []
            for eid, f in entries
        ]
        if batch:
            self._log.warning("subscriber idle: read new entries directly", count=len(batch))
            await self.handle(batch)
        return len(batch)

    async def trim_input(self) -> None:
        """Trim articles.inbound to its retention: producers outside newsflow do not trim what
        they write (every other stream is trimmed by its writer, on XADD)."""
        if streams.base_of(self.input_stream) != streams.INBOUND:
            return
        kwargs = retention_for(self.retention, self.input_stream).xadd_kwargs(int(time.time() * 1000))
        if not kwargs:
            return
        try:
            await self.client.xtrim(self.input_stream, **kwargs)
        except ResponseError as exc:  # e.g. NOPERM: an ACL without +xtrim must not stop recovery
            self._log.warning("could not trim the input stream", error=str(exc))

    async def remove_stale_consumers(self, *, idle_ms: int) -> list[str]:
        """Delete consumers idle longer than `idle_ms` that hold nothing pending."""
        removed: list[str] = []
        for info in await self.client.xinfo_consumers(self.input_stream, self.group):
            name = as_text(info["name"])
            if name != self.consumer and int(info["pending"]) == 0 and int(info["idle"]) > idle_ms:
                await self.client.xgroup_delconsumer(self.input_stream, self.group, name)
                removed.append(name)
        if removed:
            self._log.info("removed stale consumers", consumers=removed)
        return removed

    async def run_recovery(
        self,
        stop: asyncio.Event,
        *,
        min_idle_ms: int,
        interval_s: float,
        count: int,
        stale_idle_ms: int,
    ) -> None:
        """Reclaim and clean up every `interval_s` until `stop` is set; survives Redis outages."""
        while not stop.is_set():
            try:
                await self.trim_input()
                await self.reclaim_once(min_idle_ms=min_idle_ms, count=count)
                if time.monotonic() - self.last_handled > min_idle_ms / 1000:
                    await self.read_new_once(count=count)
                await self.remove_stale_consumers(idle_ms=stale_idle_ms)
            except Exception as exc:  # keep recovering after Redis comes back
                self._log.warning("recovery sweep failed", error=repr(exc))
                if is_recoverable(exc):
                    # A failover: the commits' client may still route this slot to the dead master.
                    with contextlib.suppress(Exception):
                        await refresh_slot_map(self.client)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_s)


def _trace_id(traceparent: str | None) -> str | None:
    """The trace id of a W3C traceparent (`00-<trace id>-<span id>-<flags>`)."""
    parts = traceparent.split("-") if traceparent else []
    return parts[1] if len(parts) == 4 else None


def decode_events(batch: Sequence[Delivery], model: type[EnvelopeT]) -> list[EnvelopeT | Reject]:
    """Each delivery as an event of `model`, or the rejection that says why it is not one."""
    decoded: list[EnvelopeT | Reject] = []
    for delivery in batch:
        try:
            decoded.append(wire.decode(delivery.fields, model))
        except wire.WireError as exc:
            decoded.append(Reject(str(exc), "invalid_event"))
    return decoded


def deliveries_from_batch(raw_message: Mapping[str, Any]) -> list[Delivery]:
    """FastStream's raw batch message (channel, message_ids, data) as our deliveries."""
    stream = raw_message["channel"]
    ids = raw_message["message_ids"]
    data = raw_message["data"]
    return [
        Delivery(
            stream,
            eid.decode() if isinstance(eid, bytes) else str(eid),
            text_fields(fields),
            raw=fields,
        )
        for eid, fields in zip(ids, data, strict=True)
    ]
