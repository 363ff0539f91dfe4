"""An article enrich fails on every time ends in articles.dlq after MAX_DELIVERIES; the rest flow on."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import pytest

from shared import streams
from tests.chaos.conftest import Ledger
from tests.utils import chaos

pytestmark = pytest.mark.integration


def send_with_poison(
    cluster: chaos.Cluster,
    ledger: Ledger,
    *,
    title: str,
    seed: int,
    articles: int,
    poison: set[int],
    enrich_kills: int = 0,
    rate_per_s: float | None = None,
) -> tuple[chaos.Books, list[chaos.Article], list[chaos.Article]]:
    rng = random.Random(seed)
    sent = chaos.make_articles(articles, rng, run=f"poison-{seed}-{articles}", poison=poison)
    poisoned = [sent[i] for i in sorted(poison)]
    producer = chaos.Producer(cluster.url, sent, rate_per_s=rate_per_s).start()
    for _ in range(enrich_kills):
        time.sleep(rng.uniform(1.0, 3.0))
        cluster.kill_and_restart("enrich")
    producer.join(timeout_s=60)
    client = cluster.client()
    missing = chaos.wait_settled(
        client, [a.correlation_id for a in sent], timeout_s=120, alive=cluster.services.values()
    )
    chaos.wait_quiet(client)
    books = chaos.close_books(
        client, sent, expect_dead_letter={a.correlation_id for a in poisoned}, cluster=cluster
    )
    books.notes = {"not settled": len(missing)}
    ledger.record(title, books)
    assert cluster.dead_services() == []
    assert books.lost == 0, books.lost_ids
    assert books.duplicates == 0, books.duplicate_keys
    assert books.dlq == len(poisoned)
    assert books.published == articles - len(poisoned)
    for article in poisoned:
        letter = books.dead_letters[article.correlation_id]
        assert letter["stage"] == "enrich"
        assert letter["code"] == "max_deliveries"
        assert letter["source_stream"] == streams.RAW
        assert int(letter["delivery_count"]) >= cluster.settings.max_deliveries
        assert "poison marker" in letter["reason"]
    return books, sent, poisoned


def _stream_id(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq)


@pytest.mark.timeout(90)
def test_poison_article_is_dead_lettered_after_max_deliveries_while_the_others_publish(
    cluster: chaos.Cluster, chaos_ledger: Ledger, chaos_seed: int
) -> None:
    books, sent, (poisoned,) = send_with_poison(
        cluster, chaos_ledger, title="poison article", seed=chaos_seed, articles=21, poison={7}
    )
    letter = books.dead_letters[poisoned.correlation_id]
    # No kill in this test: exactly MAX_DELIVERIES tries, the first by the reader, then reclaims.
    assert int(letter["delivery_count"]) == cluster.settings.max_deliveries
    # The others did not wait for it: every one was out before the poison was given up on.
    client = cluster.client()
    (dead_at,) = [
        _stream_id(entry_id)
        for entry_id, fields in chaos.read_stream(client, streams.DLQ)
        if fields.get(streams.FIELD_CORRELATION_ID) == poisoned.correlation_id
    ]
    healthy = {a.correlation_id for a in sent} - {poisoned.correlation_id}
    published_at = [
        _stream_id(entry_id)
        for entry_id, fields in chaos.read_stream(client, streams.PUBLISHED)
        if fields.get(streams.FIELD_CORRELATION_ID) in healthy
    ]
    assert len(published_at) == len(healthy)
    assert max(published_at) < dead_at


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_poison_articles_reach_the_dlq_across_enrich_kills(
    new_cluster: Callable[[str], chaos.Cluster], chaos_ledger: Ledger, chaos_seed: int
) -> None:
    cluster = new_cluster("everysec")
    send_with_poison(
        cluster,
        chaos_ledger,
        title="5 poison articles among 300, enrich killed twice",
        seed=chaos_seed,
        articles=300,
        poison={3, 70, 150, 222, 299},
        enrich_kills=2,
        rate_per_s=30,
    )
