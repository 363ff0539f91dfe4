"""An entry that kills enrich each time it is tagged ends in articles.dlq after MAX_DELIVERIES.

Before the delivery count was checked ahead of the stage, such an entry was reclaimed and crashed
a fresh enrich forever: its Retry was never committed, so it never reached the dead letters.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import pytest

from tests.chaos.conftest import Ledger
from tests.utils import chaos


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_entry_that_kills_enrich_ends_in_the_dlq_after_max_deliveries_and_the_rest_publish(
    new_cluster: Callable[[str], chaos.Cluster], chaos_ledger: Ledger, chaos_seed: int
) -> None:
    cluster = new_cluster("everysec")
    rng = random.Random(chaos_seed)
    sent = chaos.make_articles(20, rng, run=f"crash-{chaos_seed}", crash={5})
    crashing = sent[5]
    chaos.Producer(cluster.url, sent).start().join(timeout_s=60)
    client = cluster.client()
    enrich = cluster.services["enrich"]
    crashes = 0
    deadline = time.monotonic() + 480
    missing = {a.correlation_id for a in sent}
    while missing and time.monotonic() < deadline:
        if not enrich.alive():
            crashes += 1
            enrich.start()  # what Kubernetes does after an OOM kill
            enrich.wait_ready()
        missing = chaos.wait_settled(
            client,
            missing,
            timeout_s=2,
            alive=[cluster.services["ingest"], cluster.services["publish"]],
        )
    chaos.wait_quiet(client)
    books = chaos.close_books(client, sent, expect_dead_letter={crashing.correlation_id}, cluster=cluster)
    books.notes = {"enrich crashes": crashes}
    chaos_ledger.record("an entry that kills enrich every time", books)

    assert books.lost == 0, books.lost_ids
    assert books.duplicates == 0, books.duplicate_keys
    assert books.published == len(sent) - 1
    letter = books.dead_letters[crashing.correlation_id]
    assert letter["stage"] == "enrich"
    assert letter["code"] == "max_deliveries"
    max_deliveries = cluster.settings.max_deliveries
    # Each of the first max_deliveries deliveries killed enrich; the next one was not run.
    assert crashes == max_deliveries
    assert int(letter["delivery_count"]) == max_deliveries + 1
