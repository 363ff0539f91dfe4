"""The newsroom console's HTML, as pure functions of typed inputs (no I/O; `console.py` does that).

Everything that came from outside (article text, entity names, reasons, ids) goes through `esc`:
article text is hostile input. Pages read without JavaScript; `console.js` only adds live parts.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import quote, urlencode

import orjson

from shared.events import Entity, EntityType, EventType, PublishedEvent, PubStatus, TaggedArticle

ASSET_VERSION: Final = "1"
# A blank line (spaces allowed) separates paragraphs of a plain-text body.
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
EVENT_LABELS: Final = {
    EventType.PUBLISHED: "published",
    EventType.UPDATED: "updated",
    EventType.WITHDRAWN: "withdrawn",
}
TYPE_LABELS: Final = {
    EntityType.PERSON: "person",
    EntityType.ORGANISATION: "organisation",
    EntityType.PLACE: "place",
    EntityType.OTHER: "other",
}


def esc(value: object) -> str:
    """HTML text and attribute values (quotes too)."""
    return html.escape(str(value), quote=True)


def _q(value: str) -> str:
    return quote(value, safe="")


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is looking: `csrf` goes in every form; `editor` shows the action forms."""

    signed_in: bool
    editor: bool
    csrf: str
    auth_required: bool


# --------------------------------------------------------------------------------------------
# Layout
# --------------------------------------------------------------------------------------------


def page(title: str, main: str, viewer: Viewer, *, current: str = "", scripts: bool = True) -> str:
    nav = [("feed", "/console/", "Live feed"), ("health", "/console/health", "Pipeline health")]
    links = "".join(
        f'<li><a href="{href}"{" aria-current=page" if key == current else ""}>{label}</a></li>'
        for key, href, label in nav
    )
    if viewer.signed_in:
        role = "editor" if viewer.editor else "reader"
        account = (
            f'<form method="post" action="/console/logout" class="inline">{csrf_field(viewer)}'
            f'<span class="role">signed in ({role})</span> <button type="submit">Sign out</button></form>'
        )
    else:
        account = '<a href="/console/login">Sign in</a>'
    script = f'<script src="/console/assets/console.js?v={ASSET_VERSION}" defer></script>' if scripts else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} · newsflow console</title>"
        f'<link rel="stylesheet" href="/console/assets/console.css?v={ASSET_VERSION}">'
        f'<link rel="icon" href="/console/assets/icon.svg" type="image/svg+xml">{script}</head>'
        '<body><a class="skip" href="#main">Skip to content</a>'
        '<header class="top"><span class="brand">newsflow</span>'
        f'<nav aria-label="Console"><ul>{links}</ul></nav><div class="account">{account}</div></header>'
        f'<main id="main" tabindex="-1">{main}</main>'
        '<footer class="foot">newsflow newsroom console · served by the publish service</footer>'
        "</body></html>"
    )


def csrf_field(viewer: Viewer) -> str:
    return f'<input type="hidden" name="csrf" value="{esc(viewer.csrf)}">'


def login_page(*, error: str | None, next_path: str) -> str:
    alert = f'<p class="error" role="alert">{esc(error)}</p>' if error else ""
    main = (
        '<h1>Sign in</h1><form method="post" action="/console/login" class="login">'
        f'{alert}<input type="hidden" name="next" value="{esc(next_path)}">'
        '<label for="token">API token</label>'
        '<input id="token" name="token" type="password" autocomplete="current-password" required>'
        '<button type="submit">Sign in</button>'
        "<p class=hint>The token is kept in an HttpOnly cookie for this console only.</p></form>"
    )
    anonymous = Viewer(signed_in=False, editor=False, csrf="", auth_required=True)
    return page("Sign in", main, anonymous, scripts=False)


def notice(message: str | None) -> str:
    return f'<p class="notice" role="status">{esc(message)}</p>' if message else ""


# --------------------------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------------------------


