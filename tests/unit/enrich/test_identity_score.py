"""B-cubed identity scoring on hand-made examples."""

from __future__ import annotations

import pytest

from services.enrich.identity import assign_ids, b_cubed, score_documents


def test_perfect_clustering_scores_one() -> None:
    s = b_cubed(["a", "a", "b"], ["x", "x", "y"])
    assert (s.precision, s.recall, s.f1) == (1.0, 1.0, 1.0)


def test_one_cluster_for_everything_has_full_recall_and_low_precision() -> None:
    s = b_cubed(["a", "a", "b", "c"], ["x", "x", "x", "x"])
    assert s.recall == 1.0
    assert s.precision == pytest.approx((0.5 + 0.5 + 0.25 + 0.25) / 4, abs=1e-4)


def test_split_entity_loses_recall_only() -> None:
    s = b_cubed(["a", "a", "a", "b"], ["x", "x", "y", "z"])
    assert s.precision == 1.0
    assert s.recall == pytest.approx((2 / 3 + 2 / 3 + 1 / 3 + 1) / 4, abs=1e-4)


def test_a_missed_mention_is_a_singleton_and_counts_as_wrong() -> None:
    gold = [(0, 5, "u1"), (10, 15, "u1"), (20, 25, "u2")]
    ids = assign_ids(gold, [(0, 5, "e1"), (21, 24, "e2")], doc_id="d")
    assert ids == ["e1", "missed:d:1", "e2"]
    s = b_cubed([g for _, _, g in gold], ids)
    assert s.missed == 1
    assert s.precision == 1.0
    assert s.recall < 1.0


def test_the_most_overlapping_prediction_gives_the_id() -> None:
    assert assign_ids([(0, 10, "u")], [(0, 2, "short"), (2, 10, "long")], doc_id="d") == ["long"]


def test_documents_are_scored_across_documents() -> None:
    gold = [
        {"doc_id": "1", "mentions": [{"start": 0, "end": 6, "uri": "shoigu"}]},
        {"doc_id": "2", "mentions": [{"start": 0, "end": 6, "uri": "shoigu"}]},
    ]
    same = {d: {"entities": [{"id": "e1", "mentions": [{"start": 0, "end": 6}]}]} for d in ("1", "2")}
    assert score_documents(gold, same).f1 == 1.0
    apart = {d: {"entities": [{"id": f"e{d}", "mentions": [{"start": 0, "end": 6}]}]} for d in ("1", "2")}
    assert score_documents(gold, apart).recall == 0.5
