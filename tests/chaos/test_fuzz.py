"""Random and hostile entries on every input stream: no service crashes, every entry is accounted for.

Inbound entries must each be published, dead-lettered with a typed rejection, or skipped by ingest
as a duplicate. Entries written straight into a consumer's input stream (articles.raw,
articles.tagged, articles.published) must each be dead-lettered as `invalid_event`.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable

import pytest

from shared import streams
from tests.chaos.conftest import Ledger
from tests.utils import chaos

pytestmark = pytest.mark.integration

# The stage that reads each stream; entries written there must be dead-lettered by it.
READER = {streams.INBOUND: "ingest", streams.RAW: "enrich", streams.TAGGED: "publish"}


def fuzz_entries(seed: int, *, inbound: int, per_stream: int) -> list[chaos.FuzzEntry]:
    entries = chaos.inbound_corpus(run=f"fuzz-{seed}-{inbound}")
    entries += chaos.draw_examples(chaos.inbound_fuzz_strategy(), inbound, seed)
    for stream in (streams.RAW, streams.TAGGED, streams.PUBLISHED):
        entries += chaos.malformed_event_corpus(stream)
        entries += chaos.draw_examples(chaos.malformed_event_strategy(stream), per_stream, seed)
    return entries


def fuzz_the_pipeline(
    cluster: chaos.Cluster, ledger: Ledger, *, title: str, entries: list[chaos.FuzzEntry], timeout_s: float
) -> chaos.FuzzBooks:
    client = cluster.client()
    began = time.monotonic()
    sent = chaos.send_fuzz(client, entries)
    books = chaos.wait_fuzz_settled(client, sent, cluster, timeout_s=timeout_s)
    chaos.wait_quiet(client)
    books = chaos.close_fuzz_books(client, sent, cluster.services["ingest"])
    summary = chaos.Books(
        sent=books.sent,
        published=books.published,
        duplicates=books.duplicates,
        lost=len(books.unaccounted),
        dlq=books.dlq,
    )
    by_stream = Counter(s.entry.stream for s in sent)
    summary.notes = {
        "seconds": round(time.monotonic() - began, 1),
        "entries per stream": dict(by_stream),
        "skipped as duplicates": books.skipped,
        "published, then redelivered and skipped": len(books.redelivered),
        "dead letters by (stage, code)": dict(sorted(books.codes.items())),
    }
    ledger.record(title, summary)
    return books


def assert_all_accounted(books: chaos.FuzzBooks, cluster: chaos.Cluster) -> None:
    assert cluster.dead_services() == [], cluster.log_tails()
    assert books.unaccounted == [], [(s.entry.name, s.entry_id) for s in books.unaccounted[:20]]
    assert books.published + books.dlq + books.skipped == books.sent
    assert books.twice == [], [(s.entry.name, found) for s, found in books.twice]
    assert books.duplicates == 0
    unexpected = [(s.entry.name, s.entry.expect, got) for s, got in books.unexpected]
    assert unexpected == []
    # Bad input is a typed rejection at the edge, never an exception retried to the limit.
    assert [key for key in books.codes if key[1] == "max_deliveries"] == []
    # Whatever reader of a stream rejected an entry, it was one that reads that stream.
    for s in [s for s in books.entries if s.entry.stream in READER]:
        stages = {letter.get("stage") for letter in books.dead_letters.get(s.correlation_id, [])}
        assert stages <= {READER[s.entry.stream]}, (s.entry.name, stages)
    assert books.markup_published == []


@pytest.mark.timeout(120)
def test_fuzzed_and_malformed_entries_crash_nothing_and_are_all_accounted_for(
    cluster: chaos.Cluster, chaos_ledger: Ledger, chaos_seed: int
) -> None:
    entries = fuzz_entries(chaos_seed, inbound=40, per_stream=8)
    books = fuzz_the_pipeline(cluster, chaos_ledger, title="fuzz (small)", entries=entries, timeout_s=60)
    assert_all_accounted(books, cluster)
    assert books.skipped >= 1  # the corpus sends one article twice


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_large_fuzz_batch_crashes_nothing_and_is_all_accounted_for(
    new_cluster: Callable[[str], chaos.Cluster], chaos_ledger: Ledger, chaos_seed: int
) -> None:
    cluster = new_cluster("everysec")
    entries = fuzz_entries(chaos_seed, inbound=500, per_stream=100)
    books = fuzz_the_pipeline(cluster, chaos_ledger, title="fuzz (large)", entries=entries, timeout_s=300)
    assert_all_accounted(books, cluster)


@pytest.mark.timeout(60)
def test_a_non_utf8_entry_does_not_hold_back_the_valid_entries_read_with_it(
    cluster: chaos.Cluster, chaos_seed: int
) -> None:
    client = cluster.client()
    ingest = cluster.services["ingest"]
    errors_before = len([r for r in ingest.log_records() if r.get("level") == "error"])
    reclaims_before = len([r for r in ingest.log_records() if r.get("event") == "reclaimed idle entries"])
    neighbours = chaos.make_articles(5, random.Random(chaos_seed), run=f"latin1-{chaos_seed}")
    latin1 = chaos.FuzzEntry(
        "latin1",
        streams.INBOUND,
        {
            streams.INBOUND_PAYLOAD.encode(): "Café society\n\nA body long enough to be an article.".encode(
                "latin-1"
            ),
            streams.INBOUND_CONTENT_TYPE.encode(): b"text/plain",
        },
    )
    # One pipeline, so that the service reads them as one batch.
    cid = f"latin1-{chaos_seed}"
    began = time.monotonic()
    pipe = client.pipeline(transaction=False)
    fields = {**latin1.fields, streams.FIELD_CORRELATION_ID.encode(): cid.encode()}
    pipe.xadd(streams.INBOUND, fields)  # type: ignore[arg-type]
    for article in neighbours:
        pipe.xadd(streams.INBOUND, article.fields())  # type: ignore[arg-type]
    entry_ids = pipe.execute()
    sent = chaos.SentFuzz(latin1, entry_ids[0].decode(), cid)
    missing = chaos.wait_settled(
        client, [a.correlation_id for a in neighbours] + [sent.correlation_id], timeout_s=45
    )
    took = time.monotonic() - began
    print(f"\nneighbours of a non-UTF-8 entry published after {took:.1f} s")
    assert missing == set()
    books = chaos.close_fuzz_books(client, [sent], ingest)
    assert books.outcomes[sent.correlation_id] == "dlq:not_utf8"
    errors = [r for r in ingest.log_records() if r.get("level") == "error"][errors_before:]
    reclaims = [r for r in ingest.log_records() if r.get("event") == "reclaimed idle entries"][
        reclaims_before:
    ]
    assert errors == [], errors[0].get("event")
    assert reclaims == []
