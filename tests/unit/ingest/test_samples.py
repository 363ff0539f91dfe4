"""The bundled sample articles: all parse, in every format, and they share entities."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from newsflow.samples import sample_paths
from services.ingest.logic import Draft, parse_payload, split_file

RECEIVED_AT = datetime(2025, 1, 1, tzinfo=UTC)


def all_drafts() -> list[Draft]:
    drafts = []
    for path in sample_paths():
        for payload, content_type in split_file(path):
            result = parse_payload(
                payload, content_type, source="samples", received_at=RECEIVED_AT, filename=path.name
            )
            assert isinstance(result, Draft), (path.name, result)
            drafts.append(result)
    return drafts


@pytest.fixture(scope="module")
def drafts() -> list[Draft]:
    return all_drafts()


def test_samples_cover_every_format() -> None:
    suffixes = Counter(path.suffix for path in sample_paths())
    assert suffixes[".txt"] >= 2
    assert suffixes[".json"] + suffixes[".ndjson"] >= 2
    assert suffixes[".html"] >= 1


def test_every_sample_parses_to_a_draft_with_a_unique_id(drafts: list[Draft]) -> None:
    assert 5 <= len(drafts) <= 8
    assert len({d.article_id for d in drafts}) == len(drafts)
    assert {d.content_type for d in drafts} == {"text/plain", "application/json", "text/html"}
    for d in drafts:
        assert d.language == "en"
        assert d.published_at is not None
        assert 250 <= len(d.body.split()) <= 500, d.title


def test_samples_share_people_organisation_and_places(drafts: list[Draft]) -> None:
    for entity in ("Rafael Quintas", "Ilse Vandermeer", "Atlantic Ports Council", "Lisbon", "Rotterdam"):
        carrying = [d for d in drafts if entity in f"{d.title}\n{d.body}"]
        assert len(carrying) >= 4, entity


def test_sample_read_lines_name_other_samples(drafts: list[Draft]) -> None:
    titles = {d.title for d in drafts}
    text_drafts = [d for d in drafts if d.content_type == "text/plain"]
    assert all(d.inline_links for d in text_drafts)
    for d in text_drafts:
        assert {link.title for link in d.inline_links} <= titles - {d.title}
