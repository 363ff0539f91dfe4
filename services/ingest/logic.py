"""Ingest's pure logic: payload -> validated, normalised `Draft` -> versioned `RawArticle`.

Nothing here touches Redis or the network; `split_file` is the one function that reads a file.
Every bad input becomes a `Rejection` value, never an exception.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Self
from zoneinfo import ZoneInfo

import orjson
from pydantic import ConfigDict

from services.ingest.formats import (
    HTML,
    JSON,
    SUPPORTED_TYPES,
    Code,
    Extracted,
    FieldError,
    Rejection,
    detect_content_type,
    parse_html,
    parse_json,
    parse_text,
    split_file,
)
from services.ingest.normalise import (
    as_comparable,
    canonical_url,
    clean_body,
    clean_line,
    detect_language,
    join_broken_paragraphs,
    normalise_language,
    parse_date,
    split_credit,
    to_utc,
    url_scheme,
)
from services.ingest.sources import NO_POLICY, SourcePolicy
from services.ingest.timezones import localise
from shared.events import ArticleContent, InlineLink, PubStatus, RawArticle

__all__ = [
    "Accepted",
    "Code",
    "Draft",
    "Duplicate",
    "FieldError",
    "LedgerEntry",
    "Rejection",
    "assign_version",
    "detect_content_type",
    "parse_payload",
    "split_file",
]

MAX_TITLE_CHARS: Final = 500
MIN_BODY_CHARS: Final = 20  # shorter than one sentence of news: a stub, a test ping, a mistake
MAX_LINKS: Final = 100
EARLIEST_YEAR: Final = 1900  # older dates are typos (0203 for 2023) or epoch-zero defaults
# Wire embargoes run hours to days; past a month it is a typo (2205 for 2025) or an attempt to
# park articles in publish's embargo hash for good.
MAX_EMBARGO: Final = timedelta(days=31)
ID_HASH_CHARS: Final = 16  # 64 bits of sha1: collision-free at any archive size we will see


class Draft(ArticleContent):
    """A parsed, normalised article before versioning: `RawArticle` without version and
    previous_event_id (both derive from `ArticleContent`, so their fields cannot drift)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --- parsing -------------------------------------------------------------------------------------

# Characters of body text; spaCy's memory grows with it (near 1 GB at 300,000 characters).
DEFAULT_MAX_BODY_CHARS: Final = 200_000


def parse_payload(
    payload: bytes | str,
    content_type: str | None,
    *,
    source: str,
    received_at: datetime,
    max_bytes: int = 2_000_000,
    max_future: timedelta = timedelta(hours=48),
    filename: str | None = None,
    policy: SourcePolicy = NO_POLICY,
    max_body_chars: int = DEFAULT_MAX_BODY_CHARS,
) -> Draft | Rejection:
    """Parse one article (a JSON payload is ONE InboundArticle object) into a `Draft`.

    `max_bytes` bounds the UTF-8 payload size in bytes; `max_future` is how far past
    `received_at` a publication date may lie (embargoes, clock skew) before it is refused.
    `policy` gives each source's time zone (for zone-less dates) and default urgency.
    `max_body_chars` bounds the extracted body in characters (what enrich's NLP costs).
    """
    if isinstance(payload, str):
        try:
            payload = payload.encode("utf-8")
        except UnicodeEncodeError as exc:
            return Rejection(Code.NOT_UTF8, f"the text has a lone surrogate at character {exc.start}")
    if len(payload) > max_bytes:
        return Rejection(Code.OVERSIZE, f"the payload is {len(payload)} bytes, over the limit of {max_bytes}")
    kind = detect_content_type(payload, content_type, filename)
    if kind not in SUPPORTED_TYPES:
        return Rejection(
            Code.UNKNOWN_CONTENT_TYPE,
            f"content type '{kind}' is not supported (use {', '.join(sorted(SUPPORTED_TYPES))})",
        )
    try:
        text = payload.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return Rejection(Code.NOT_UTF8, f"the payload is not UTF-8 (bad byte at offset {exc.start})")
    if "\x00" in text:
        return Rejection(Code.NUL_BYTE, f"the payload has a NUL byte at offset {text.index(chr(0))}")
    if not text.strip():
        return Rejection(Code.EMPTY, "the payload is empty")

    extracted: Extracted | Rejection
    if kind == JSON:
        extracted = parse_json(text)
    elif kind == HTML:
        extracted = parse_html(text)
    else:
        extracted = parse_text(text)
    if isinstance(extracted, Rejection):
        return extracted
    body_chars = len(extracted.body or "")
    if body_chars > max_body_chars:
        return Rejection(
            Code.BODY_TOO_LONG,
            f"the body is {body_chars} characters, over the limit of {max_body_chars}",
        )
    return _draft(extracted, source=source, received_at=received_at, max_future=max_future, policy=policy)


