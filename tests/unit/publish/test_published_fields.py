"""The published event written straight to JSON (`published_fields`, the publish stage's path) is
the event the models make (`published_event`, the embargo release's path), field for field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest

from services.publish.logic import published_event, published_fields
from services.publish.views import TaggedEventView
from shared import streams, wire
from shared.events import (
    EventType,
    PublishedEvent,
    RelatedKind,
    RelatedLink,
    SameStory,
    TaggedArticle,
    TaggedEvent,
)
from tests.utils.published import BASE_URL, organisation, person, place, tagged_article

NOW = datetime(2025, 6, 10, 9, 30, 15, 123456, tzinfo=UTC)
GENEVA = place("Geneva", geonames_id=2660646, latitude=46.20222, longitude=6.14569, iso3166_alpha2="CH")


def _tagged_event(tagged: TaggedArticle, traceparent: str | None = None) -> TaggedEvent:
    return TaggedEvent(
        event_type=EventType.TAGGED,
        article_id=tagged.article.article_id,
        article_version=tagged.article.version,
        correlation_id="corr-1",
        traceparent=traceparent,
        data=tagged,
    )


def _related(tagged: TaggedArticle) -> TaggedArticle:
    links = [
        RelatedLink(kind=RelatedKind.ARTICLE, title="Earlier", article_id="src-0000", score=0.5, reason="x"),
        RelatedLink(kind=RelatedKind.INLINE, title="READ: more", url="/more.html", score=1.0, reason="y"),
    ]
    return tagged.model_copy(
        update={"related": links, "same_story_as": SameStory(article_id="src-0000", similarity=0.9)}
    )


def _without_ids(fields: dict[str, str]) -> tuple[dict[str, str], dict[str, Any]]:
    """Header fields and decoded document, less the per-event id and time."""
    document = orjson.loads(fields[streams.FIELD_EVENT])
    del document["event_id"], document["occurred_at"]
    headers = {k: v for k, v in fields.items() if k not in (streams.FIELD_EVENT, streams.FIELD_EVENT_ID)}
    return headers, document


CASES = {
    "new article with entities": (
        tagged_article("a1", entities=[person("Anna Müller", in_headline=True), organisation("UN"), GENEVA]),
        EventType.PUBLISHED,
        None,
    ),
    "update with a summary of changes": (
        tagged_article("a1", version=2, title="Ministers meet again", entities=[GENEVA]),
        EventType.UPDATED,
        tagged_article("a1", entities=[person("Anna Müller")]),
    ),
    "withdrawal": (tagged_article("a1", version=3, withdrawn=True), EventType.WITHDRAWN, None),
    "zone-less source date": (
        tagged_article("a1", published_at=datetime(2025, 6, 10, 9, 0)),
        EventType.PUBLISHED,
        None,
    ),
    "source date with an offset": (
        tagged_article("a1", published_at=datetime(2025, 6, 10, 11, 0, tzinfo=timezone(timedelta(hours=2)))),
        EventType.PUBLISHED,
        None,
    ),
    "related links and same story": (
        _related(tagged_article("a1", entities=[GENEVA])),
        EventType.PUBLISHED,
        None,
    ),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("traceparent", [None, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"])
def test_the_stage_writes_the_event_the_models_make(case: str, traceparent: str | None) -> None:
    tagged, event_type, previous = CASES[case]
    tagged_fields = wire.encode(_tagged_event(tagged))
    view, tagged_json = wire.decode_with_json(tagged_fields, TaggedEventView)
    model = published_event(
        _tagged_event(tagged),
        event_type,
        base_url=BASE_URL,
        published_at=NOW,
        previous=previous,
        traceparent=traceparent,
    )

    out = published_fields(
        view,
        tagged_json,
        event_type,
        base_url=BASE_URL,
        published_at=NOW,
        previous=previous,
        traceparent=traceparent,
    )

    assert _without_ids(out.fields) == _without_ids(wire.encode(model))
    assert out.ninjs == model.data.ninjs
    assert out.event_type is event_type
    # Byte for byte too, once the per-event id and time are the same.
    decoded = wire.decode(out.fields, PublishedEvent)
    assert (
        out.fields[streams.FIELD_EVENT]
        == model.model_copy(
            update={"event_id": decoded.event_id, "occurred_at": decoded.occurred_at}
        ).model_dump_json()
    )


def test_a_tagged_event_that_is_not_valid_is_refused_by_the_view() -> None:
    fields = wire.encode(_tagged_event(tagged_article("a1")))
    broken = orjson.loads(fields[streams.FIELD_EVENT])
    broken["data"]["article"]["version"] = 0

    with pytest.raises(wire.WireError, match="TaggedEventView"):
        wire.decode_with_json({**fields, streams.FIELD_EVENT: orjson.dumps(broken).decode()}, TaggedEventView)
    with pytest.raises(wire.WireError, match="not JSON"):
        wire.decode_with_json({**fields, streams.FIELD_EVENT: "{"}, TaggedEventView)
    with pytest.raises(wire.WireError, match="not a JSON object"):
        wire.decode_with_json({**fields, streams.FIELD_EVENT: "[]"}, TaggedEventView)
