"""The pipeline on a 3-master, 3-replica Redis Cluster, through the failover of a master."""

from __future__ import annotations

import asyncio
import gc
import time

import orjson
import pytest
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

from newsflow.pipeline import run_pipeline
from newsflow.redis_cluster import RedisClusterProcesses
from shared import streams

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


async def run_failover_scenario(*, per_wave: int, kills: int) -> list[tuple[str, str]]:
    """Push a wave, wait for it, then per kill: kill the master of articles.published (the
    busiest slot; another master once that one has no replica left to take over) and push
    another wave with producer retries. Returns what was published."""
    total = per_wave * (kills + 1)
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
                    cluster.master_with_replica(streams.PUBLISHED).kill()
                    for i in range(per_wave * kill, per_wave * (kill + 1)):
                        await xadd_with_retry(client, article(i))
                    after = await wait_published(client, per_wave * (kill + 1), timeout_s=90)
                    cluster.wait_healthy()
        finally:
            await client.aclose()
    # Collect the dead node's dropped connections now, while this test's warning filters apply.
    gc.collect()
    assert len({article_id for article_id, _ in after}) == total
    return after


async def test_pipeline_continues_after_a_master_fails_and_loses_no_acknowledged_article() -> None:
    published = await run_failover_scenario(per_wave=20, kills=1)
    assert len(published) == len(set(published)) == 40  # each article version exactly once
    assert all(version == "1" for _, version in published)


@pytest.mark.slow
@pytest.mark.timeout(900)
async def test_full_cluster_run_loses_and_doubles_nothing_across_a_failover_under_load() -> None:
    published = await run_failover_scenario(per_wave=250, kills=1)
    assert len(published) == len(set(published)) == 500
