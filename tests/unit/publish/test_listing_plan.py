"""What indexing one published event changes in the listing index (pure functions, no Redis)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from services.publish.listing import Cursor, IndexRecord, fold_name, plan_update, summary
from services.publish.views import IndexedEvent
from shared import wire
from shared.events import EventType, PublishedEvent
from tests.utils.published import T0, organisation, person, place, published_event, tagged_article

P = "idx"
SHOYGU = person("Sergey Shoygu", aliases=["Shoigu"])
TEHRAN = place("Tehran")


def record(**kwargs: Any) -> IndexRecord:
    update = plan_update(P, published_event(tagged_article("a1", **kwargs)), None)
    assert update is not None
    return update.record


def test_fold_name_ignores_case_width_and_spacing() -> None:
    assert fold_name("  Sergey   SHOYGU\t") == "sergey shoygu"
    assert fold_name("ＺÜＲＩＣＨ") == fold_name("zürich")
    assert fold_name("Straße") == fold_name("STRASSE")


def test_a_new_article_joins_the_all_type_entity_and_name_sets() -> None:
    update = plan_update(P, published_event(tagged_article("a1", entities=[SHOYGU, TEHRAN])), None)

    assert update is not None
    assert update.remove == ()
    assert set(update.add) == {
        "idx:all",
        "idx:type:person",
        "idx:type:place",
        "idx:entity:person:sergey-shoygu",
        "idx:entity:place:tehran",
        "idx:name:sergey shoygu",
        "idx:name:shoigu",
        "idx:name:tehran",
        "idx:type:person:entity:person:sergey-shoygu",
        "idx:type:person:name:sergey shoygu",
        "idx:type:person:name:shoigu",
        "idx:type:place:entity:place:tehran",
        "idx:type:place:name:tehran",
    }
    assert update.record.keys == update.add
    assert update.record.entity_names() == ["Sergey Shoygu", "Tehran"]


def test_an_update_leaves_the_sets_of_entities_it_no_longer_has() -> None:
    first = plan_update(P, published_event(tagged_article("a1", entities=[SHOYGU, TEHRAN])), None)
    assert first is not None
    v2 = published_event(tagged_article("a1", version=2, entities=[organisation("Gazprom"), TEHRAN]))

    update = plan_update(P, v2, first.record)

    assert update is not None
    assert "idx:entity:person:sergey-shoygu" in update.remove
    assert "idx:type:person" in update.remove
    assert "idx:name:tehran" not in update.remove
    assert "idx:entity:organisation:gazprom" in update.add
    assert update.record.event_type is EventType.UPDATED


def test_a_withdrawal_leaves_every_set_and_keeps_a_tombstone() -> None:
    first = plan_update(P, published_event(tagged_article("a1", entities=[SHOYGU])), None)
    assert first is not None
    kill = published_event(tagged_article("a1", version=2, withdrawn=True, entities=[SHOYGU]))

    update = plan_update(P, kill, first.record)

    assert update is not None
    assert update.add == ()
    assert update.remove == first.record.keys
    assert update.record.withdrawn
    assert update.record.version == 2
    assert update.record.listed_ms == first.record.listed_ms


@pytest.mark.parametrize("version", [1, 2])
def test_the_same_or_an_older_version_changes_nothing(version: int) -> None:
    stored = plan_update(P, published_event(tagged_article("a1", version=2)), None)
    assert stored is not None

    assert plan_update(P, published_event(tagged_article("a1", version=version)), stored.record) is None


def test_listing_time_is_the_source_date_else_when_first_published() -> None:
    with_zone = record(published_at=T0)
    assert with_zone.listed_ms == int(T0.timestamp() * 1000)

    zone_less = published_event(tagged_article("a1", published_at=datetime(2025, 6, 10, 9, 0)))
    first = plan_update(P, zone_less, None)
    assert first is not None
    assert first.record.listed_ms == int(zone_less.data.published_at.timestamp() * 1000)

    later = published_event(
        tagged_article("a1", version=2, published_at=datetime(2025, 6, 10, 9, 0)),
        published_at=T0 + timedelta(days=1),
    )
    second = plan_update(P, later, first.record)
    assert second is not None
    assert second.record.listed_ms == first.record.listed_ms  # a correction does not jump the queue
    assert second.record.updated_ms > first.record.updated_ms


def test_title_url_and_date_come_from_ninjs_when_the_plain_copies_are_absent() -> None:
    event = published_event(tagged_article("a1", title="From ninjs", url="https://e.example/a1"))
    bare = event.model_copy(
        update={
            "data": event.data.model_copy(update={"title": "", "url": None, "article_published_at": None})
        }
    )

    update = plan_update(P, bare, None)

    assert update is not None
    assert update.record.title == "From ninjs"
    assert update.record.url == "https://e.example/a1"
    assert update.record.listed_ms == int(T0.timestamp() * 1000)  # ninjs firstcreated
    assert update.record.uri == "https://news.example.org/articles/a1"


def test_summary_is_the_first_paragraph_of_the_body_else_a_description() -> None:
    body = {"bodies": [{"role": "main", "value": "\n\n  First   line\nwraps.  \n\nSecond."}]}
    assert summary(body) == "First line wraps."
    assert summary({"body_text": "Old style.\n\nMore."}) == "Old style."
    descriptions = {
        "descriptions": [
            {"role": "creditline", "value": "Photo: X"},
            {"role": "caption", "value": "A caption."},
            {"role": "summary", "value": "The summary."},
        ]
    }
    assert summary(descriptions) == "The summary."
    assert summary({"descriptions": [{"role": "creditline", "value": "Photo: X"}]}) is None
    assert summary({}) is None
    long = summary({"bodies": [{"value": "word " * 500}]})
    assert long is not None
    assert len(long) <= 600
    assert long.endswith("word…")


def test_cursor_round_trips_and_rejects_anything_else() -> None:
    cursor = Cursor(1_749_546_000_000, "src-ü/1")
    assert Cursor.decode(cursor.encode()) == cursor
    for text in ("", "!!!", "bm9wZQ", "WzFd", "WyJ4IiwxXQ", "WzEuNSwieCJd"):
        with pytest.raises(ValueError, match="not a listing cursor"):
            Cursor.decode(text)


@pytest.mark.parametrize(
    "event",
    [
        published_event(tagged_article("a1", entities=[SHOYGU, TEHRAN, organisation("Gazprom")])),
        published_event(tagged_article("a2", published_at=datetime(2025, 6, 10, 9, 0))),
        published_event(tagged_article("a3", title="T", url="https://e.example/a3", version=2)),
        published_event(tagged_article("a4", entities=[SHOYGU]), event_type=EventType.WITHDRAWN),
    ],
    ids=["entities", "zone-less", "update", "withdrawn"],
)
def test_the_index_stage_view_of_an_event_plans_what_the_whole_event_plans(event: PublishedEvent) -> None:
    """The index stage decodes only what it keeps (`IndexedEvent`); it must plan the same writes."""
    view = wire.decode(wire.encode(event), IndexedEvent)
    whole = wire.decode(wire.encode(event), PublishedEvent)
    previous = record(version=1)

    assert plan_update(P, view, None) == plan_update(P, whole, None)
    assert plan_update(P, view, previous) == plan_update(P, whole, previous)
