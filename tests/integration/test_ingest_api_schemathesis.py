"""`schemathesis run --checks all` against a running `newsflow run ingest`: its OpenAPI document
tells the truth.

Every check runs; the only statuses the checks are told to expect besides their defaults are ones
the document lists for that operation, read from the document the service serves:
- a schema-valid article may still be refused on content the schema cannot say (a date too far
  ahead, a withdrawal of an unknown article): 422, whose description lists those rules;
- schema-violating input gets the 4xx the operation lists (413 past `maxItems`, 415, 422);
- in a batch, a schema-violating item is rejected on its own while the others are stored: 207,
  documented as such.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from services.ingest.api import ARTICLES_PATH, BATCH_PATH, OPENAPI_PATH
from tests.utils.paths import REPO
from tests.utils.services import running

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

TOKEN = "schemathesis-token"
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
# Enough to cover every keyword of the schemas and stay well under a minute (about 10 s here).
MAX_EXAMPLES = 50
# Answers a schema-valid request may get, where the operation lists them.
POSITIVE: frozenset[str] = frozenset({"401", "403", "422", "429"})


def expected_statuses(document: dict[str, Any]) -> str:
    """schemathesis.toml: per operation, the statuses each data check accepts, all listed there."""
    tables = []
    for path in (ARTICLES_PATH, BATCH_PATH):
        responses = document["paths"][path]["post"]["responses"]
        listed = set(responses)
        positive = {s for s in listed if s.startswith("2")} | (POSITIVE & listed)
        negative = {s for s in listed if s.startswith("4")}
        if path == BATCH_PATH:
            assert "not valid InboundArticle objects" in responses["207"]["description"]
            negative.add("207")
        assert positive <= listed, path
        assert negative <= listed, path
        tables.append(
            "[[operations]]\n"
            f"include-path = {json.dumps(path)}\n"
            f"checks.positive_data_acceptance.expected-statuses = {json.dumps(sorted(positive))}\n"
            f"checks.negative_data_rejection.expected-statuses = {json.dumps(sorted(negative))}\n"
        )
    return "\n".join(tables)


@pytest.fixture
def ingest(redis_url: str, tmp_path: Path) -> Iterator[str]:
    """`newsflow run ingest` with a token, and a rate limit schemathesis does not reach."""
    redis.Redis.from_url(redis_url).flushdb()
    unlimited = "100000"
    with running(
        "ingest",
        redis_url,
        tmp_path,
        NEWSFLOW_INGEST_API_TOKENS=TOKEN,
        NEWSFLOW_INGEST_RATE_LIMIT_PER_S=unlimited,
    ) as started:
        yield started[1]


def test_schemathesis_with_every_check_finds_no_failure_against_the_running_ingest(
    ingest: str, tmp_path: Path
) -> None:
    document = httpx.get(f"{ingest}{OPENAPI_PATH}", timeout=10).json()
    config = tmp_path / "schemathesis.toml"
    config.write_text(expected_statuses(document))
    run = subprocess.run(
        [
            str(SCHEMATHESIS),
            "--config-file",
            str(config),
            "run",
            f"{ingest}{OPENAPI_PATH}",
            "--checks",
            "all",
            "--header",
            f"Authorization: Bearer {TOKEN}",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--workers",
            "1",
        ],
        # The hooks teach it NDJSON; it runs in tmp_path, where it keeps its cache.
        env={
            **os.environ,
            "SCHEMATHESIS_HOOKS": "tests.utils.schemathesis_hooks",
            "PYTHONPATH": str(REPO),
        },
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=200,
        check=False,
    )

    report = run.stdout + run.stderr
    print(report[-3000:])
    assert run.returncode == 0, report[-20_000:]
    assert "No issues found" in report
    # Every operation was exercised, the NDJSON body included (without the hooks: an error).
    assert "Tested: 3" in report, report[-3000:]
    assert "Serialization not possible" not in report