def source_date(value: datetime | None, has_timezone: bool | None) -> str:
    """The source's own date and zone as written; a zone-less one says so instead of guessing."""
    if value is None:
        return '<span class="muted">no source date</span>'
    shown = value.strftime("%Y-%m-%d %H:%M")
    if has_timezone is False or value.utcoffset() is None:
        stamp = f'<time datetime="{esc(value.isoformat())}">{esc(shown)}</time>'
        return f'{stamp} <span class="muted">(no zone)</span>'
    zone = value.strftime("%z")
    zone = "UTC" if zone in ("+0000", "") else f"UTC{zone[:3]}:{zone[3:]}"
    return f'<time datetime="{esc(value.isoformat())}">{esc(shown)} {esc(zone)}</time>'


def utc_time(value: datetime) -> str:
    text = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f'<time datetime="{esc(value.isoformat())}">{esc(text)}</time>'


# --------------------------------------------------------------------------------------------
# Live feed
# --------------------------------------------------------------------------------------------


def entity_href(entity: Entity) -> str | None:
    return f"/console/entities/{_q(entity.entity_id)}" if entity.entity_id else None


def chip(entity: Entity) -> str:
    kind = TYPE_LABELS[entity.type]
    href = entity_href(entity)
    inner = f'<span class="sr">{kind}: </span>{esc(entity.name)}'
    if href is None:
        return f'<li class="chip chip-{kind}">{inner}</li>'
    return f'<li class="chip chip-{kind}"><a href="{href}">{inner}</a></li>'


def chips(entities: Iterable[Entity], *, limit: int = 12) -> str:
    seen: set[str] = set()
    items: list[str] = []
    for entity in entities:
        key = entity.entity_id or entity.id
        if key in seen or entity.type is EntityType.OTHER:
            continue
        seen.add(key)
        items.append(chip(entity))
        if len(items) >= limit:
            break
    return f'<ul class="chips" aria-label="Entities">{"".join(items)}</ul>' if items else ""


def feed_item(event: PublishedEvent) -> str:
    """One `<article data-article-id>` of the live feed (also what the SSE stream sends)."""
    data = event.data
    withdrawn = data.pubstatus is PubStatus.WITHDRAWN or event.event_type is EventType.WITHDRAWN
    label = EVENT_LABELS.get(event.event_type, event.event_type.value)
    # A kill notice carries no title of its own: the id is what an editor can find it by.
    title = data.title or f"(withdrawn: {event.article_id})"
    headline = f'<a href="/console/articles/{_q(event.article_id)}">{esc(title)}</a>'
    if withdrawn:
        headline = f"<del>{headline}</del>"
    language = data.ninjs.get("language")
    entities = data.enrichment.entities
    meta = [
        f'<span class="badge badge-{label}">{esc(label)}</span>',
        f"v{data.version}",
        source_date(data.article_published_at, data.article_published_at_has_timezone),
    ]
    if isinstance(language, str) and language:
        meta.append(f'<span lang="{esc(language)}">{esc(language)}</span>')
    cls = "item withdrawn" if withdrawn else "item"
    people_orgs_places = [*entities.people, *entities.organisations, *entities.places]
    return (
        f'<article class="{cls}" data-article-id="{esc(event.article_id)}" '
        f'data-version="{data.version}"><h2>{headline}</h2>'
        f'<p class="meta">{" · ".join(meta)}</p>{chips(people_orgs_places)}</article>'
    )


def feed_page(items: Sequence[str], *, next_cursor: str | None, live: bool, viewer: Viewer) -> str:
    older = (
        f'<a rel="next" href="/console/?{urlencode({"cursor": next_cursor})}">Older articles</a>'
        if next_cursor
        else ""
    )
    status = (
        '<p id="live-status" class="muted" role="status" aria-live="polite">'
        "Live: new articles appear at the top.</p>"
        if live
        else '<p class="muted"><a href="/console/">Back to the newest</a></p>'
    )
    empty = '<p class="muted empty">Nothing published yet.</p>' if not items else ""
    events = ' data-events="/console/events"' if live else ""
    main = (
        f'<h1>Live feed</h1>{status}{empty}<section id="feed" aria-label="Published articles"{events}>'
        f'{"".join(items)}</section><nav class="pager" aria-label="Pages">{older}</nav>'
    )
    return page("Live feed", main, viewer, current="feed")


