"""kill -9 of redis-server mid-stream, restarted on its AOF: no acknowledged article is lost.

"Acknowledged" is an XADD to articles.inbound that returned an id. With `appendfsync always` that
is the whole promise. With `everysec` Redis may lose the last second of writes on a crash, so an
article acknowledged less than 1 s before a kill is only reported if it is lost, not failed on.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import pytest

from tests.chaos.conftest import Ledger
from tests.utils import chaos

pytestmark = pytest.mark.integration

# appendfsync everysec: writes acknowledged in this window before a crash may not be on disk.
EVERYSEC_WINDOW_S = 1.0


def restart_redis_under_load(
    cluster: chaos.Cluster,
    ledger: Ledger,
    *,
    title: str,
    seed: int,
    articles: int,
    restarts: int,
    rate_per_s: float,
    settle_timeout_s: float,
) -> tuple[chaos.Books, set[str]]:
    """The books, and the correlation ids acknowledged inside a kill's everysec window."""
    rng = random.Random(seed)
    sent = chaos.make_articles(articles, rng, run=f"redis-{cluster.appendfsync}-{seed}-{articles}")
    pids = {name: proc.pid for name, proc in cluster.services.items()}
    producer = chaos.Producer(cluster.url, sent, rate_per_s=rate_per_s).start()
    began = time.monotonic()
    kills: list[float] = []
    downtimes: list[float] = []
    for _ in range(restarts):
        time.sleep(rng.uniform(1.0, 4.0))
        down_s = rng.uniform(0.2, 2.0)
        kills.append(cluster.restart_redis(down_s=down_s))
        downtimes.append(down_s)
    producer.join(timeout_s=120)
    acked = producer.acked()
    at_risk = {
        a.article.correlation_id
        for a in acked
        if cluster.appendfsync != "always"
        and any(killed - EVERYSEC_WINDOW_S <= a.acked_at <= killed for killed in kills)
    }
    client = cluster.client()
    must_settle = [a.article.correlation_id for a in acked if a.article.correlation_id not in at_risk]
    missing = chaos.wait_settled(
        client, must_settle, timeout_s=settle_timeout_s, alive=cluster.services.values()
    )
    # Those in the window get a short grace: published if they survived, else counted as lost.
    chaos.wait_settled(client, at_risk, timeout_s=5, alive=cluster.services.values())
    chaos.wait_quiet(client)
    books = chaos.close_books(client, [a.article for a in acked], cluster=cluster)
    lost_ids = set(books.lost_ids)
    lost_cids = {a.correlation_id for a in sent if a.source_id in lost_ids}
    books.notes = {
        "seconds": round(time.monotonic() - began, 1),
        "appendfsync": cluster.appendfsync,
        "redis down (s)": ", ".join(f"{d:.1f}" for d in downtimes),
        "XADD attempts refused while down": producer.errors,
        "acked <1 s before a kill (may be lost)": len(at_risk),
        "  of those lost": len(lost_cids & at_risk),
        "acked earlier or after, lost": len(lost_cids - at_risk),
        "services restarted by us": sum(pids[n] != p.pid for n, p in cluster.services.items()),
        "not settled": len(missing),
    }
    ledger.record(title, books)
    assert len(acked) == len(sent), "the producer must get every article in eventually"
    assert cluster.dead_services() == [], "services must ride out a Redis restart"
    assert {name: proc.pid for name, proc in cluster.services.items()} == pids, "no service restarted"
    assert books.duplicates == 0, f"duplicated (article_id, version): {books.duplicate_keys[:20]}"
    assert books.unexpected_versions == []
    assert not (lost_cids - at_risk), f"acknowledged articles lost: {sorted(books.lost_ids)[:20]}"
    return books, at_risk


@pytest.mark.timeout(120)
def test_redis_killed_and_restarted_with_appendfsync_always_loses_no_acknowledged_article(
    cluster: chaos.Cluster, chaos_ledger: Ledger, chaos_seed: int
) -> None:
    assert cluster.appendfsync == "always"
    books, at_risk = restart_redis_under_load(
        cluster,
        chaos_ledger,
        title="redis kill -9 + restart, appendfsync always",
        seed=chaos_seed,
        articles=150,
        restarts=1,
        # 5 s of pushing: the restart (1–4 s in) lands while articles are still coming in.
        rate_per_s=30,
        settle_timeout_s=60,
    )
    assert at_risk == set()
    assert books.lost == 0
    assert books.published == books.sent
    assert books.redis_restarts == 1


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("appendfsync", ["everysec", "always"])
def test_redis_restarts_under_load_lose_no_acknowledged_article(
    new_cluster: Callable[[str], chaos.Cluster], chaos_ledger: Ledger, chaos_seed: int, appendfsync: str
) -> None:
    cluster = new_cluster(appendfsync)
    books, _ = restart_redis_under_load(
        cluster,
        chaos_ledger,
        title=f"redis kill -9 + restart x3, appendfsync {appendfsync} (600 articles)",
        seed=chaos_seed,
        articles=600,
        restarts=3,
        rate_per_s=40,
        settle_timeout_s=180,
    )
    assert books.redis_restarts == 3
    if appendfsync == "always":
        assert books.lost == 0
