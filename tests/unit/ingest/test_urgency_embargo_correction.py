"""Urgency, embargo and correction fields from input to the raw article and ninjs."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from services.ingest.logic import Draft, parse_payload
from services.ingest.sources import NO_POLICY, SourcePolicy
from services.ingest.stages import raw_stream_for
from services.ingest.timezones import SourceZones
from services.publish.logic import to_ninjs
from shared import streams
from shared.events import RawArticle, TaggedArticle
from tests.utils.ninjs_schema import validate_ninjs

RECEIVED = datetime(2023, 9, 20, 10, tzinfo=UTC)
BODY = "A body long enough to be an article, with a second sentence."


def parse(payload: dict[str, object] | str, policy: SourcePolicy = NO_POLICY) -> Draft:
    data = payload.encode() if isinstance(payload, str) else orjson.dumps(payload)
    draft = parse_payload(data, None, source="test", received_at=RECEIVED, policy=policy)
    assert isinstance(draft, Draft), draft
    return draft


def ninjs_of(draft: Draft) -> dict[str, object]:
    raw = RawArticle.model_validate({**draft.model_dump(), "version": 1})
    doc = to_ninjs(TaggedArticle(article=raw, tagger="t"), base_url="https://news.example.org")
    validate_ninjs(doc, "2.2")
    return doc


def test_urgency_round_trips_from_json_to_ninjs() -> None:
    draft = parse({"title": "Flash", "body": BODY, "urgency": 1})
    assert draft.urgency == 1
    assert ninjs_of(draft)["urgency"] == 1


def test_priority_stands_in_for_a_missing_urgency_and_the_source_default_for_both() -> None:
    assert parse({"title": "T", "body": BODY, "priority": 3}).urgency == 3
    policy = SourcePolicy(urgency={"wire": 4})
    assert parse({"title": "T", "body": BODY, "source": "wire"}, policy).urgency == 4
    assert parse({"title": "T", "body": BODY, "source": "wire", "urgency": 2}, policy).urgency == 2
    assert parse({"title": "T", "body": BODY}).urgency is None


def test_urgent_articles_go_to_the_priority_stream() -> None:
    assert raw_stream_for(1, 2) == streams.RAW_URGENT
    assert raw_stream_for(2, 2) == streams.RAW_URGENT
    assert raw_stream_for(3, 2) == streams.RAW
    assert raw_stream_for(None, 2) == streams.RAW
    assert raw_stream_for(1, 0) == streams.RAW  # 0 turns the priority stream off


def test_an_embargo_line_in_plain_text_is_read_in_the_source_zone_and_left_out_of_the_body() -> None:
    text = (
        "EMBARGOED UNTIL 21 September 2023 09:00\n\nMinisters meet\n\nSeptember 20, 2023 at 3:17 pm\n\n"
        + BODY
    )
    draft = parse(text, SourcePolicy(zones=SourceZones(default="Europe/London")))
    assert draft.embargoed_until == datetime(2023, 9, 21, 8, 0, tzinfo=UTC)
    assert draft.title == "Ministers meet"
    assert "EMBARGOED" not in draft.body
    assert ninjs_of(draft)["embargoed"] == "2023-09-21T08:00:00Z"


def test_moving_or_lifting_an_embargo_is_a_new_version_and_articles_without_one_keep_their_hash() -> None:
    plain = parse({"title": "T", "body": BODY})
    held = parse({"title": "T", "body": BODY, "embargoed_until": "2023-09-21T09:00:00Z"})
    moved = parse({"title": "T", "body": BODY, "embargoed_until": "2023-09-21T10:00:00Z"})
    assert len({plain.content_hash, held.content_hash, moved.content_hash}) == 3
    # The hash of an article with none of the new fields is what it was before they existed.
    assert plain.content_hash == parse({"title": "T", "body": BODY, "urgency": None}).content_hash


def test_a_correction_note_is_kept() -> None:
    draft = parse({"title": "T", "body": BODY, "correction": "  Corrects the date.  "})
    assert draft.correction == "Corrects the date."
    doc = ninjs_of(draft)
    assert doc["ednote"] == "Correction: Corrects the date."