# --------------------------------------------------------------------------------------------
# Marking mentions
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, order=True)
class MarkSpan:
    start: int
    end: int
    type: EntityType
    entity_id: str
    name: str = ""


def mention_spans(entities: Iterable[Entity], field: str, text: str) -> list[MarkSpan]:
    """Every mention in `field` whose offsets hold its text, as spans; any other is left unmarked
    (offsets from another version of the text would mark the wrong words)."""
    spans: list[MarkSpan] = []
    for entity in entities:
        for mention in entity.mentions:
            if mention.field != field:
                continue
            if not (0 <= mention.start < mention.end <= len(text)):
                continue
            if text[mention.start : mention.end] != mention.text:
                continue
            spans.append(
                MarkSpan(mention.start, mention.end, entity.type, entity.entity_id or entity.id, entity.name)
            )
    return spans


def choose_spans(spans: Iterable[MarkSpan]) -> list[MarkSpan]:
    """Non-overlapping spans, earliest first; of two overlapping, the one starting first (then the
    longer) wins, so `<mark>` elements never nest or cross."""
    chosen: list[MarkSpan] = []
    end = -1
    for span in sorted(spans, key=lambda s: (s.start, -(s.end - s.start), s.entity_id)):
        if span.start >= end:
            chosen.append(span)
            end = span.end
    return chosen


def _mark(text: str, span: MarkSpan, link: bool) -> str:
    kind = TYPE_LABELS[span.type]
    mark = (
        f'<mark class="m-{kind}" data-entity-type="{kind}" data-entity-id="{esc(span.entity_id)}" '
        f'title="{kind}: {esc(span.name)}">{esc(text)}</mark>'
    )
    if link and not span.entity_id.startswith(f"{kind}:"):
        return f'<a class="mention" href="/console/entities/{_q(span.entity_id)}">{mark}</a>'
    return mark


def marked_text(text: str, spans: Iterable[MarkSpan], *, offset: int = 0, link: bool = True) -> str:
    """`text` escaped, with each chosen span (offsets into the whole field; `text` starts at
    `offset` in it) in a `<mark>`; spans not wholly inside `text` are left out."""
    out: list[str] = []
    pos = 0
    for span in choose_spans(spans):
        start, end = span.start - offset, span.end - offset
        if start < pos or end > len(text):
            continue
        out.append(esc(text[pos:start]))
        out.append(_mark(text[start:end], span, link))
        pos = end
    out.append(esc(text[pos:]))
    return "".join(out)


def paragraphs(text: str) -> list[tuple[int, str]]:
    """(offset, paragraph) for each paragraph; paragraphs are separated by blank lines."""
    found: list[tuple[int, str]] = []
    pos = 0
    for match in _PARAGRAPH_BREAK.finditer(text):
        found.append((pos, text[pos : match.start()]))
        pos = match.end()
    found.append((pos, text[pos:]))
    return [(start, para) for start, para in found if para.strip()]


def body_html(text: str, spans: Sequence[MarkSpan]) -> str:
    chosen = choose_spans(spans)
    out = []
    for start, para in paragraphs(text):
        inside = [s for s in chosen if s.start >= start and s.end <= start + len(para)]
        lines = marked_text(para, inside, offset=start).replace("\n", "<br>")
        out.append(f"<p>{lines}</p>")
    return "".join(out)


# --------------------------------------------------------------------------------------------
# Article page
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VersionRow:
    entry_id: str
    version: int
    event_type: str
    at: datetime


def _json_block(label: str, value: Any, block_id: str) -> str:
    text = orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()
    return (
        f'<section class="json" aria-labelledby="{block_id}"><h3 id="{block_id}">{esc(label)}</h3>'
        f'<pre tabindex="0">{esc(text)}</pre></section>'
    )