def _field(code: Code, loc: str, problem: str) -> Rejection:
    """A rejection about one field: `field '<loc>' <problem>`, with the matching FieldError."""
    return Rejection(code, f"field '{loc}' {problem}", (FieldError(loc, problem),))


def _links(extracted: Extracted, read_titles: list[str]) -> list[InlineLink] | Rejection:
    links: list[InlineLink] = []
    by_title: dict[str, int] = {}
    candidates = [*extracted.links, *((t, None) for t in read_titles)]
    for i, (raw_title, raw_url) in enumerate(candidates):
        title = clean_line(raw_title)
        url = None
        if raw_url is not None and raw_url.strip():
            url = canonical_url(raw_url)
            if url is None:
                loc = f"related.{i}.url"
                scheme = url_scheme(raw_url) or "none"
                return Rejection(
                    Code.INVALID_URL,
                    f"field '{loc}' is not an http(s) URL (scheme: {scheme})",
                    (FieldError(loc, "must be an absolute http or https URL"),),
                )
        if not title:
            loc = f"related.{i}.title"
            return Rejection(
                Code.INVALID_FIELD,
                f"field '{loc}' is empty",
                (FieldError(loc, "a related link needs a title"),),
            )
        # One link per title; a READ line and an anchor with the same text are the same link.
        key = title.casefold()
        if key in by_title:
            if url and links[by_title[key]].url is None:
                links[by_title[key]] = InlineLink(title=title, url=url)
            continue
        by_title[key] = len(links)
        links.append(InlineLink(title=title, url=url))
    if len(links) > MAX_LINKS:
        return _field(
            Code.TOO_MANY_LINKS, "related", f"has {len(links)} links, over the limit of {MAX_LINKS}"
        )
    return links


def _published_at(
    raw: str | None, *, received_at: datetime, max_future: timedelta, zone: ZoneInfo | None = None
) -> tuple[datetime | None, bool | None, str | None] | Rejection:
    """(UTC or naive date, whether it has a zone, the source zone it was read in)."""
    if raw is None or not raw.strip():
        return None, None, None
    parsed = parse_date(raw)
    assumed = None
    if parsed is not None and parsed.tzinfo is None and zone is not None:
        parsed, assumed = localise(parsed, zone), zone.key
    if parsed is None:
        return Rejection(
            Code.UNPARSEABLE_DATE,
            f"field 'published_at' is not a date we can read: {raw.strip()[:80]!r}",
            (FieldError("published_at", "expected ISO 8601, e.g. 2023-09-20T15:17:00+03:00"),),
        )
    if parsed.year < EARLIEST_YEAR:
        return Rejection(
            Code.DATE_TOO_OLD,
            f"field 'published_at' is {parsed.date()}, before {EARLIEST_YEAR}",
            (FieldError("published_at", f"must not be before {EARLIEST_YEAR}"),),
        )
    latest = as_comparable(received_at) + max_future
    if as_comparable(parsed) > latest:
        return Rejection(
            Code.FUTURE_DATE,
            f"field 'published_at' is {parsed.isoformat()}, more than "
            f"{max_future.total_seconds() / 3600:g} hours after receipt ({received_at.isoformat()})",
            (FieldError("published_at", "lies too far in the future"),),
        )
    return to_utc(parsed), parsed.tzinfo is not None, assumed


def _embargoed_until(
    raw: str | None, zone: ZoneInfo | None, *, received_at: datetime
) -> datetime | Rejection | None:
    """The embargo as a UTC instant. A zone-less one needs the source's zone: guessing could
    release a story an hour early."""
    if raw is None or not raw.strip():
        return None
    parsed = parse_date(raw)
    if parsed is None:
        return _field(
            Code.UNPARSEABLE_DATE, "embargoed_until", f"is not a date we can read: {raw.strip()[:80]!r}"
        )
    if parsed.tzinfo is None:
        if zone is None:
            return _field(
                Code.INVALID_FIELD,
                "embargoed_until",
                "has no time zone and the source has none configured (NEWSFLOW_INGEST_DEFAULT_TIMEZONE)",
            )
        parsed = localise(parsed, zone)
    until = parsed.astimezone(UTC)
    if until > received_at + MAX_EMBARGO:
        return _field(
            Code.FUTURE_DATE,
            "embargoed_until",
            f"is {until.isoformat()}, more than {MAX_EMBARGO.days} days after receipt",
        )
    return until


