"""The pipeline on a 3-master, 3-replica Redis Cluster through failovers, and its read loop on MOVED."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import orjson
import pytest
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.commands.core import AsyncScript
from redis.exceptions import MovedError, RedisClusterException, RedisError

from newsflow.pipeline import run_pipeline
from newsflow.redis_cluster import RedisClusterProcesses
from services.ingest.settings import IngestSettings
from shared import streams
from shared.runtime.consumer import Delivery, Emit, Outcome, Output, StageRunner, ensure_group
from shared.runtime.metrics import ServiceMetrics
from shared.runtime.reader import StreamReader, refreshing_observer
from shared.runtime.redis_client import SlotMapRefresher, is_recoverable, make_client, make_reader_client

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(240),
    # redis-py drops its connections to the killed master without closing them; the garbage
    # collector reports each one. They are the dead node's, not a leak of ours.
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

PARTITIONS = 3
PEOPLE = ["Ana Lima", "Jonas Berg", "Mei Tanaka", "Omar Haddad"]
PLACES = ["Lisbon", "Oslo", "Nairobi", "Lima"]


def article(i: int) -> bytes:
    body = (
        f"{PEOPLE[i % 4]} met {PEOPLE[(i + 1) % 4]} in {PLACES[i % 4]} on Monday to discuss port "
        f"investment number {i}. The talks in {PLACES[(i + 2) % 4]} will continue next week, "
        "officials said, after a first round that both sides called constructive."
    )
    return orjson.dumps({"id": f"cluster-{i}", "title": f"Port talks, round {i}", "body": body})


async def xadd_with_retry(client: RedisCluster, payload: bytes, deadline_s: float = 60.0) -> str:
    """Producers retry while a failover is under way (connection errors for a few seconds)."""
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            entry_id = await client.xadd(
                streams.INBOUND,
                {streams.INBOUND_PAYLOAD: payload, streams.INBOUND_CONTENT_TYPE: "application/json"},
            )
            return str(entry_id.decode())
        except RedisError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def published_ids(client: RedisCluster) -> list[tuple[str, str]]:
    try:
        entries = await client.xrange(streams.PUBLISHED)
    except RedisError:
        return []
    return [(f[b"article_id"].decode(), f[b"article_version"].decode()) for _, f in entries]


async def wait_published(client: RedisCluster, want: int, timeout_s: float) -> list[tuple[str, str]]:
    deadline = time.monotonic() + timeout_s
    while True:
        ids = await published_ids(client)
        if len(ids) >= want or time.monotonic() > deadline:
            return ids
        await asyncio.sleep(0.25)


@dataclass
class FailoverRun:
    published: list[tuple[str, str]]
    killed_ports: list[int]
    # Seconds from each kill until its wave was all published.
    recovery_s: list[float] = field(default_factory=list)


async def run_failover_scenario(*, per_wave: int, kills: int, wave_timeout_s: float = 90) -> FailoverRun:
    """Push a wave, wait for it, then per kill: kill the master of articles.published (the
    busiest slot; another master once that one has no replica left to take over) and push
    another wave with producer retries. Returns what was published."""
    total = per_wave * (kills + 1)
    run = FailoverRun([], [])
    with RedisClusterProcesses() as cluster:
        client = RedisCluster.from_url(cluster.url.replace("+cluster", ""))
        try:
            async with run_pipeline(cluster.url, partitions=PARTITIONS, reclaim_idle_ms=2_000):
                for i in range(per_wave):
                    await xadd_with_retry(client, article(i))
                before = await wait_published(client, per_wave, timeout_s=60)
                assert len(before) == per_wave
                raw_nodes = {
                    cluster.master_for_key(s).port for s in streams.all_partitions(streams.RAW, PARTITIONS)
                }
                assert len(raw_nodes) > 1, "partitions should spread over the masters"
                for kill in range(1, kills + 1):
                    victim = cluster.master_with_replica(streams.PUBLISHED)
                    run.killed_ports.append(victim.port)
                    victim.kill()
                    killed_at = time.monotonic()
                    for i in range(per_wave * kill, per_wave * (kill + 1)):
                        await xadd_with_retry(client, article(i))
                    run.published = await wait_published(
                        client, per_wave * (kill + 1), timeout_s=wave_timeout_s
                    )
                    run.recovery_s.append(round(time.monotonic() - killed_at, 1))
                    cluster.wait_healthy()
        finally:
            await client.aclose()
    # Collect the dead node's dropped connections now, while this test's warning filters apply.
    gc.collect()
    ids = {article_id for article_id, _ in run.published}
    lost = total - len(ids)
    assert lost == 0, f"{lost} acknowledged articles not published (recovery times {run.recovery_s} s)"
    return run


async def test_pipeline_continues_after_a_master_fails_and_loses_no_acknowledged_article() -> None:
    published = (await run_failover_scenario(per_wave=20, kills=1)).published
    assert len(published) == len(set(published)) == 40  # each article version exactly once
    assert all(version == "1" for _, version in published)


@pytest.mark.slow
@pytest.mark.timeout(900)
async def test_full_cluster_run_loses_and_doubles_nothing_across_a_failover_under_load() -> None:
    published = (await run_failover_scenario(per_wave=250, kills=1)).published
    assert len(published) == len(set(published)) == 500


@pytest.mark.slow
@pytest.mark.timeout(900)
async def test_two_failovers_of_different_masters_under_load_publish_each_article_once() -> None:
    run = await run_failover_scenario(per_wave=200, kills=2, wave_timeout_s=120)
    assert len(set(run.killed_ports)) == 2, "the second failover must take a different master"
    duplicates = len(run.published) - len(set(run.published))
    assert duplicates == 0
    assert len(run.published) == 600
    assert all(version == "1" for _, version in run.published)
    print(f"two failovers: 600 published, 0 lost, 0 duplicates, recovery {run.recovery_s} s")


# One hash tag: the read loop's input and output on one slot of one master.
LOOP_IN, LOOP_OUT = "loop.in{t}", "loop.out{t}"


class CopyStage:
    name = "copy"

    async def process(self, batch: Sequence[Delivery]) -> Sequence[Outcome]:
        return [Emit((Output(LOOP_OUT, {"n": d.fields["n"]}),)) for d in batch]


async def test_a_rebuilt_reader_client_starts_from_every_node_the_old_one_knew() -> None:
    with RedisClusterProcesses() as cluster:
        settings = IngestSettings(redis_url=cluster.url)
        url_node = next(n for n in cluster.nodes if f":{n.port}/" in cluster.url)
        old = make_reader_client(settings, block_ms=50)
        fresh = make_reader_client(settings, block_ms=50)
        rebuilt: aioredis.Redis | None = None
        try:
            await old.xadd(LOOP_IN, {"n": "1"})
            url_node.kill()  # the only node the URL names
            cluster.wait_failed_over(url_node)
            # Built from the URL alone, a client cannot find the cluster any more...
            with pytest.raises(RedisClusterException) as raised:
                await fresh.xlen(LOOP_IN)
            assert is_recoverable(raised.value)
            # ...built from what the failed one knew, it finds the promoted replica.
            rebuilt = make_reader_client(settings, block_ms=50, previous=old)
            assert await rebuilt.xlen(LOOP_IN) == 1
        finally:
            for client in (old, fresh, rebuilt):
                if client is not None:
                    await client.aclose()
    gc.collect()


async def test_reader_answered_moved_builds_a_new_client_and_reads_on() -> None:
    with RedisClusterProcesses(replicas_per_master=0) as cluster:
        settings = IngestSettings(redis_url=cluster.url)
        owner = cluster.master_for_key(LOOP_IN)
        elsewhere = next(n for n in cluster.nodes if n.port != owner.port)
        commits = make_reader_client(settings, block_ms=50)
        await ensure_group(commits, LOOP_IN, "g")
        runner = StageRunner(
            commits, CopyStage(), input_stream=LOOP_IN, group="g", consumer="c1", max_deliveries=3
        )

        def new_client(previous: aioredis.Redis | None) -> aioredis.Redis:
            if previous is None:  # a plain client on a node that does not serve the slot: MOVED
                return aioredis.Redis(port=elsewhere.port)
            return make_reader_client(settings, block_ms=50, previous=previous)

        metrics = ServiceMetrics("copy")
        reader = StreamReader(
            runner, new_client, count=10, block_ms=50, on_recovery=metrics.observe_read_recovery
        )
        with pytest.raises(MovedError):
            await reader.read()  # what the first client gets, as redis-py raises it
        stop = asyncio.Event()
        task = asyncio.create_task(reader.run(stop))
        try:
            for n in range(10):
                await commits.xadd(LOOP_IN, {"n": str(n)})
            deadline = time.monotonic() + 20
            while await commits.xlen(LOOP_OUT) < 10:
                assert time.monotonic() < deadline, "the reader did not read on after MOVED"
                await asyncio.sleep(0.05)
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout=5)
            await commits.aclose()
    assert reader.rebuilds == 1
    labels = {"stage": "copy", "stream": LOOP_IN, "action": "rebuild_client", "error": "MovedError"}
    assert metrics.registry.get_sample_value("newsflow_read_recoveries_total", labels) == 1


class ScriptStage:
    """Runs a registered Lua script per entry, as enrich's entity registry does."""

    name = "script"

    def __init__(self, script: AsyncScript, key: str) -> None:
        self.script = script
        self.key = key

    async def process(self, batch: Sequence[Delivery]) -> Sequence[Outcome]:
        outcomes: list[Outcome] = []
        for d in batch:
            await self.script(keys=[self.key])
            outcomes.append(Emit((Output(LOOP_OUT, {"n": d.fields["n"]}),)))
        return outcomes