def related_list(event: PublishedEvent) -> str:
    links = event.data.enrichment.related
    if not links:
        return '<p class="muted">No related links.</p>'
    rows = []
    for link in links:
        if link.article_id:
            href = f"/console/articles/{_q(link.article_id)}"
        elif link.url and link.url.startswith(("https://", "http://")):
            href = link.url
        else:
            href = None
        title = f'<a href="{esc(href)}">{esc(link.title)}</a>' if href else esc(link.title)
        rows.append(
            f'<li><span class="badge">{esc(link.kind.value)}</span> {title} '
            f'<span class="muted">score {link.score:.2f}</span>'
            f'<br><span class="reason">{esc(link.reason)}</span></li>'
        )
    return f'<ul class="related">{"".join(rows)}</ul>'


def history_table(rows: Sequence[VersionRow], *, current_version: int) -> str:
    if not rows:
        return '<p class="muted">No earlier events found in the recent stream.</p>'
    body = "".join(
        f"<tr{' aria-current=true' if r.version == current_version else ''}><td>v{r.version}</td>"
        f"<td>{esc(r.event_type)}</td><td>{utc_time(r.at)}</td><td><code>{esc(r.entry_id)}</code></td></tr>"
        for r in rows
    )
    return (
        '<div class="scroll"><table class="history"><caption>Versions, newest first</caption><thead><tr>'
        '<th scope="col">Version</th><th scope="col">Event</th><th scope="col">Published</th>'
        f'<th scope="col">Stream entry</th></tr></thead><tbody>{body}</tbody></table></div>'
    )


def article_page(
    event: PublishedEvent,
    tagged: TaggedArticle | None,
    history: Sequence[VersionRow],
    viewer: Viewer,
) -> str:
    data = event.data
    entities = (tagged.entities if tagged else data.enrichment.entities).all()
    withdrawn = data.pubstatus is PubStatus.WITHDRAWN
    title = data.title or "(untitled)"
    heading = f"<del>{esc(title)}</del>" if withdrawn else esc(title)
    parts = [f'<h1 data-article-id="{esc(event.article_id)}">{heading}</h1>']
    label = EVENT_LABELS.get(event.event_type, event.event_type.value)
    parts.append(
        f'<p class="meta"><span class="badge badge-{label}">{esc(label)}</span> · v{data.version} · '
        f"{source_date(data.article_published_at, data.article_published_at_has_timezone)}"
        f" · published {utc_time(data.published_at)}</p>"
    )
    if tagged is not None and tagged.article.withdrawal_reason:
        parts.append(f'<p class="notice">Withdrawn: {esc(tagged.article.withdrawal_reason)}</p>')
    legend = "".join(
        f'<li><mark class="m-{k}">{k}</mark></li>' for k in ("person", "organisation", "place", "other")
    )
    parts.append(f'<ul class="legend" aria-label="Highlight colours">{legend}</ul>')
    if tagged is not None:
        article = tagged.article
        body = body_html(article.body, mention_spans(entities, "body", article.body))
        caption = ""
        if article.image_caption:
            spans = mention_spans(entities, "image_caption", article.image_caption)
            marked = marked_text(article.image_caption, spans)
            caption = f'<p class="caption"><span class="sr">Image caption: </span>{marked}</p>'
        parts.append(f'<section class="body" aria-label="Article text">{caption}{body}</section>')
    else:
        parts.append('<p class="muted">The tagged text of this version is not stored.</p>')
    parts.append(f'<section aria-labelledby="rel"><h2 id="rel">Related</h2>{related_list(event)}</section>')
    enrichment = data.enrichment.model_dump(mode="json")
    parts.append(
        '<section aria-labelledby="docs"><h2 id="docs">Documents</h2><div class="side">'
        f"{_json_block('ninjs', data.ninjs, 'ninjs')}{_json_block('Enrichment', enrichment, 'enr')}"
        "</div></section>"
    )
    parts.append(
        '<section aria-labelledby="hist"><h2 id="hist">Version history</h2>'
        f"{history_table(history, current_version=data.version)}</section>"
    )
    return page(title, "".join(parts), viewer)


# --------------------------------------------------------------------------------------------
# Entity view
# --------------------------------------------------------------------------------------------

MAP_W: Final = 360
MAP_H: Final = 180