def _draft(
    ex: Extracted,
    *,
    source: str,
    received_at: datetime,
    max_future: timedelta,
    policy: SourcePolicy = NO_POLICY,
) -> Draft | Rejection:
    withdraw = ex.action == "withdraw"
    title = clean_line(ex.title)
    paragraphs, read_titles = clean_body(ex.body)
    body = "\n\n".join(join_broken_paragraphs(paragraphs))

    if not withdraw:
        if not title:
            return _field(Code.MISSING_TITLE, "title", "is missing or empty")
        if not body:
            return _field(Code.MISSING_BODY, "body", "is missing or empty")
        if len(body) < MIN_BODY_CHARS:
            return _field(
                Code.BODY_TOO_SHORT,
                "body",
                f"has {len(body)} characters, too short for an article (minimum {MIN_BODY_CHARS})",
            )
    if len(title) > MAX_TITLE_CHARS:
        return _field(
            Code.TITLE_TOO_LONG,
            "title",
            f"has {len(title)} characters, over the limit of {MAX_TITLE_CHARS}",
        )

    url = None
    if ex.url is not None and ex.url.strip():
        url = canonical_url(ex.url)
        if url is None:
            return Rejection(
                Code.INVALID_URL,
                f"field 'url' is not an http(s) URL (scheme: {url_scheme(ex.url) or 'none'})",
                (FieldError("url", "must be an absolute http or https URL"),),
            )

    links = _links(ex, read_titles)
    if isinstance(links, Rejection):
        return links

    source_name = clean_line(ex.source) or source
    zone = policy.zones.zone_for(source_name)
    dated = _published_at(ex.published_at, received_at=received_at, max_future=max_future, zone=zone)
    if isinstance(dated, Rejection):
        return dated
    published_at, has_timezone, assumed_zone = dated
    embargoed_until = _embargoed_until(ex.embargoed_until, zone, received_at=received_at)
    if isinstance(embargoed_until, Rejection):
        return embargoed_until

    language = None
    if ex.language is not None and ex.language.strip():
        language = normalise_language(ex.language)
        if language is None:
            return Rejection(
                Code.INVALID_FIELD,
                f"field 'language' is not an ISO 639-1 code: {ex.language[:40]!r}",
                (FieldError("language", "expected a two-letter code such as 'en'"),),
            )
    elif title or body:
        language = detect_language(f"{title}\n\n{body}")

    caption, credit = split_credit(clean_line(ex.image_caption))
    if ex.image_credit:
        credit = clean_line(ex.image_credit)
    source_id = clean_line(ex.source_id) or None

    # The id namespace is the sender's own `source` field, never the entry point (`source=`):
    # the same JSON must keep its id whether it comes by stream, HTTP or a renamed file.
    article_id = _article_id(clean_line(ex.source), source_id, url, title, published_at)
    if article_id is None:
        return Rejection(
            Code.MISSING_IDENTITY,
            "a withdrawal needs field 'id', 'url' or 'title' to name the article",
        )
    pubstatus = PubStatus.WITHDRAWN if withdraw else PubStatus.USABLE
    authors = _unique(clean_line(a) for a in ex.authors)
    content: dict[str, Any] = {
        "pubstatus": pubstatus.value,
        "title": title,
        "body": body,
        "image_caption": caption or None,
        "image_credit": credit or None,
        "inline_links": [[link.title, link.url] for link in links],
        "published_at": published_at.isoformat() if published_at else None,
        "authors": authors,
    }
    urgency = ex.urgency or ex.priority or policy.default_urgency(source_name)
    correction = clean_line(ex.correction) or None
    # Only when present, so that articles without them keep the hash (and version) they had.
    extras = {"embargoed_until": embargoed_until, "urgency": urgency, "correction": correction}
    content.update({k: v.isoformat() if isinstance(v, datetime) else v for k, v in extras.items() if v})
    return Draft(
        article_id=article_id,
        content_hash=content_hash(content),
        pubstatus=pubstatus,
        source=source_name,
        source_id=source_id,
        content_type=ex.content_type,
        url=url,
        site=clean_line(ex.site) or None,
        title=title,
        body=body,
        published_at=published_at,
        published_at_has_timezone=has_timezone,
        authors=authors,
        language=language,
        image_caption=caption or None,
        image_credit=credit or None,
        inline_links=links,
        subjects=_unique(clean_line(s) for s in ex.subjects),
        received_at=received_at,
        withdrawal_reason=(clean_line(ex.reason) or None) if withdraw else None,
        published_at_timezone=assumed_zone,
        embargoed_until=embargoed_until,
        urgency=urgency,
        correction=correction,
    )


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(item for item in items if item))


# --- identity ------------------------------------------------------------------------------------


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()[:ID_HASH_CHARS]


