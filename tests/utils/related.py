"""Builders for related-links tests (plain functions; import them, never from a conftest)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.enrich.related import Candidate, IndexedArticle, SharedEntity
from shared import events
from shared.events import (
    Enrichment,
    Entities,
    Entity,
    EntityType,
    Identifiers,
    InlineLink,
    PublishedArticle,
    PubStatus,
    RawArticle,
)

NOW = datetime(2025, 6, 10, 12, 0, tzinfo=UTC)


def entity_id(name: str) -> str:
    """Every builder entity is keyed as `other`, whatever its type: the index only compares ids."""
    return events.entity_id(EntityType.OTHER, name)


def entity(
    name: str,
    salience: float = 0.5,
    *,
    entity_type: EntityType = EntityType.OTHER,
    uri: str | None = None,
    geonames_id: int | None = None,
) -> Entity:
    return Entity(
        id=entity_id(name),
        name=name,
        type=entity_type,
        count=1,
        salience=salience,
        identifiers=Identifiers(uri=uri, geonames_id=geonames_id),
    )


def candidate(
    article_id: str,
    shared: dict[str, tuple[float, int]],
    *,
    days_old: float = 1.0,
    title: str | None = None,
) -> Candidate:
    """`shared` maps an entity name to (its salience in the candidate, its document frequency)."""
    return Candidate(
        article_id=article_id,
        title=title or f"Title of {article_id}",
        url=f"https://news.example.org/articles/{article_id}",
        published_at=NOW - timedelta(days=days_old),
        shared=tuple(SharedEntity(entity_id(name), salience, df) for name, (salience, df) in shared.items()),
    )


def indexed(article_id: str, entities: dict[str, float], *, days_old: float = 1.0) -> IndexedArticle:
    """An index record; `entities` maps an entity name to its salience."""
    return IndexedArticle(
        article_id=article_id,
        title=f"Title of {article_id}",
        url=f"https://news.example.org/articles/{article_id}",
        published_at=NOW - timedelta(days=days_old),
        entities=tuple((entity_id(name), name, sal) for name, sal in entities.items()),
    )


def published(
    article_id: str = "a1",
    *,
    ninjs: dict[str, object] | None = None,
    entities: list[Entity] | None = None,
    pubstatus: PubStatus = PubStatus.USABLE,
) -> PublishedArticle:
    return PublishedArticle(
        article_id=article_id,
        version=1,
        pubstatus=pubstatus,
        ninjs=ninjs if ninjs is not None else {"uri": f"https://news.example.org/a/{article_id}"},
        enrichment=Enrichment(entities=Entities(other=entities or []), related=[], tagger="test 0"),
        published_at=NOW,
    )


def raw(inline_links: list[InlineLink]) -> RawArticle:
    return RawArticle(
        article_id="a1",
        version=1,
        content_hash="h",
        source="test",
        title="A title",
        body="A body.",
        inline_links=inline_links,
        received_at=NOW,
    )