async def test_a_stage_whose_script_went_missing_in_a_failover_succeeds_on_its_retry() -> None:
    with RedisClusterProcesses() as cluster:
        settings = IngestSettings(redis_url=cluster.url)
        # A key served by another master than the input stream, which stays readable throughout.
        key = next(
            k
            for k in (f"script:{i}" for i in range(100))
            if cluster.master_for_key(k).port != cluster.master_for_key(LOOP_IN).port
        )
        client = make_client(settings)
        try:
            script = client.register_script("return redis.call('INCR', KEYS[1])")
            await script(keys=[key])  # loaded on today's master only: replicas do not get it
            await ensure_group(client, LOOP_IN, "g")
            metrics = ServiceMetrics("script")
            runner = StageRunner(
                client,
                ScriptStage(script, key),
                input_stream=LOOP_IN,
                group="g",
                consumer="c1",
                max_deliveries=5,
                observer=refreshing_observer(metrics, SlotMapRefresher(client)),
            )
            victim = cluster.master_for_key(key)
            victim.kill()
            entry_id = (await client.xadd(LOOP_IN, {"n": "1"})).decode()
            await client.xreadgroup("g", "c1", {LOOP_IN: ">"})
            # Handled again and again through the failover, as the reclaimer would: redis-py alone
            # answers NOSCRIPT from the promoted replica for as long as the process lives.
            deadline = time.monotonic() + 40
            retried = 0
            while (report := await runner.handle([Delivery(LOOP_IN, entry_id, {"n": "1"})])).emitted == 0:
                retried += report.retried
                assert time.monotonic() < deadline, "the stage never ran again after the failover"
                await asyncio.sleep(0.3)
            assert retried >= 1
            assert await client.xlen(LOOP_OUT) == 1
            labels = {"stage": "script", "stream": LOOP_IN, "action": "refresh_slot_map", "error": "Retry"}
            assert (metrics.registry.get_sample_value("newsflow_read_recoveries_total", labels) or 0) >= 1
        finally:
            await client.aclose()
    gc.collect()
