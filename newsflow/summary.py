"""A readable summary of a published event, for `newsflow demo` and `newsflow tail`."""

from __future__ import annotations

from shared.events import Entity, PublishedArticle, PublishedEvent, RelatedKind


def _date(article: PublishedArticle) -> str:
    when = article.article_published_at
    if when is None:
        return "no date given"
    text = when.strftime("%Y-%m-%d %H:%M")
    if article.article_published_at_has_timezone is False:
        return f"{text} (no time zone given)"
    return f"{text} {when.strftime('%Z') or 'UTC'}".strip()


def _entity(entity: Entity) -> str:
    extra: list[str] = []
    ids = entity.identifiers
    if ids.iso3166_alpha2:
        extra.append(ids.iso3166_alpha2)
    if ids.geonames_id:
        extra.append(f"GeoNames {ids.geonames_id}")
    if entity.titles:
        extra.append(", ".join(entity.titles))
    return f"{entity.name} ({'; '.join(extra)})" if extra else entity.name


def _line(label: str, items: list[str], width: int = 15) -> list[str]:
    if not items:
        return [f"  {label + ':':<{width}}—"]
    return [
        f"  {label + ':':<{width}}{items[0]}",
        *(f"  {'':<{width}}{item}" for item in items[1:]),
    ]


def render(event: PublishedEvent) -> str:
    published = event.data
    entities = published.enrichment.entities
    related: list[str] = []
    for link in published.enrichment.related:
        if link.kind is RelatedKind.INLINE:
            related.append(f"READ: {link.title}")
        elif link.kind is RelatedKind.ARTICLE:
            related.append(f"{link.title} — {link.reason} (score {link.score:.2f})")
        else:
            related.append(f"{link.title}: {link.url}")
    lines = [
        published.title or f"(withdrawn) {event.article_id}",
        f"  {_date(published)} · version {event.article_version} · {event.event_type.value}"
        f" · {event.article_id}",
        *_line("people", [_entity(e) for e in entities.people]),
        *_line("organisations", [_entity(e) for e in entities.organisations]),
        *_line("places", [_entity(e) for e in entities.places]),
        *_line("related", related),
    ]
    return "\n".join(lines)