def project(lat: float, lon: float) -> tuple[float, float]:
    """Equirectangular: longitude -180..180 -> x 0..MAP_W, latitude 90..-90 -> y 0..MAP_H."""
    x = (max(-180.0, min(180.0, lon)) + 180.0) / 360.0 * MAP_W
    y = (90.0 - max(-90.0, min(90.0, lat))) / 180.0 * MAP_H
    return round(x, 2), round(y, 2)


def map_svg(lat: float, lon: float, label: str) -> str:
    """A lat/long graticule (every 30 degrees) with the place as a dot: no tiles, no network."""
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return ""
    lines = []
    for lon_line in range(-180, 181, 30):
        x, _ = project(0, lon_line)
        lines.append(f'<line x1="{x}" y1="0" x2="{x}" y2="{MAP_H}"/>')
    for lat_line in range(-90, 91, 30):
        _, y = project(lat_line, 0)
        lines.append(f'<line x1="0" y1="{y}" x2="{MAP_W}" y2="{y}"/>')
    x, y = project(lat, lon)
    where = f"{abs(lat):.2f}°{'N' if lat >= 0 else 'S'}, {abs(lon):.2f}°{'E' if lon >= 0 else 'W'}"
    return (
        f'<figure class="map"><svg viewBox="0 0 {MAP_W} {MAP_H}" role="img" '
        f'aria-label="{esc(label)} at {esc(where)}" xmlns="http://www.w3.org/2000/svg">'
        f'<rect width="{MAP_W}" height="{MAP_H}" class="sea"/>'
        f'<g class="grat">{"".join(lines)}</g>'
        f'<line class="equator" x1="0" y1="{MAP_H / 2}" x2="{MAP_W}" y2="{MAP_H / 2}"/>'
        f'<line class="cross" x1="{x}" y1="0" x2="{x}" y2="{MAP_H}"/>'
        f'<line class="cross" x1="0" y1="{y}" x2="{MAP_W}" y2="{y}"/>'
        f'<circle class="pin" cx="{x}" cy="{y}" r="4"/></svg>'
        f"<figcaption>{esc(label)}: {esc(where)}</figcaption></figure>"
    )


@dataclass(frozen=True, slots=True)
class EntityArticleRow:
    article_id: str
    title: str | None
    version: int | None
    withdrawn: bool


def entity_page(
    card: Any,
    articles: Sequence[EntityArticleRow],
    *,
    total: int,
    offset: int,
    limit: int,
    coordinates: tuple[float, float] | None,
    viewer: Viewer,
    message: str | None = None,
    editing_enabled: bool,
) -> str:
    """`card` is the registry's `EntityCard` (typed loosely so this module needs no enrich import)."""
    kind = card.type.value
    parts = [
        f'<h1><span class="badge chip-{esc(kind)}">{esc(kind)}</span> {esc(card.name)}</h1>',
        notice(message),
    ]
    if card.resolved_from:
        parts.append(f'<p class="notice">{esc(card.resolved_from)} was merged into this entity.</p>')
    facts = [
        ("Registry id", f"<code>{esc(card.id)}</code>"),
        ("Articles", esc(card.article_count)),
        ("First seen", utc_time(card.first_seen) if card.first_seen else "–"),
        ("Last seen", utc_time(card.last_seen) if card.last_seen else "–"),
    ]
    names = ", ".join(f"{esc(n.name)} <span class=muted>({n.count})</span>" for n in card.names)
    facts.append(("Names and aliases", names or "–"))
    if card.titles:
        facts.append(("Titles", esc(", ".join(card.titles))))
    for field, value in sorted(card.identifiers.items()):
        shown = str(value)
        cell = (
            f'<a href="{esc(shown)}" rel="noreferrer">{esc(shown)}</a>'
            if shown.startswith(("https://", "http://"))
            else esc(shown)
        )
        facts.append((field, cell))
    if card.merged_from:
        facts.append(("Merged from", esc(", ".join(card.merged_from))))
    rows = "".join(f"<div><dt>{esc(k)}</dt><dd>{v}</dd></div>" for k, v in facts)
    card_html = f'<section class="card" aria-label="Registry card"><dl>{rows}</dl>'
    if coordinates is not None:
        card_html += map_svg(coordinates[0], coordinates[1], card.name)
    parts.append(card_html + "</section>")
    items = "".join(
        f'<li{" class=withdrawn" if a.withdrawn else ""}><a href="/console/articles/{_q(a.article_id)}">'
        f"{esc(a.title or a.article_id)}</a>"
        f"{f' <span class=muted>v{a.version}</span>' if a.version else ''}</li>"
        for a in articles
    )
    pager = []
    base = f"/console/entities/{_q(card.id)}"
    if offset > 0:
        pager.append(f'<a rel="prev" href="{base}?offset={max(0, offset - limit)}">Newer</a>')
    if offset + len(articles) < total:
        pager.append(f'<a rel="next" href="{base}?offset={offset + len(articles)}">Older</a>')
    parts.append(
        f'<section aria-labelledby="arts"><h2 id="arts">Articles ({total})</h2>'
        f'<ol class="plain">{items}</ol>'
        f'<nav class="pager" aria-label="Article pages">{" ".join(pager)}</nav></section>'
    )
    parts.append(edit_forms(card, viewer, editing_enabled=editing_enabled))
    parts.append(
        '<section aria-labelledby="hist"><h2 id="hist">Registry history</h2><ul class="plain">'
        + "".join(f"<li>{utc_time(h.at)} {esc(h.action)}: {esc(h.detail)}</li>" for h in card.history)
        + "</ul></section>"
    )
    return page(card.name, "".join(parts), viewer)


