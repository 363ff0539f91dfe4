"""kill -9 each service in turn at random moments under load: every article is published exactly once."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import pytest

from tests.chaos.conftest import Ledger
from tests.utils import chaos

pytestmark = pytest.mark.integration


def kill_order(rng: random.Random, kills: int) -> list[str]:
    """Each service in turn: rounds of all three, each round in a random order."""
    order: list[str] = []
    while len(order) < kills:
        round_ = list(chaos.SERVICES)
        rng.shuffle(round_)
        order += round_
    return order[:kills]


def kill_under_load(
    cluster: chaos.Cluster,
    ledger: Ledger,
    *,
    title: str,
    seed: int,
    articles: int,
    kills: int,
    rate_per_s: float,
    settle_timeout_s: float,
) -> chaos.Books:
    rng = random.Random(seed)
    sent = chaos.make_articles(articles, rng, run=f"kill-{seed}-{articles}")
    producer = chaos.Producer(cluster.url, sent, rate_per_s=rate_per_s).start()
    began = time.monotonic()
    restarts = []
    for name in kill_order(rng, kills):
        # A random moment: somewhere in a batch, a commit, a reclaim sweep, or idle.
        time.sleep(rng.uniform(0.2, 2.5))
        restarts.append(cluster.kill_and_restart(name))
    producer.join(timeout_s=120)
    client = cluster.client()
    missing = chaos.wait_settled(
        client,
        [a.correlation_id for a in sent],
        timeout_s=settle_timeout_s,
        alive=cluster.services.values(),
    )
    chaos.wait_quiet(client)
    books = chaos.close_books(client, sent, cluster=cluster)
    reclaimed = sum(
        int(record.get("count", 0))
        for proc in cluster.services.values()
        for record in proc.log_records()
        if record.get("event") == "reclaimed idle entries"
    )
    books.notes = {
        "seconds": round(time.monotonic() - began, 1),
        "kills per service": dict(cluster.kills),
        "restart to ready (s)": f"mean {sum(restarts) / len(restarts):.1f}, max {max(restarts):.1f}",
        "entries reclaimed from killed consumers": reclaimed,
        "not settled": len(missing),
    }
    ledger.record(title, books)
    return books


def assert_exactly_once(books: chaos.Books, cluster: chaos.Cluster, kills: int) -> None:
    assert books.lost == 0, f"lost {books.lost}: {books.lost_ids[:20]}"
    assert books.duplicates == 0, f"duplicated (article_id, version): {books.duplicate_keys[:20]}"
    assert books.published == books.sent
    assert books.unexpected_versions == []
    assert books.dlq == 0, books.dead_letters
    assert sum(cluster.kills.values()) == kills
    assert cluster.dead_services() == []


@pytest.mark.timeout(120)
def test_each_service_killed_once_under_load_publishes_every_article_exactly_once(
    cluster: chaos.Cluster, chaos_ledger: Ledger, chaos_seed: int
) -> None:
    books = kill_under_load(
        cluster,
        chaos_ledger,
        title="kill -9, one per service",
        seed=chaos_seed,
        articles=150,
        kills=3,
        rate_per_s=20,
        settle_timeout_s=60,
    )
    assert_exactly_once(books, cluster, kills=3)
    assert set(cluster.kills) == set(chaos.SERVICES)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_two_dozen_kills_across_services_lose_and_duplicate_nothing(
    new_cluster: Callable[[str], chaos.Cluster], chaos_ledger: Ledger, chaos_seed: int
) -> None:
    cluster = new_cluster("everysec")
    books = kill_under_load(
        cluster,
        chaos_ledger,
        title="kill -9 x24 under load (2,000 articles)",
        seed=chaos_seed,
        articles=2000,
        kills=24,
        rate_per_s=20,
        settle_timeout_s=300,
    )
    assert_exactly_once(books, cluster, kills=24)
    assert min(cluster.kills.values()) == 8
