"""Pure mapping from a tagged article to IPTC ninjs, and the publish decision for a version.

Decisions the schemas force or leave to us:
- Dates. ninjs `date-time` is RFC 3339, which requires an offset. A zone-aware source date becomes
  `firstcreated` (UTC written as `Z`, other offsets kept); a zone-less one is not given an invented
  zone: `firstcreated` is left out and the date as written goes into `ednote`. `versioncreated` is
  when this version reached newsflow (`received_at`).
- Withdrawals become `pubstatus: canceled` with the headline kept to identify the article and the
  reason in `ednote`; body, caption, entities and associations are left out of a kill notice.
- Entities: `uri` is the entity registry's URI (`<base>/v1/entities/<id>`) once linked, else the
  entity's own URI, else its GeoNames URI, else (countries) IPTC's ISO 3166 URI as in the official
  examples; `literal` is the registry id (else the article-level id), which joins the ninjs entry
  to `PublishedArticle.enrichment`. `rel` is `about` for an entity named in the headline, else
  `mentions`. Entities of type `other` stay in the enrichment only.
- Associations: an earlier article (kind `article`) and an inline `READ:` link with a URL become
  associations (`related<n>` / `inline<n>`); reference pages for entities do not (they are not
  news objects; the entity's `uri` already points there). Links without a usable URI are left out.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import quote, urljoin, urlsplit
from zoneinfo import ZoneInfo

import orjson

from services.publish import ninjs as n
from services.publish.changes import update_changes
from services.publish.views import EntityView, TaggedEventView, TaggedView
from shared import wire
from shared.events import (
    SCHEMA_VERSION,
    Changes,
    Enrichment,
    Entity,
    EventType,
    PublishedArticle,
    PublishedEvent,
    PubStatus,
    RawArticle,
    RelatedKind,
    TaggedArticle,
    TaggedEvent,
    new_event_id,
)

NinjsVersion = Literal["2.2", "3.1"]

SCHEMA_URIS: dict[NinjsVersion, str] = {
    "2.2": "http://www.iptc.org/std/ninjs/ninjs-schema_2.2.json",
    "3.1": "http://www.iptc.org/std/ninjs/ninjs-schema_3.1.json",
}
# GeoNames' own URI for a feature; https://www.geonames.org/ontology/documentation.html
GEONAMES_URI = "https://sws.geonames.org/{id}/"
# The country URIs the official ninjs examples use ("http://cvx.iptc.org/iso3166-1a2/it").
ISO3166_URI = "http://cvx.iptc.org/iso3166-1a2/{code}"

_PUBSTATUS: dict[PubStatus, n.PubStatusValue] = {
    PubStatus.USABLE: "usable",
    PubStatus.WITHDRAWN: "canceled",
}
# RFC 3986 characters allowed unencoded in a path segment, besides letters, digits and "-._~".
_PCHAR_SAFE = "!$&'()*+,;=:@"
# ...and in a whole URI (gen-delims too, except a second "#"); "%" keeps existing escapes.
_URI_SAFE = _PCHAR_SAFE + "/?[]%"
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*")
_STRAY_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


def article_uri(base_url: str, article_id: str) -> str:
    """The stable ninjs `uri` of an article: `<base_url>/articles/<article_id>`."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"base_url must be an absolute http(s) URL, got {base_url!r}")
    return f"{base_url.rstrip('/')}/articles/{quote(article_id, safe=_PCHAR_SAFE)}"


def event_type_for(previous_version: int | None, article: RawArticle) -> EventType | None:
    """What publishing this version means, or None when it is not newer than the published one.

    A withdrawal is published even for an article never published here: a kill notice for an
    unknown id is harmless, and dropping it could lose a kill that overtook its article.
    """
    if previous_version is not None and article.version <= previous_version:
        return None
    if article.pubstatus is PubStatus.WITHDRAWN:
        return EventType.WITHDRAWN
    return EventType.PUBLISHED if previous_version is None else EventType.UPDATED