def edit_forms(card: Any, viewer: Viewer, *, editing_enabled: bool) -> str:
    if not editing_enabled:
        return '<p class="muted">Editing is off: set NEWSFLOW_PUBLISH_EDITOR_TOKENS to allow it.</p>'
    if not viewer.editor:
        return '<p class="muted">Sign in with an editor token to merge or split this entity.</p>'
    base = f"/console/entities/{_q(card.id)}"
    options = "".join(f'<option value="{esc(n.name)}">{esc(n.name)}</option>' for n in card.names)
    return (
        '<section aria-labelledby="edit"><h2 id="edit">Edit</h2><div class="forms">'
        f'<form method="post" action="{base}/merge">{csrf_field(viewer)}'
        '<label for="into">Merge into entity id</label>'
        '<input id="into" name="into" required pattern="[A-Za-z0-9:_-]+" autocomplete="off">'
        '<button type="submit">Merge</button></form>'
        f'<form method="post" action="{base}/split">{csrf_field(viewer)}'
        f'<label for="alias">Split off alias</label><select id="alias" name="alias">{options}</select>'
        '<button type="submit">Split</button></form></div></section>'
    )


# --------------------------------------------------------------------------------------------
# Pipeline health
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StageSeries:
    stage: str
    stream: str
    processed: Sequence[int]
    failed: Sequence[int]
    lag: Sequence[int]


@dataclass(frozen=True, slots=True)
class DeadLetterRow:
    entry_id: str
    failed_at: datetime
    stage: str
    code: str
    reason: str
    article_id: str
    source_stream: str


def sparkline(values: Sequence[int], label: str, *, width: int = 160, height: int = 36) -> str:
    """A small line chart with its last value; an accessible name states the range."""
    last = values[-1] if values else 0
    name = f"{label}: now {last}" + (f", min {min(values)}, max {max(values)}" if values else "")
    if len(values) < 2:
        points = f"0,{height - 2} {width},{height - 2}"
    else:
        low, high = min(values), max(values)
        span = (high - low) or 1
        step = width / (len(values) - 1)
        points = " ".join(
            f"{i * step:.1f},{height - 2 - (v - low) / span * (height - 4):.1f}" for i, v in enumerate(values)
        )
    return (
        f'<figure class="spark"><svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{esc(name)}" xmlns="http://www.w3.org/2000/svg">'
        f'<polyline points="{points}"/></svg><figcaption>{esc(label)} <b>{last}</b></figcaption></figure>'
    )


