"""The read API's request parsing and its SSE and Atom rendering (pure functions, no Redis)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from services.publish.api import (
    atom_feed,
    etag_matches,
    parse_entity_type,
    parse_event_limit,
    parse_limit,
    parse_since,
    parse_stream_id,
    sse_message,
)
from services.publish.listing import IndexedEntity, IndexRecord
from shared.events import EntityType, EventType

ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.mark.parametrize(
    ("text", "expected_ms"),
    [
        ("2025-06-10T09:00:00Z", 1_749_546_000_000),
        ("2025-06-10T11:00:00+02:00", 1_749_546_000_000),
        ("2025-06-10T11:00:00 02:00", 1_749_546_000_000),  # "+" decoded as a space
        ("2025-06-10T09:00:00.250Z", 1_749_546_000_250),
        ("2025-06-10 09:00:00+00:00", 1_749_546_000_000),
        ("", None),
        (None, None),
    ],
)
def test_since_accepts_iso_8601_with_a_zone(text: str | None, expected_ms: int | None) -> None:
    assert parse_since(text) == expected_ms


@pytest.mark.parametrize("text", ["2025-06-10T09:00:00", "2025-06-10", "yesterday", "2025-13-01T00:00Z"])
def test_since_without_a_zone_or_unparseable_is_an_error(text: str) -> None:
    with pytest.raises(ValueError, match="since"):
        parse_since(text)


def test_limit_is_bounded() -> None:
    assert parse_limit(None, default=20, maximum=100) == 20
    assert parse_limit("100", default=20, maximum=100) == 100
    assert parse_event_limit("5000") == 5000
    assert parse_event_limit(None) is None
    with pytest.raises(ValueError, match="limit must be an integer 1 or more"):
        parse_event_limit("0")
    for bad in ("0", "-1", "101", "1.5", "ten"):
        with pytest.raises(ValueError, match=r"limit must be an integer 1\.\.100"):
            parse_limit(bad, default=20, maximum=100)


def test_entity_type_is_one_of_the_four() -> None:
    assert parse_entity_type("Person") is EntityType.PERSON
    assert parse_entity_type(None) is None
    with pytest.raises(ValueError, match="person, organisation, place, other"):
        parse_entity_type("organization")


def test_stream_ids_are_normalised_and_checked() -> None:
    assert parse_stream_id("$") == "$"
    assert parse_stream_id("0") == "0-0"
    assert parse_stream_id(" 1718000000000-3 ") == "1718000000000-3"
    for bad in ("", "-1", "1-", "abc", "1-2-3", str(2**64)):
        with pytest.raises(ValueError, match="not a stream entry id"):
            parse_stream_id(bad)


def test_if_none_match_uses_weak_comparison() -> None:
    assert etag_matches('"abc"', '"abc"')
    assert etag_matches('W/"abc"', '"abc"')
    assert etag_matches('"x", "abc"', '"abc"')
    assert etag_matches("*", '"abc"')
    assert not etag_matches('"abcd"', '"abc"')
    assert not etag_matches(None, '"abc"')


def test_sse_message_puts_each_line_of_data_on_its_own_data_field() -> None:
    assert sse_message("1-0", "article.published", '{"a":1}') == (
        b'id: 1-0\nevent: article.published\ndata: {"a":1}\n\n'
    )
    assert sse_message("2-0", "x", "one\ntwo") == b"id: 2-0\nevent: x\ndata: one\ndata: two\n\n"


def record(**overrides: object) -> IndexRecord:
    fields: dict[str, object] = {
        "article_id": "a1",
        "version": 1,
        "event_id": "e1",
        "event_type": EventType.PUBLISHED,
        "withdrawn": False,
        "listed_ms": 1_749_546_000_000,
        "updated_ms": 1_749_546_060_000,
        "title": "Title",
        "entities": (
            IndexedEntity(id="person:a", name="A <b> & c", type=EntityType.PERSON),
            IndexedEntity(id="person:a", name="A <b> & c", type=EntityType.PERSON),
        ),
    }
    fields.update(overrides)
    return IndexRecord.model_validate(fields)


def test_atom_feed_escapes_drops_unencodable_characters_and_falls_back_to_tag_ids() -> None:
    document = atom_feed(
        [record(title="Tom & Jerry\x00\x0b <live> \ud800", summary="x\x1fy")],
        feed_id="https://news.example.org/v1/feed.atom?entity=a%26b",
        title="newsflow: a&b",
        self_url="http://api.test/v1/feed.atom?entity=a%26b",
        base_url="https://news.example.org",
        now_ms=0,
    )

    feed = ET.fromstring(document)
    [entry] = feed.iter(f"{ATOM}entry")
    assert document.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    assert feed.findtext(f"{ATOM}title") == "newsflow: a&b"
    assert feed.findtext(f"{ATOM}updated") == "2025-06-10T09:01:00Z"
    assert entry.findtext(f"{ATOM}title") == "Tom & Jerry <live> "
    assert entry.findtext(f"{ATOM}summary") == "xy"
    assert entry.findtext(f"{ATOM}id") == "tag:news.example.org,2025:articles/a1"
    link = entry.find(f"{ATOM}link")
    assert link is not None
    assert link.get("href") == "https://news.example.org/articles/a1"
    categories = [c.attrib for c in entry.iter(f"{ATOM}category")]
    assert categories == [
        {
            "term": "person:a",
            "label": "A <b> & c",
            "scheme": "tag:news.example.org,2025:entity-types/person",
        }
    ]


def test_an_empty_atom_feed_is_still_valid_and_dated_now() -> None:
    feed = ET.fromstring(
        atom_feed([], feed_id="f", title="t", self_url="s", base_url="https://n.example", now_ms=0)
    )
    assert feed.findtext(f"{ATOM}updated") == "1970-01-01T00:00:00Z"
    assert feed.findtext(f"{ATOM}author/{ATOM}name") == "newsflow"
    assert list(feed.iter(f"{ATOM}entry")) == []