def build_published(
    tagged: TaggedArticle, *, base_url: str, published_at: datetime, changes: Changes | None = None
) -> PublishedArticle:
    """The published-article event data: a ninjs 2.2 document beside our own enrichment."""
    article = tagged.article
    return PublishedArticle(
        article_id=article.article_id,
        version=article.version,
        pubstatus=article.pubstatus,
        title=article.title,
        url=article.url,
        article_published_at=article.published_at,
        article_published_at_has_timezone=article.published_at_has_timezone,
        ninjs=to_ninjs(tagged, ninjs_version="2.2", base_url=base_url),
        enrichment=Enrichment(
            entities=tagged.entities,
            related=tagged.related,
            tagger=tagged.tagger,
            same_story_as=tagged.same_story_as,
            story_id=tagged.story_id,
        ),
        published_at=published_at,
        urgency=article.urgency,
        embargoed_until=article.embargoed_until,
        changes=changes,
    )


def published_event(
    event: TaggedEvent,
    event_type: EventType,
    *,
    base_url: str,
    published_at: datetime,
    previous: TaggedArticle | None,
    traceparent: str | None,
) -> PublishedEvent:
    """The event publish emits for a tagged event, with the `changes` against `previous` (what
    subscribers saw); shared by the publish path and the embargo release."""
    return PublishedEvent(
        event_type=event_type,
        article_id=event.article_id,
        article_version=event.article_version,
        correlation_id=event.correlation_id,
        traceparent=traceparent,
        data=build_published(
            event.data,
            base_url=base_url,
            published_at=published_at,
            changes=update_changes(event_type, previous, event.data),
        ),
    )


@dataclass(frozen=True, slots=True)
class Published:
    """A published event as stream fields, with what the stage logs and checks of it."""

    fields: wire.Fields
    ninjs: dict[str, Any]
    event_type: EventType


# The entities of an event that has none (the model's default), as the model writes them.
_NO_ENTITIES: dict[str, list[Any]] = {"people": [], "organisations": [], "places": [], "other": []}


def published_fields(
    event: TaggedEventView,
    tagged_json: Mapping[str, Any],
    event_type: EventType,
    *,
    base_url: str,
    published_at: datetime,
    previous: TaggedArticle | TaggedView | None,
    traceparent: str | None,
) -> Published:
    """The event `published_event` makes, written straight to JSON: the same document, in the
    same key order, with the enrichment as enrich wrote it in `tagged_json` (the event as read)
    instead of decoded into models and encoded again."""
    tagged = event.data
    article = tagged.article
    data = tagged_json["data"]
    changes = update_changes(event_type, previous, tagged)
    ninjs = to_ninjs(tagged, ninjs_version="2.2", base_url=base_url)
    event_id = new_event_id()
    document = {
        "event_id": event_id,
        "event_type": event_type.value,
        "schema_version": SCHEMA_VERSION,
        "occurred_at": datetime.now(UTC),
        "article_id": event.article_id,
        "article_version": event.article_version,
        "correlation_id": event.correlation_id,
        "traceparent": traceparent,
        "data": {
            "article_id": article.article_id,
            "version": article.version,
            "pubstatus": article.pubstatus.value,
            "title": article.title,
            "url": article.url,
            "article_published_at": article.published_at,
            "article_published_at_has_timezone": article.published_at_has_timezone,
            "ninjs": ninjs,
            "enrichment": {
                "entities": data.get("entities", _NO_ENTITIES),
                "related": data.get("related", []),
                "tagger": tagged.tagger,
                "same_story_as": data.get("same_story_as"),
                "story_id": tagged.story_id,
            },
            "published_at": published_at,
            "urgency": article.urgency,
            "embargoed_until": article.embargoed_until,
            "changes": changes.model_dump(mode="json") if changes is not None else None,
        },
    }
    # OPT_UTC_Z: UTC as "Z", the way the models write dates.
    body = orjson.dumps(document, option=orjson.OPT_UTC_Z).decode()
    fields = wire.fields_of(
        event_type=event_type.value,
        event_id=event_id,
        schema_version=SCHEMA_VERSION,
        article_id=event.article_id,
        article_version=event.article_version,
        correlation_id=event.correlation_id,
        traceparent=traceparent,
        body=body,
    )
    return Published(fields, ninjs, event_type)


