"""Scoring, and the dev set: resolved entities beat the plain model at nearly its speed."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from services.enrich.evaluation import EvalReport, format_reports, run_eval, score
from services.enrich.logic import Tagger
from tests.utils.enrich import DEV_SET

SUBSET_DOCS = 40
# The targets: document F1 at least this much above the plain model's, at this share of its speed.
DOC_F1_GAIN = 0.05
MIN_SPEED_RATIO = 0.8
# 40 documents take about 2 s of CPU: their ratio swings by ±0.1 between runs (0.73–0.99 seen), so
# the subset checks a looser floor and the full dev set (slow test, make eval) checks the target.
SUBSET_MIN_SPEED_RATIO = 0.65


def test_scores_count_exact_spans_and_distinct_names_per_document() -> None:
    text = "Alan Shearer joined Newcastle . Shearer left Newcastle for Blackburn ."
    docs = [
        {
            "doc_id": "d1",
            "text": text,
            "entities": [
                {"start": 0, "end": 12, "label": "PER"},
                {"start": 20, "end": 29, "label": "ORG"},
                {"start": 32, "end": 39, "label": "PER"},
                {"start": 45, "end": 54, "label": "ORG"},
                {"start": 59, "end": 68, "label": "ORG"},
            ],
        }
    ]
    predicted = [
        [
            (0, 12, "PER"),
            (20, 29, "LOC"),  # wrong type
            (32, 39, "PER"),
            (45, 54, "ORG"),  # the same name as the mislabelled one: document level finds it
            (59, 68, "MISC"),  # MISC is not scored
        ]
    ]
    mention, document, per_label = score(docs, predicted)
    assert (mention.p, mention.r) == (0.75, 0.6)
    # Names per document: gold {PER shearer, PER alan shearer, ORG newcastle, ORG blackburn},
    # predicted {PER alan shearer, PER shearer, LOC newcastle, ORG newcastle}.
    assert (document.p, document.r) == (0.75, 0.75)
    assert per_label["LOC"].document.p == 0.0
    assert per_label["PER"].mention.f1 == 1.0


def test_format_reports_shows_both_columns_with_the_difference_and_speed_ratio() -> None:
    def report(f1: float, seconds: float) -> EvalReport:
        scores = {"p": f1, "r": f1, "f1": f1}
        return EvalReport.model_validate(
            {
                "tagger": "t",
                "raw": False,
                "docs": 10,
                "seconds": seconds,
                "cpu_seconds": seconds,
                "docs_per_s": 10 / seconds,
                "mention": scores,
                "document": scores,
                "per_label": {
                    label: {"mention": scores, "document": scores} for label in ("PER", "ORG", "LOC")
                },
            }
        )

    table = format_reports({"raw model": report(0.6, 1.0), "newsflow": report(0.7, 1.25)})
    assert "raw model" in table.splitlines()[0]
    assert "newsflow" in table.splitlines()[0]
    assert "+0.100" in table
    assert "0.80x" in table
    assert set(report(0.7, 1.0).to_json()) >= {"mention_f1", "document_f1", "per_label", "docs_per_s"}


def compare(dataset: Path, tagger: Tagger, predictions: Path | None = None) -> tuple[EvalReport, EvalReport]:
    raw = run_eval(dataset, tagger, raw=True)
    ours = run_eval(dataset, tagger, raw=False, predictions=predictions)
    print("\n" + format_reports({"raw model": raw, "newsflow": ours}))
    return raw, ours


def assert_targets(raw: EvalReport, ours: EvalReport, min_speed_ratio: float = MIN_SPEED_RATIO) -> None:
    assert ours.document_f1 >= raw.document_f1 + DOC_F1_GAIN
    assert ours.mention_f1 > raw.mention_f1
    # CPU time, not wall-clock: other processes on a shared machine do not move it.
    assert raw.cpu_seconds / ours.cpu_seconds >= min_speed_ratio


def test_dev_subset_beats_the_raw_model_at_comparable_speed(tagger: Tagger, tmp_path: Path) -> None:
    subset = tmp_path / "subset.jsonl"
    with DEV_SET.open("rb") as lines:
        subset.write_bytes(b"".join(line for _, line in zip(range(SUBSET_DOCS), lines, strict=False)))
    predictions = tmp_path / "predictions.jsonl"
    raw, ours = compare(subset, tagger, predictions)
    assert ours.docs == raw.docs == SUBSET_DOCS
    assert_targets(raw, ours, SUBSET_MIN_SPEED_RATIO)
    docs = [orjson.loads(line) for line in subset.read_bytes().splitlines()]
    written = [orjson.loads(line) for line in predictions.read_bytes().splitlines()]
    assert [w["doc_id"] for w in written] == [d["doc_id"] for d in docs]
    for doc, row in zip(docs, written, strict=True):
        assert all(doc["text"][e["start"] : e["end"]] == e["text"] for e in row["entities"])


@pytest.mark.slow
def test_dev_set_beats_the_raw_model_at_comparable_speed(tagger: Tagger) -> None:
    raw, ours = compare(DEV_SET, tagger)
    assert ours.docs == 216
    assert_targets(raw, ours)
