"""Versioning against the ledger: duplicates, corrections and withdrawals."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from services.ingest.logic import (
    Accepted,
    Draft,
    Duplicate,
    LedgerEntry,
    Rejection,
    assign_version,
    parse_payload,
)
from shared.events import PubStatus, RawArticle
from tests.utils.bad_inputs import RECEIVED_AT, article_json


def draft(payload: bytes) -> Draft:
    result = parse_payload(payload, "application/json", source="t", received_at=RECEIVED_AT)
    assert isinstance(result, Draft), result
    return result


def withdrawal(**fields: Any) -> Draft:
    return draft(orjson.dumps({"id": "bad-input-1", "source": "tests", "action": "withdraw", **fields}))


def accept(d: Draft, previous: LedgerEntry | None, event_id: str) -> Accepted:
    result = assign_version(d, previous, event_id=event_id)
    assert isinstance(result, Accepted), result
    return result


def test_new_article_is_version_one() -> None:
    first = accept(draft(article_json()), None, "ev-1")
    assert isinstance(first.article, RawArticle)
    assert first.article.version == 1
    assert first.article.previous_event_id is None
    assert first.ledger == LedgerEntry(1, first.article.content_hash, "ev-1", withdrawn=False, source="tests")


def test_identical_resend_is_a_duplicate() -> None:
    first = accept(draft(article_json()), None, "ev-1")
    again = assign_version(draft(article_json()), first.ledger, event_id="ev-2")
    assert again == Duplicate(first.article.article_id, 1, event_id="ev-1")


def test_resend_with_only_tracking_parameters_changed_is_a_duplicate() -> None:
    first = accept(draft(article_json()), None, "ev-1")
    tracked = draft(article_json(url="https://news.example/2024/05/harbour?utm_source=newsletter"))
    assert isinstance(assign_version(tracked, first.ledger, event_id="ev-2"), Duplicate)


def test_changed_body_is_the_next_version_linked_to_the_previous_event() -> None:
    first = accept(draft(article_json()), None, "ev-1")
    corrected = draft(article_json(body="The harbour authority rejected the plans on Tuesday."))
    second = accept(corrected, first.ledger, "ev-2")
    assert second.article.article_id == first.article.article_id
    assert second.article.version == 2
    assert second.article.previous_event_id == "ev-1"
    assert second.ledger.version == 2
    assert second.ledger.event_id == "ev-2"


def test_withdrawal_flow() -> None:
    live = accept(draft(article_json()), None, "ev-1")

    killed = accept(withdrawal(reason="legal request"), live.ledger, "ev-2")
    assert killed.article.pubstatus is PubStatus.WITHDRAWN
    assert killed.article.version == 2
    assert killed.article.previous_event_id == "ev-1"
    assert killed.article.withdrawal_reason == "legal request"
    assert killed.ledger.withdrawn is True

    again = assign_version(withdrawal(reason="still legal"), killed.ledger, event_id="ev-3")
    assert again == Duplicate(live.article.article_id, 2, event_id="ev-2")

    # The same content as before the withdrawal makes the article usable again.
    revived = accept(draft(article_json()), killed.ledger, "ev-4")
    assert revived.article.pubstatus is PubStatus.USABLE
    assert revived.article.version == 3
    assert revived.article.previous_event_id == "ev-2"
    assert revived.ledger.withdrawn is False


def test_withdrawal_of_an_unknown_article_is_rejected() -> None:
    result = assign_version(withdrawal(), None, event_id="ev-1")
    assert isinstance(result, Rejection)
    assert result.code == "unknown_article"
    assert withdrawal().article_id in result.reason


def test_withdrawal_by_url_finds_an_article_identified_by_url() -> None:
    url = "https://news.example/2024/05/harbour"
    live = accept(draft(article_json(id=...)), None, "ev-1")
    killed = draft(orjson.dumps({"url": url + "?utm_source=x", "action": "withdraw"}))
    assert killed.article_id == live.article.article_id
    assert accept(killed, live.ledger, "ev-2").article.version == 2


def test_ledger_entry_round_trips_through_json() -> None:
    entry = LedgerEntry(version=3, content_hash="ab" * 32, event_id="ev-9", withdrawn=True)
    assert LedgerEntry.from_json(entry.to_json()) == entry
    assert LedgerEntry.from_json(entry.to_json().encode()) == entry
    assert orjson.loads(entry.to_json()) == {
        "version": 3,
        "content_hash": "ab" * 32,
        "event_id": "ev-9",
        "withdrawn": True,
    }
    owned = LedgerEntry(version=1, content_hash="cd" * 32, event_id="ev-1", source="wire")
    assert LedgerEntry.from_json(owned.to_json()) == owned
    assert orjson.loads(owned.to_json())["source"] == "wire"


def test_ledger_entry_without_withdrawn_flag_reads_as_live() -> None:
    entry = LedgerEntry.from_json('{"version": 1, "content_hash": "x", "event_id": "e"}')
    assert entry.withdrawn is False


@pytest.mark.parametrize(
    "raw",
    ["not json", "[]", '{"version": "1", "content_hash": "x", "event_id": "e"}', '{"version": 0}'],
)
def test_corrupt_ledger_entry_raises_value_error(raw: str) -> None:
    with pytest.raises(ValueError, match="ledger entry"):
        LedgerEntry.from_json(raw)


def test_draft_has_exactly_the_raw_article_fields_minus_versioning() -> None:
    assert set(Draft.model_fields) == set(RawArticle.model_fields) - {
        "version",
        "previous_event_id",
    }