def to_ninjs(
    tagged: TaggedArticle | TaggedView,
    *,
    ninjs_version: NinjsVersion = "2.2",
    base_url: str,
    pubstatus: PubStatus | None = None,
) -> dict[str, Any]:
    """The article as a ninjs document of the given version (a JSON object, schema-valid).

    `pubstatus` overrides the article's own status (e.g. to emit a kill notice for it).
    """
    doc = _neutral(tagged, base_url=base_url, pubstatus=pubstatus or tagged.article.pubstatus)
    return _build(doc, ninjs_version)


# --------------------------------------------------------------------------------------------
# A version-neutral view of the document: what to say, before choosing 2.x or 3.x spelling.
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Concept:
    name: str
    rel: str | None = None
    uri: str | None = None
    literal: str | None = None
    geojson: dict[str, Any] | None = None


@dataclass(slots=True)
class _Link:
    name: str
    rel: str
    uri: str
    title: str | None


@dataclass(slots=True)
class _Doc:
    uri: str
    article_version: str
    pubstatus: n.PubStatusValue
    firstcreated: str | None
    versioncreated: str | None
    language: str | None
    title: str | None
    by: str | None
    body: str | None
    caption: str | None
    credit: str | None
    ednote: str | None
    people: list[_Concept]
    organisations: list[_Concept]
    places: list[_Concept]
    subjects: list[_Concept]
    associations: list[_Link]
    altids: list[tuple[str, str]]
    infosource: str | None
    contentcreated: str | None = None
    embargoed: str | None = None
    urgency: int | None = None
    correction: str | None = None


def _neutral(tagged: TaggedArticle | TaggedView, *, base_url: str, pubstatus: PubStatus) -> _Doc:
    article = tagged.article
    uri = article_uri(base_url, article.article_id)
    usable = pubstatus is PubStatus.USABLE
    notes: list[str] = []
    if not usable:
        reason = _text(article.withdrawal_reason)
        notes.append(f"Withdrawn: {reason}" if reason else "Withdrawn by the source.")

    firstcreated = None
    if article.published_at is not None:
        firstcreated = _date_time(
            source_local(article),
            zone_known=article.published_at_has_timezone is not False,
            # A time read in the source's zone is written as its wall clock: London in winter
            # is +00:00, not "Z" (which would say the source wrote UTC).
            utc_as_z=article.published_at_timezone is None,
        )
        if firstcreated is None:
            written = article.published_at.replace(tzinfo=None).isoformat()
            notes.append(f"Source date {written} has no time zone; firstcreated left out.")

    correction = _text(article.correction) if usable else None
    if correction:
        notes.append(f"Correction: {correction}")
    entities = tagged.entities
    altids = []
    if article.source_id:
        altids.append((article.source, article.source_id))
    if article.url:
        altids.append(("url", article.url))
    return _Doc(
        uri=uri,
        article_version=str(article.version),
        pubstatus=_PUBSTATUS[pubstatus],
        firstcreated=firstcreated,
        versioncreated=_date_time(article.received_at),
        language=_text(article.language),
        title=_text(article.title),
        by=", ".join(a.strip() for a in article.authors if a.strip()) or None,
        body=article.body if usable and article.body.strip() else None,
        caption=_text(article.image_caption) if usable else None,
        credit=_text(article.image_credit) if usable else None,
        ednote=" ".join(notes) or None,
        people=[_entity_concept(e) for e in entities.people] if usable else [],
        organisations=[_entity_concept(e) for e in entities.organisations] if usable else [],
        places=[_entity_concept(e, with_point=True) for e in entities.places] if usable else [],
        subjects=_subjects(article.subjects) if usable else [],
        associations=_associations(tagged, base_url=base_url, own_uri=uri) if usable else [],
        altids=altids,
        infosource=_text(article.site) or _text(article.source),
        contentcreated=firstcreated,
        embargoed=_date_time(article.embargoed_until) if article.embargoed_until else None,
        urgency=article.urgency,
        correction=correction,
    )


def source_local(article: RawArticle) -> datetime:
    """The source date as the source wrote it: in its zone when ingest read it in one."""
    value = article.published_at
    assert value is not None
    if article.published_at_timezone and value.utcoffset() is not None:
        return value.astimezone(ZoneInfo(article.published_at_timezone))
    return value