def _article_id(
    source: str,
    source_id: str | None,
    url: str | None,
    title: str,
    published_at: datetime | None,
) -> str | None:
    """A stable `[a-z0-9-]` id, prefixed by the rule that made it.

    1. `src-<hash>` of `<source>:<id>` (source as the payload names it, possibly empty): the
       sender's own id survives every edit and URL change;
    2. `url-<hash>` of the canonical URL (tracking parameters and fragments do not matter);
    3. `txt-<hash>` of the case-folded title and publication date. Never the body: a corrected
       body must keep the id so that it becomes version 2 of the same article. A changed title
       with neither id nor URL is, unavoidably, a new article.
    """
    if source_id:
        return f"src-{_digest(f'{source}:{source_id}')}"
    if url:
        return f"url-{_digest(url)}"
    if title:
        date = published_at.isoformat() if published_at else ""
        return f"txt-{_digest(f'{title.casefold()}|{date}')}"
    return None


def content_hash(content: dict[str, Any]) -> str:
    """sha256 hex of the normalised fields a reader sees change: title, body, caption and credit,
    inline links, publication date, authors and pubstatus. Site, URL, subjects, language and
    receipt time are left out: resending with a new tracking URL is not a new version."""
    return hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()


# --- versioning ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LedgerEntry:
    """What ingest remembers per article id, stored as JSON in the ledger hash."""

    version: int
    content_hash: str
    event_id: str
    withdrawn: bool = False
    # The source of the version stored last: a sender bound to sources may not write another
    # source's article by naming its URL or title (those ids are not namespaced by source).
    # None in entries written before it was kept.
    source: str | None = None

    def to_json(self) -> str:
        # Spelt out rather than `dataclasses.asdict`, which deep-copies each value (5 µs an entry).
        fields: dict[str, Any] = {
            "version": self.version,
            "content_hash": self.content_hash,
            "event_id": self.event_id,
            "withdrawn": self.withdrawn,
        }
        if self.source is not None:  # left out as entries were before the source was kept
            fields["source"] = self.source
        return orjson.dumps(fields).decode()

    @classmethod
    def from_json(cls, data: str | bytes) -> Self:
        """Raises ValueError when `data` is not a ledger entry (a corrupt or foreign value)."""
        try:
            raw = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"ledger entry is not JSON: {exc}") from exc
        if not isinstance(raw, dict):
            raise ValueError("ledger entry is not a JSON object")
        version, digest, event_id = raw.get("version"), raw.get("content_hash"), raw.get("event_id")
        withdrawn = raw.get("withdrawn", False)
        source = raw.get("source")
        if (
            not isinstance(version, int)
            or isinstance(version, bool)
            or version < 1
            or not isinstance(digest, str)
            or not isinstance(event_id, str)
            or not isinstance(withdrawn, bool)
            or not isinstance(source, str | None)
        ):
            raise ValueError(f"ledger entry has missing or mistyped fields: {raw!r}")
        return cls(
            version=version, content_hash=digest, event_id=event_id, withdrawn=withdrawn, source=source
        )


@dataclass(frozen=True)
class Accepted:
    article: RawArticle
    ledger: LedgerEntry


@dataclass(frozen=True)
class Duplicate:
    article_id: str
    version: int  # the version already emitted, which this payload repeats
    event_id: str | None = None  # the event that emitted it


def assign_version(
    draft: Draft, previous: LedgerEntry | None, *, event_id: str
) -> Accepted | Duplicate | Rejection:
    """Decide what a draft is, given what the ledger holds for its id.

    New id: version 1 (a withdrawal of an unknown id is rejected). Same content hash: duplicate.
    Changed content: next version, linked to the previous event. A withdrawal of a live article
    is a new version; a second withdrawal is a duplicate; content after a withdrawal is a new,
    usable version even if it equals what was withdrawn.
    """
    withdraw = draft.pubstatus is PubStatus.WITHDRAWN
    if previous is None:
        if withdraw:
            return Rejection(
                Code.UNKNOWN_ARTICLE,
                f"cannot withdraw article '{draft.article_id}': it was never ingested",
            )
        version, previous_event_id = 1, None
    else:
        if withdraw and previous.withdrawn:
            return Duplicate(draft.article_id, previous.version, previous.event_id)
        if not withdraw and not previous.withdrawn and draft.content_hash == previous.content_hash:
            return Duplicate(draft.article_id, previous.version, previous.event_id)
        version, previous_event_id = previous.version + 1, previous.event_id
    # Validated from the draft's own field values (`__dict__`: no copy of nested models), which
    # pydantic-core does faster than `model_construct` sets them without checking; `dict(draft)`
    # (a Python generator over the fields) cost twice as much again.
    article = RawArticle.model_validate(
        {**draft.__dict__, "version": version, "previous_event_id": previous_event_id}
    )
    ledger = LedgerEntry(
        version=version,
        content_hash=draft.content_hash,
        event_id=event_id,
        withdrawn=withdraw,
        source=draft.source,
    )
    return Accepted(article=article, ledger=ledger)