def health_page(
    series: Sequence[StageSeries],
    *,
    window_s: float,
    dlq_total: int,
    dlq_by_code: Mapping[str, int],
    entries: Sequence[DeadLetterRow],
    viewer: Viewer,
    editing_enabled: bool,
    message: str | None = None,
    dlq_error: str | None = None,
) -> str:
    rows = "".join(
        f'<tr><th scope="row">{esc(s.stage)}<br><code class="muted">{esc(s.stream)}</code></th>'
        f"<td>{sparkline(s.processed, 'processed')}</td><td>{sparkline(s.failed, 'failed')}</td>"
        f"<td>{sparkline(s.lag, 'lag')}</td></tr>"
        for s in series
    )
    count = len(series[0].processed) if series else 0
    span = f"{window_s / 60:.1f} min" if window_s >= 60 else f"{window_s:.0f} s"
    charts = (
        f'<section id="charts" aria-labelledby="stages"><h2 id="stages">Stages</h2>'
        f'<p class="muted">{count} sample{"" if count == 1 else "s"} over the last {span}: one at most '
        "every 5 s while this page is open (it refreshes itself).</p>"
        '<table class="stages"><thead><tr><th scope="col">Stage</th><th scope="col">Processed</th>'
        f'<th scope="col">Failed (dead-lettered)</th><th scope="col">Consumer lag</th></tr></thead>'
        f"<tbody>{rows}</tbody></table></section>"
    )
    codes = "".join(
        f'<tr><th scope="row">{esc(code)}</th><td>{count}</td></tr>'
        for code, count in sorted(dlq_by_code.items(), key=lambda kv: (-kv[1], kv[0]))
    )
    by_code = (
        f'<table class="codes"><caption>Dead letters by code</caption><thead><tr><th scope="col">Code</th>'
        f'<th scope="col">Entries</th></tr></thead><tbody>{codes}</tbody></table>'
        if codes
        else ""
    )
    can_replay = editing_enabled and viewer.editor
    items = []
    for e in entries:
        action = (
            f'<form method="post" action="/console/dlq/replay">{csrf_field(viewer)}'
            f'<input type="hidden" name="entry_id" value="{esc(e.entry_id)}">'
            f'<button type="submit" aria-label="Replay {esc(e.entry_id)}">Replay</button></form>'
            if can_replay
            else ""
        )
        items.append(
            f'<tr data-dlq-id="{esc(e.entry_id)}"><td><code>{esc(e.entry_id)}</code></td>'
            f"<td>{utc_time(e.failed_at)}</td><td>{esc(e.stage)}</td><td>{esc(e.code)}</td>"
            f'<td>{esc(e.article_id or "–")}</td><td class="reason">{esc(e.reason)}</td>'
            f"<td>{action}</td></tr>"
        )
    hint = (
        ""
        if can_replay
        else (
            '<p class="muted">Sign in with an editor token to replay.</p>'
            if editing_enabled
            else '<p class="muted">Replay is off: set NEWSFLOW_PUBLISH_EDITOR_TOKENS to allow it.</p>'
        )
    )
    if dlq_error:
        hint = f'<p class="error" role="alert">{esc(dlq_error)}</p>'
    table = (
        '<table class="dlq"><thead><tr><th scope="col">Entry</th><th scope="col">Failed at</th>'
        '<th scope="col">Stage</th><th scope="col">Code</th><th scope="col">Article</th>'
        f'<th scope="col">Reason</th><th scope="col"><span class="sr">Action</span></th></tr></thead>'
        f"<tbody>{''.join(items)}</tbody></table>"
        if items
        else ("" if dlq_error else '<p class="muted">The dead-letter stream is empty.</p>')
    )
    main = (
        f'<h1>Pipeline health</h1>{notice(message)}<div id="health" data-refresh="/console/health">{charts}'
        '<section aria-labelledby="dlq">'
        f'<h2 id="dlq">Dead letters (<span id="dlq-total">{dlq_total}</span>)</h2>'
        f'{by_code}{hint}<div class="scroll">{table}</div></section></div>'
    )
    return page("Pipeline health", main, viewer, current="health")