def _text(value: str | None) -> str | None:
    """The value without surrounding whitespace; None when nothing is left."""
    stripped = value.strip() if value else ""
    return stripped or None


def _date_time(value: datetime, *, zone_known: bool = True, utc_as_z: bool = True) -> str | None:
    """RFC 3339, or None for a zone-less time (RFC 3339 has no way to say "local, zone unknown")."""
    offset = value.utcoffset()
    if offset is None or not zone_known:
        return None
    if offset % timedelta(minutes=1):
        # RFC 3339 offsets are whole minutes; historic zones (LMT +00:53:28) are rewritten as UTC.
        value, offset = value.astimezone(UTC), timedelta(0)
    text = value.isoformat()
    return text.removesuffix("+00:00") + "Z" if not offset and utc_as_z else text


def _entity_uri(entity: Entity | EntityView) -> str | None:
    if entity.entity_uri:
        return entity.entity_uri  # the registry's: one URI per entity across articles
    ids = entity.identifiers
    own = _as_uri(ids.uri)
    if own is not None:
        return own
    if ids.geonames_id is not None:
        return GEONAMES_URI.format(id=ids.geonames_id)
    if ids.iso3166_alpha2 and re.fullmatch(r"[A-Za-z]{2}", ids.iso3166_alpha2):
        return ISO3166_URI.format(code=ids.iso3166_alpha2.lower())
    return None


def _entity_concept(entity: Entity | EntityView, *, with_point: bool = False) -> _Concept:
    ids = entity.identifiers
    point = None
    lat, lon = ids.latitude, ids.longitude
    if (
        with_point
        and lat is not None
        and lon is not None
        and math.isfinite(lat)
        and math.isfinite(lon)
        and -90 <= lat <= 90
        and -180 <= lon <= 180
    ):
        point = {"type": "Point", "coordinates": [lon, lat]}  # GeoJSON order: longitude first
    return _Concept(
        name=entity.name,
        rel="about" if entity.in_headline else "mentions",
        uri=_entity_uri(entity),
        literal=entity.entity_id or entity.id,
        geojson=point,
    )


def _subjects(subjects: list[str]) -> list[_Concept]:
    names = dict.fromkeys(s.strip() for s in subjects if s.strip())  # keeps order, drops repeats
    return [_Concept(name=s) for s in names]


def _associations(tagged: TaggedArticle | TaggedView, *, base_url: str, own_uri: str) -> list[_Link]:
    links: list[_Link] = []
    seen = {own_uri}
    counts = {RelatedKind.ARTICLE: 0, RelatedKind.INLINE: 0}
    for link in tagged.related:
        if link.kind not in counts:
            continue  # REFERENCE: an entity's reference page, not a news object
        if link.article_id:
            uri: str | None = article_uri(base_url, link.article_id)
        else:
            uri = _as_uri(link.url, base=tagged.article.url, web_only=True)
        if uri is None or uri in seen:
            continue
        seen.add(uri)
        counts[link.kind] += 1
        article = link.kind is RelatedKind.ARTICLE
        links.append(
            _Link(
                name=f"{'related' if article else 'inline'}{counts[link.kind]}",
                rel="related" if article else "linked",
                uri=uri,
                title=_text(link.title),
            )
        )
    return links


def _as_uri(value: str | None, *, base: str | None = None, web_only: bool = False) -> str | None:
    """An absolute RFC 3986 URI for a possibly relative or IRI link, or None if there is none.

    Relative links are resolved against `base`; spaces, non-ASCII characters, a stray "%" and a
    second "#" are percent-encoded. `web_only` accepts http(s) URLs only.
    """
    value = _text(value)
    if value is None:
        return None
    try:
        joined = urljoin(base, value) if base else value
        head, hash_, fragment = _STRAY_PERCENT.sub("%25", joined).partition("#")
        uri = quote(head, safe=_URI_SAFE) + hash_ + quote(fragment, safe=_URI_SAFE)
        parts = urlsplit(uri)
    except ValueError:  # e.g. an unclosed IPv6 bracket: "http://[::1/"
        return None
    web = parts.scheme in ("http", "https")
    if not _SCHEME.fullmatch(parts.scheme) or (web and not parts.netloc) or (web_only and not web):
        return None
    return uri


