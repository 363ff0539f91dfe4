"""bench-compare's rows: each figure both runs have, with this checkout / the earlier one."""

from __future__ import annotations

from newsflow.bench_compare import comparison_rows, figure_of


def test_rows_hold_both_values_and_their_ratio_and_skip_figures_one_side_lacks() -> None:
    base = {"ingest_per_s": 2000.0, "cpu_ms_per_article": {"ingest": 0.5}}
    head = {"ingest_per_s": 5000.0, "cpu_ms_per_article": {"ingest": 0.2}, "publish_per_s": 9.0}

    rows = {row["key"]: row for row in comparison_rows(base, head)}

    assert set(rows) == {"ingest_per_s", "cpu_ms_per_article.ingest"}
    assert rows["ingest_per_s"]["ratio"] == 2.5
    assert rows["cpu_ms_per_article.ingest"]["ratio"] == 0.4
    assert rows["cpu_ms_per_article.ingest"]["higher_is_better"] is False


def test_a_figure_that_is_not_a_number_is_missing() -> None:
    assert figure_of({"rss_mb": {"ingest": "n/a"}}, ("rss_mb", "ingest")) is None
    assert figure_of({"rss_mb": 3}, ("rss_mb", "ingest")) is None
