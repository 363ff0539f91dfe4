"""The `newsflow` command as a user runs it: real processes against a real redis-server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from shared import streams
from tests.utils.paths import SEED

pytestmark = pytest.mark.integration

NEWSFLOW = str(Path(sys.executable).with_name("newsflow"))


def newsflow(
    *args: str, redis_url: str | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    if redis_url:
        env["REDIS_URL"] = redis_url
    return subprocess.run(
        [NEWSFLOW, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture
def clean_redis(redis_url: str) -> str:
    with redis.Redis.from_url(redis_url) as client:
        client.flushdb()
    return redis_url


def test_parse_shows_the_raw_article_without_redis(tmp_path: Path) -> None:
    bad = tmp_path / "broken.json"
    bad.write_text('{"title": "No body"}')
    result = newsflow("parse", "--json", str(SEED), str(bad))
    assert result.returncode == 1  # one file was rejected
    seed_line, bad_line = (json.loads(line) for line in result.stdout.splitlines())
    assert seed_line["article"]["title"] == "Russia-Iran cooperation 'advanced to new level' - Minister"
    assert [link["title"] for link in seed_line["article"]["inline_links"]] == [
        "Iran, Russia collaborate on joint research spacecraft",
        "Russia sends first commercial train to Saudi Arabia via Iran",
    ]
    assert "READ:" not in seed_line["article"]["body"]
    assert bad_line["rejected"]["code"] == "missing_body"


def test_ingest_counts_accepted_duplicate_and_rejected_and_keeps_the_rejects(
    clean_redis: str, tmp_path: Path
) -> None:
    (tmp_path / "seed.txt").write_bytes(SEED.read_bytes())
    (tmp_path / "empty.json").write_text("{}")
    first = newsflow("ingest", str(tmp_path), redis_url=clean_redis)
    assert "accepted 1 · duplicate 0 · rejected 1" in first.stdout
    assert first.returncode == 1
    again = newsflow("ingest", str(tmp_path / "seed.txt"), redis_url=clean_redis)
    assert "accepted 0 · duplicate 1 · rejected 0" in again.stdout
    with redis.Redis.from_url(clean_redis) as client:
        assert client.xlen(streams.RAW) == 1
        ((_, letter),) = client.xrange(streams.DLQ)
        assert letter[b"stage"] == b"ingest"
        assert json.loads(letter[b"payload"])["payload"] == "{}"


def test_demo_on_the_seed_prints_its_people_places_and_read_links(clean_redis: str) -> None:
    result = newsflow("demo", str(SEED), redis_url=clean_redis)
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "Russia-Iran cooperation 'advanced to new level' - Minister" in out
    assert "2023-09-20 15:17" in out
    for name in (
        "Vladimir Putin",
        "Sergey Shoygu",
        "Mohammad Reza Ashtiani",
        "Ali Khamenei",
        "Tehran",
        "Moscow",
    ):
        assert name in out
    assert "READ: Iran, Russia collaborate on joint research spacecraft" in out

    tailed = newsflow("tail", "--from", "0", "--no-follow", "--json", redis_url=clean_redis)
    (event,) = (json.loads(line) for line in tailed.stdout.splitlines())
    assert event["event_type"] == "article.published"
    assert event["data"]["title"].startswith("Russia-Iran cooperation")


def test_demo_without_redis_url_starts_and_stops_its_own_redis() -> None:
    result = newsflow("demo", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(events) == 6  # the bundled samples
    assert any(
        link["kind"] == "article" for event in events for link in event["data"]["enrichment"]["related"]
    ), "the samples share entities, so related earlier articles show"