# --------------------------------------------------------------------------------------------
# The two spellings
# --------------------------------------------------------------------------------------------

# The document is built as plain dicts, not as the models of `ninjs.py` (about 40 validated model
# objects per article were most of publish's CPU). Tests hold every mapped document to the official
# schemas and to the models (`Ninjs2.load(doc).dump() == doc`); publish re-checks a sample at run
# time (`NinjsCheck`). Keys are in the models' field order, so documents read the same as before.

# 2.x property name -> its 3.x name, for the names 3.x spells in camelCase; others are the same.
_NAMES_3: dict[str, str] = {
    "representationtype": "representationType",
    "firstcreated": "firstCreated",
    "versioncreated": "versionCreated",
    "contentcreated": "contentCreated",
    "embargoed": "embargoedUntil",
    "pubstatus": "pubStatus",
    "ednote": "edNote",
    "contenttype": "contentType",
    "charcount": "charCount",
    "wordcount": "wordCount",
    "geojson": "geoJSON",
    "altids": "altIds",
    "infosources": "infoSources",
}
_NAMES: dict[NinjsVersion, dict[str, str]] = {"2.2": {}, "3.1": _NAMES_3}


def _obj(names: dict[str, str], **fields: Any) -> dict[str, Any]:
    """A ninjs object from 2.x-named fields: renamed for the version, absent (None) ones left out."""
    if not names:  # 2.x, the spelling of every published document: nothing to rename
        return {key: value for key, value in fields.items() if value is not None}
    return {names.get(key, key): value for key, value in fields.items() if value is not None}


def _build(d: _Doc, version: NinjsVersion) -> dict[str, Any]:
    """The document in `version`'s spelling, from the one neutral view."""
    names = _NAMES[version]
    descriptions = []
    if d.caption:
        descriptions.append(_obj(names, role="caption", contenttype="text/plain", value=d.caption))
    if d.credit:
        descriptions.append(_obj(names, role="creditline", value=d.credit))
    if d.correction:
        descriptions.append(_obj(names, role="correction", contenttype="text/plain", value=d.correction))
    bodies = None
    if d.body:
        # Ingest extracts plain text from every format (HTML included); the original format stays
        # on the raw event (`RawArticle.content_type`).
        bodies = [
            _obj(
                names,
                role="main",
                contenttype="text/plain",
                charcount=len(d.body),
                wordcount=len(d.body.split()),
                value=d.body,
            )
        ]
    related_rel = version == "3.1"  # 3.x associations say how they relate
    return _obj(
        names,
        uri=d.uri,
        type="text",
        representationtype="full" if d.pubstatus == "usable" else "partial",
        version=d.article_version,
        firstcreated=d.firstcreated,
        versioncreated=d.versioncreated,
        contentcreated=d.contentcreated,
        embargoed=d.embargoed,
        pubstatus=d.pubstatus,
        urgency=d.urgency,
        ednote=d.ednote,
        language=d.language,
        descriptions=descriptions or None,
        bodies=bodies,
        headlines=[{"role": "main", "value": d.title}] if d.title else None,
        people=[_concept(names, c) for c in d.people] or None,
        organisations=[_concept(names, c) for c in d.organisations] or None,
        places=[_concept(names, c) for c in d.places] or None,
        subjects=[{"name": c.name} for c in d.subjects] or None,
        infosources=[{"name": d.infosource}] if d.infosource else None,
        title=d.title,
        by=d.by,
        associations=[
            _obj(
                names,
                uri=a.uri,
                type="text",
                representationtype="partial",
                title=a.title,
                name=a.name,
                rel=a.rel if related_rel else None,
            )
            for a in d.associations
        ]
        or None,
        altids=[{"role": role, "value": value} for role, value in d.altids] or None,
        standard={"name": "ninjs", "version": version, "schema": SCHEMA_URIS[version]},
    )


def _concept(names: dict[str, str], c: _Concept) -> dict[str, Any]:
    return _obj(names, name=c.name, rel=c.rel, uri=c.uri, literal=c.literal, geojson=c.geojson)
