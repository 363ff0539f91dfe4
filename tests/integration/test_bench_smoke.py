"""`newsflow bench` end to end at a tiny size: every phase runs and every figure comes out.

No figure is compared with a time or a rate: on a shared two-core machine they say nothing.
"""

from __future__ import annotations

from collections import Counter

import orjson
import pytest
from rich.console import Console

from newsflow.bench import BenchConfig, bench_command, generate_article, run_bench
from newsflow.bench_archive import generate, parse_sizes

pytestmark = pytest.mark.integration

# Every phase, each as small as it can be and still measure something (about 30 s in all).
TINY = BenchConfig(
    pipeline_articles=4, stage_articles=200, latency_s=2.0, stage_pool=10, timeout_s=45.0, tagger_languages=()
)
SCALARS = (
    "baseline_per_s",
    "pipeline_per_s",
    "pipeline_ratio",
    "ingest_per_s",
    "publish_per_s",
    "raw_redis_per_s",
    "raw_redis_c_parser_per_s",
    "raw_redis_tagged_c_parser_per_s",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "scaling_ratio",
    "scaling_cpu_ratio",
)


@pytest.mark.timeout(120)
def test_bench_reports_every_figure_as_a_positive_number(redis_url: str) -> None:
    result = run_bench(TINY, console=Console(stderr=True, quiet=True), redis_url=redis_url).to_json()

    for key in SCALARS:
        assert isinstance(result[key], float), key
        assert result[key] > 0, key
    assert set(result["rss_mb"]) == {"ingest", "enrich", "publish"}
    assert all(mb > 0 for mb in result["rss_mb"].values()), result["rss_mb"]
    assert result["latency_samples"] >= 1
    assert set(result["enrich_run_queue_share"]) == {"1", "2"}
    assert all(0 <= share < 1 for share in result["enrich_run_queue_share"].values())
    assert {row["what"] for row in result["targets"]} >= {
        "pipeline vs baseline (1 enrich replica)",
        "p99 latency at half capacity",
        "2 enrich replicas vs 1 (CPU accounting)",
    }


def test_generated_articles_are_the_same_for_the_same_seed_and_number() -> None:
    first, again, other = generate_article(7, 3), generate_article(7, 3), generate_article(7, 4)

    assert first.payload() == again.payload()
    assert first.payload() != other.payload()
    assert 550 <= len(first.doc["body"].split()) <= 700
    assert any(name in first.doc["body"] for name, _ in first.cast)


ARCHIVE_KEYS = ("related_p50_ms", "related_p99_ms", "listing_p99_ms", "entity_p99_ms", "redis_mb_per_million")


@pytest.mark.timeout(120)
def test_archive_only_bench_prints_json_with_every_archive_figure(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_command(False, True, archive=[500], archive_only=True) == 0

    result = orjson.loads(capsys.readouterr().out.splitlines()[-1])
    body = result["archive"]["500"]
    assert set(result["archive"]) == {"500"}
    for key in ARCHIVE_KEYS:
        assert isinstance(body[key], float), key
        assert body[key] > 0, key
    assert body["retained"] == {"related": 500, "listing": 500}
    assert set(body["mb_per_million"]) == {"registry", "related", "listing"}
    assert all(mb > 0 for mb in body["mb_per_million"].values())
    assert result["targets"] == []  # the other phases did not run
    assert "ingest_per_s" in result  # and their keys are still there


def test_generated_archive_is_zipf_like_and_the_same_for_the_same_seed() -> None:
    first, again = generate(5_000, seed=3), generate(5_000, seed=3)
    per_article = [first.entities_of(i) for i in range(first.n)]

    assert per_article == [again.entities_of(i) for i in range(again.n)]
    share_of_top = sum(0 in ranks for ranks in per_article) / first.n
    mentioned_once = sum(count == 1 for count in Counter(first.ranks.tolist()).values())
    assert 0.3 < share_of_top < 0.8  # "United States" is on a large share of the articles
    assert mentioned_once > first.vocabulary / 4  # and a long tail is on one article each
    assert all(len(set(ranks)) == len(ranks) >= 1 for ranks in per_article)
    assert parse_sizes(["10000", "100_000,1000000"]) == [10_000, 100_000, 1_000_000]
