"""The bench's arithmetic: the replica scaling that CPU accounting gives."""

from __future__ import annotations

import pytest

from newsflow.bench import Burst, work_weighted_wait_s


def test_wait_is_weighted_by_the_work_each_replica_did() -> None:
    # Replica A did 30 s of work and waited 10 s for a CPU; B did 10 s and waited 2 s.
    before = [(100.0, 5.0), (50.0, 1.0)]
    after = [(130.0, 15.0), (60.0, 3.0)]

    assert work_weighted_wait_s(before, after) == pytest.approx((30 * 10 + 10 * 2) / 40)


def test_idle_replicas_wait_nothing() -> None:
    assert work_weighted_wait_s([(1.0, 1.0)], [(1.0, 1.0)]) == 0.0


def test_own_core_rate_adds_back_the_time_spent_waiting_for_a_cpu() -> None:
    starved = Burst(per_s=12.0, cpu_ms_per_article={}, run_queue_share=0.25)

    assert starved.own_core_per_s == pytest.approx(16.0)
