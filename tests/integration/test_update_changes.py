"""An update's `changes` names exactly what changed, as publish sees it on a real redis-server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from services.publish.settings import PublishSettings
from services.publish.stages import PublishStage
from shared import streams, wire
from shared.events import (
    Changes,
    EventType,
    PublishedEvent,
    RelatedKind,
    RelatedLink,
    TaggedArticle,
    TaggedEvent,
)
from shared.runtime.consumer import Delivery, StageRunner, ensure_group
from shared.wire import text_fields
from tests.utils.ninjs_schema import validate_ninjs
from tests.utils.published import person, place, tagged_article

pytestmark = pytest.mark.integration

Edit = Callable[[TaggedArticle], None]


def base() -> TaggedArticle:
    return tagged_article(
        "chg-1", title="Ministers meet in Tehran", entities=[person("Sergey Shoygu"), place("Tehran")]
    )


def event_of(tagged: TaggedArticle) -> TaggedEvent:
    return TaggedEvent(
        event_type=EventType.TAGGED,
        article_id=tagged.article.article_id,
        article_version=tagged.article.version,
        correlation_id="c",
        data=tagged,
    )


async def publish_two_versions(client: aioredis.Redis, edit: Edit) -> PublishedEvent:
    first = base()
    second = first.model_copy(deep=True)
    second.article.version = 2
    edit(second)
    for tagged in (first, second):
        fields: dict[Any, Any] = wire.encode(event_of(tagged))
        await client.xadd(streams.TAGGED, fields)
    await ensure_group(client, streams.TAGGED, streams.PUBLISH_GROUP)
    runner = StageRunner(
        client,
        PublishStage(client, PublishSettings()),
        input_stream=streams.TAGGED,
        group=streams.PUBLISH_GROUP,
        consumer="c1",
        max_deliveries=3,
    )
    # One entry per batch: the update must find the first version where publish stored it.
    while reply := await client.xreadgroup(streams.PUBLISH_GROUP, "c1", {streams.TAGGED: ">"}, count=1):
        await runner.handle(
            [Delivery(streams.TAGGED, e.decode(), text_fields(f), raw=f) for _, es in reply for e, f in es]
        )
    events = [wire.decode(text_fields(f), PublishedEvent) for _, f in await client.xrange(streams.PUBLISHED)]
    assert [e.event_type for e in events] == [EventType.PUBLISHED, EventType.UPDATED]
    assert events[0].data.changes is None
    return events[1]


def headline(t: TaggedArticle) -> None:
    t.article.title = "Ministers meet again in Tehran"


def body(t: TaggedArticle) -> None:
    t.article.body += "\n\nA late paragraph."


def caption(t: TaggedArticle) -> None:
    t.article.image_caption = "The ministers at the table."


def entity_added(t: TaggedArticle) -> None:
    t.entities.people.append(person("Vladimir Putin"))


def entity_removed(t: TaggedArticle) -> None:
    t.entities.places = []


def related(t: TaggedArticle) -> None:
    t.related.append(
        RelatedLink(kind=RelatedKind.ARTICLE, title="Earlier", article_id="old-1", score=0.5, reason="t")
    )


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (headline, Changes(headline=True)),
        (body, Changes(body=True)),
        (caption, Changes(caption=True)),
        (entity_added, Changes(entities_added=["person:vladimir-putin"])),
        (entity_removed, Changes(entities_removed=["place:tehran"])),
        (related, Changes(related_links=True)),
    ],
    ids=["headline", "body", "caption", "entity-added", "entity-removed", "related-links"],
)
async def test_an_update_lists_exactly_what_changed(
    redis_client: aioredis.Redis, edit: Edit, expected: Changes
) -> None:
    update = await publish_two_versions(redis_client, edit)
    assert update.data.changes == expected


async def test_a_flagged_correction_is_in_changes_and_in_ninjs_as_ednote_and_correction_description(
    redis_client: aioredis.Redis,
) -> None:
    def corrected(t: TaggedArticle) -> None:
        body(t)
        t.article.correction = "An earlier version misspelt the minister's name."

    update = await publish_two_versions(redis_client, corrected)
    assert update.data.changes == Changes(
        body=True, correction="An earlier version misspelt the minister's name."
    )
    ninjs = update.data.ninjs
    validate_ninjs(ninjs, "2.2")
    assert "misspelt" in ninjs["ednote"]
    assert {
        "role": "correction",
        "contenttype": "text/plain",
        "value": update.data.changes.correction,
    } in ninjs["descriptions"]
