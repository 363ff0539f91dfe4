"""Fixtures of the chaos suite: clusters of real processes, the seed, the suite's running totals.

The harness (processes, articles, producer, accounting) is the plain module tests/utils/chaos.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.utils import chaos


class Ledger:
    """Books of every chaos test in the session: each printed as it closes, the sum at the end."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, chaos.Books]] = []

    def record(self, title: str, books: chaos.Books) -> None:
        self.entries.append((title, books))
        print("\n" + chaos.table(title, books))

    def total(self) -> chaos.Books:
        total = chaos.Books(sent=0, published=0, duplicates=0, lost=0, dlq=0)
        for _, books in self.entries:
            total = total + books
        return total


@pytest.fixture(scope="session")
def chaos_ledger() -> Iterator[Ledger]:
    ledger = Ledger()
    yield ledger
    if ledger.entries:
        lines = [f"  {title}: {books.figures()}" for title, books in ledger.entries]
        print("\n" + "\n".join(lines) + "\n" + chaos.table("chaos suite, all tests", ledger.total()))


@pytest.fixture(scope="session")
def chaos_seed() -> int:
    seed = chaos.new_seed()
    print(f"\nchaos seed: {seed} (replay with NEWSFLOW_CHAOS_SEED={seed})")
    return seed


def _started(cluster: chaos.Cluster) -> chaos.Cluster:
    ready = cluster.start()
    timings = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in ready.items())
    print(
        f"\nchaos cluster on port {cluster.server.port} (appendfsync {cluster.appendfsync}) ready: {timings}"
    )
    return cluster


@pytest.fixture(scope="package")
def shared_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[chaos.Cluster]:
    """One cluster (AOF, appendfsync always) for the fast tests: starting one costs about 5 s."""
    cluster = chaos.Cluster(tmp_path_factory.mktemp("chaos-shared"), appendfsync="always")
    try:
        yield _started(cluster)
    finally:
        cluster.stop()


@pytest.fixture
def cluster(request: pytest.FixtureRequest, shared_cluster: chaos.Cluster) -> Iterator[chaos.Cluster]:
    """The shared cluster, its counters reset, any dead service restarted; logs shown on failure."""
    for name in shared_cluster.dead_services():
        shared_cluster.services[name].start()
        shared_cluster.services[name].wait_ready()
    shared_cluster.kills.clear()
    shared_cluster.redis_restarts = 0
    failed_before = request.session.testsfailed
    yield shared_cluster
    # The call's report is counted before teardown runs, so this sees the test's own failure.
    if request.session.testsfailed > failed_before:
        print(f"\n{shared_cluster.log_tails()}")


@pytest.fixture
def new_cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[str], chaos.Cluster]]:
    """A private cluster with the given appendfsync, stopped at the end of the test."""
    made: list[chaos.Cluster] = []

    def make(appendfsync: str) -> chaos.Cluster:
        cluster = chaos.Cluster(tmp_path / f"cluster-{len(made)}", appendfsync=appendfsync)
        made.append(cluster)
        return _started(cluster)

    failed_before = request.session.testsfailed
    try:
        yield make
    finally:
        if request.session.testsfailed > failed_before:
            for cluster in made:
                print(f"\n{cluster.log_tails()}")
        for cluster in made:
            cluster.stop()
