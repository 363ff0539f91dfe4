"""Text, date, URL and language normalisation shared by every input format (pure functions)."""

from __future__ import annotations

import html
import re
import unicodedata
from datetime import UTC, datetime, timedelta, timezone
from typing import Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import nh3
import py3langid

# --- plain text ----------------------------------------------------------------------------------

# Block-level tags are kept through the first sanitising pass only so that they can become
# paragraph breaks; every attribute is dropped, so nothing like `onclick` can survive.
_BLOCK_TAGS: Final = frozenset(
    {"p", "div", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "tr", "table"}
)
_BREAK_TAG: Final = "br"
# Text is run through nh3 only when it looks like markup: `<` before a letter, `/` or `!`, or an
# entity. The price is that a bare `x<y` in prose is read as a tag; safety wins over fidelity.
_LOOKS_LIKE_MARKUP: Final = re.compile(r"<[A-Za-z!/?]|&(?:#\d+|#x[0-9A-Fa-f]+|[A-Za-z][A-Za-z0-9]*);")
# Sanitising and unescaping alternate until nothing changes; escaped markup (`&lt;script&gt;`)
# needs two rounds. Each round only removes text, so this bound is never the reason to stop.
_MAX_SANITISE_ROUNDS: Final = 5

# Invisible characters we drop: zero-width space, word joiner, BOM, soft hyphen, direction marks
# and bidi embeddings/isolates. ZWNJ/ZWJ (U+200C/U+200D) stay: Persian and Indic spelling and
# emoji sequences need them.
_INVISIBLE: Final = frozenset(
    "\u200b\u2060\ufeff\u00ad\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
# Besides "\r\n" and "\r", which `_strip_invisible` replaces first.
_LINE_BREAKS: Final = {"\u2028": "\n", "\u2029": "\n\n", "\f": "\n\n"}
_WHITESPACE: Final = re.compile(r"\s+")
_BLANK_LINE: Final = re.compile(r"\n[^\S\n]*\n")
# What can end a complete paragraph: sentence punctuation and closing quotes.
_TERMINAL: Final = tuple(".!?…:;\"”’'»")

READ_LINE: Final = re.compile(r"^READ(?: MORE| ALSO)?\s*:\s*(?P<title>\S.*)$")
_CREDIT: Final = re.compile(r"^(?P<caption>.*\S)\s*\[(?P<credit>[^\[\]]{2,200})\]$", re.DOTALL)


def sanitise_markup(text: str) -> str:
    """Turn any HTML in `text` into plain text: tags and their attributes go, scripts and styles
    go with their content, block elements become paragraph breaks, entities are decoded."""
    # Markup needs a `<` or an `&`: two C substring scans rule it out for most article bodies,
    # which the regex (an alternation, tried at every position) costs ten times as much to do.
    if "<" not in text and "&" not in text:
        return text
    for _ in range(_MAX_SANITISE_ROUNDS):
        if not _LOOKS_LIKE_MARKUP.search(text):
            return text
        cleaned = nh3.clean(text, tags=set(_BLOCK_TAGS | {_BREAK_TAG}), attributes={})
        cleaned = cleaned.replace(f"<{_BREAK_TAG}>", "\n")
        for tag in _BLOCK_TAGS:
            cleaned = cleaned.replace(f"<{tag}>", "\n\n").replace(f"</{tag}>", "\n\n")
        unescaped = html.unescape(cleaned)
        if unescaped == text:
            return text
        text = unescaped
    # Still changing after the bound: return the last sanitised form with nothing unescaped.
    return nh3.clean(text, tags=set(), attributes={})


# What `_strip_invisible` deletes: the C0/C1 controls (Unicode category Cc: U+0000-001F,
# U+007F-009F) but tab (which becomes a space) and newline, and _INVISIBLE.
_STRIPPED: Final = frozenset(
    {*map(chr, range(0x00, 0x20)), *map(chr, range(0x7F, 0xA0)), *_INVISIBLE} - {"\t", "\n"}
)
# ASCII text (most copy): one `bytes.translate`, a plain 256-entry table lookup.
_ASCII_TAB_TO_SPACE: Final = bytes.maketrans(b"\t", b" ")
_ASCII_STRIPPED: Final = bytes(sorted(ord(ch) for ch in _STRIPPED if ch.isascii()))
# Any other text: one regex substitution. `str.translate` with a dict was the obvious tool, but
# CPython looks every character of a non-ASCII string up in the dict: ~230 µs per 3,500-character
# body against ~12 µs for this.
_STRIPPED_RE: Final = re.compile(f"[{re.escape(''.join(sorted(_STRIPPED)))}]")


def _strip_invisible(text: str) -> str:
    """Line breaks as `\\n`, tabs as spaces, controls and invisible characters deleted."""
    # "\r\n" and "\r" need a "\r": one fast scan rules both out (a two-character search is not).
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    for old, new in _LINE_BREAKS.items():
        if old in text:
            text = text.replace(old, new)
    if text.isascii():
        return text.encode("ascii").translate(_ASCII_TAB_TO_SPACE, _ASCII_STRIPPED).decode("ascii")
    return _STRIPPED_RE.sub("", text.replace("\t", " "))


def _plain(text: str) -> str:
    return _strip_invisible(unicodedata.normalize("NFC", sanitise_markup(text)))


def _collapse(text: str) -> str:
    """Runs of whitespace in `_plain` output as one space, none at the ends. `str.split()` splits
    at exactly the characters `\\s` matches in a str pattern (both are `str.isspace`), at a
    fraction of the cost of `re.sub` on article-length text."""
    # Most paragraphs are already collapsed, and checking is cheaper than splitting into words
    # and joining them. Its only whitespace is single spaces when: ASCII `_plain` output has no
    # newline (its other ASCII whitespace characters are controls, deleted); other text is
    # printable (every whitespace character but the ASCII space is Unicode Cc, Zs, Zl or Zp).
    single_spaced = "\n" not in text if text.isascii() else text.isprintable()
    if single_spaced and "  " not in text and text[:1] != " " and text[-1:] != " ":
        return text
    return " ".join(text.split())


def clean_line(text: str | None) -> str:
    """One line of plain text: sanitised, NFC, invisible characters dropped, whitespace collapsed."""
    if not text:
        return ""
    return _collapse(_plain(text))


def clean_paragraphs(text: str | None) -> list[str]:
    """Paragraphs of plain text, split at blank lines, each collapsed to one line."""
    if not text:
        return []
    blocks = _BLANK_LINE.split(_plain(text))
    return [p for p in map(_collapse, blocks) if p]


def join_broken_paragraphs(paragraphs: list[str]) -> list[str]:
    """Rejoin a paragraph split mid-sentence: one that ends without terminal punctuation,
    followed by one that starts in lower case (`...in dealing with` / `common challenges, ...`)."""
    out: list[str] = []
    for para in paragraphs:
        if out and not out[-1].endswith(_TERMINAL) and para[:1].islower():
            out[-1] = f"{out[-1]} {para}"
        else:
            out.append(para)
    return out


def split_read_lines(text: str) -> tuple[str, list[str]]:
    """Take `READ: <title>` lines (inline related-article links) out of plain text, wherever
    they stand; each leaves a blank line so the paragraphs around it stay apart."""
    # READ_LINE is case-sensitive: a line that is one contains "READ" verbatim.
    if "READ" not in text:
        return text, []
    kept: list[str] = []
    titles: list[str] = []
    for line in text.split("\n"):
        stripped = line.strip()
        # Only lines that start with READ can be one: skip the regex work for the others.
        match = READ_LINE.match(_WHITESPACE.sub(" ", stripped)) if stripped.startswith("READ") else None
        if match:
            titles.append(match["title"].strip())
            kept.append("")
        else:
            kept.append(line)
    return "\n".join(kept), titles


def clean_body(text: str | None) -> tuple[list[str], list[str]]:
    """(paragraphs, READ titles) of a body: sanitised first, so READ lines inside markup count."""
    if not text:
        return [], []
    plain, titles = split_read_lines(_plain(text))
    # `plain` is already sanitised: split it directly rather than through clean_paragraphs again.
    blocks = _BLANK_LINE.split(plain)
    return [p for p in map(_collapse, blocks) if p], titles


def split_credit(caption: str) -> tuple[str, str | None]:
    """`Caption text [AGENCY/Photographer]` -> (caption, credit); no bracketed tail -> no credit."""
    match = _CREDIT.match(caption)
    if not match:
        return caption, None
    return match["caption"].strip(), match["credit"].strip()


# --- URLs ----------------------------------------------------------------------------------------

_SCHEMES: Final = frozenset({"http", "https"})
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
_TRACKING_PARAMS: Final = frozenset(
    {"fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "igshid", "mc_cid"}
    | {"mc_eid", "_ga", "_gl"}
)
MAX_URL_CHARS: Final = 2048  # longer than any real article URL; browsers start failing past it
# A URL already in canonical form but for perhaps its empty path: http(s), lower-case host, no
# user, port, query or fragment, printable ASCII. Most article URLs are; one match is a quarter
# of what splitting and reassembling them costs.
_PLAIN_URL: Final = re.compile(r"https?://[a-z0-9._-]+(?P<path>/[!-\"$->@-~]*)?")


def canonical_url(raw: str) -> str | None:
    """The canonical form of an http(s) URL, or None when it is not one.

    Scheme and host are lower-cased, default ports and the fragment dropped, tracking parameters
    (`utm_*`, `fbclid`, `gclid`, ...) removed and the rest sorted. An empty path becomes `/`; no
    other trailing-slash change, since `/a` and `/a/` may be different pages.
    """
    raw = raw.strip()
    if not raw or len(raw) > MAX_URL_CHARS or _WHITESPACE.search(raw):
        return None
    plain = _PLAIN_URL.fullmatch(raw)
    if plain:
        return raw if plain["path"] else f"{raw}/"
    return _reassembled_url(raw)


def _reassembled_url(raw: str) -> str | None:
    """`canonical_url` of a stripped URL of at most MAX_URL_CHARS without whitespace, by parts."""
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:  # malformed IPv6 literal or port
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in _SCHEMES or not host:
        return None
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"
    if parts.username is not None:
        userinfo = parts.username + (f":{parts.password}" if parts.password is not None else "")
        netloc = f"{userinfo}@{netloc}"
    query = sorted(
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not k.lower().startswith("utm_") and k.lower() not in _TRACKING_PARAMS
    )
    return urlunsplit((scheme, netloc, parts.path or "/", urlencode(query), ""))


def url_scheme(raw: str) -> str:
    try:
        return urlsplit(raw.strip()).scheme.lower()
    except ValueError:
        return ""


# --- dates ---------------------------------------------------------------------------------------

_MONTHS: Final = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
# Zone abbreviations we accept in prose dates; the rest are ambiguous (IST, CST) and so refused.
_ZONE_NAMES: Final = {
    "utc": 0,
    "gmt": 0,
    "z": 0,
    "bst": 1,
    "cet": 1,
    "cest": 2,
    "eet": 2,
    "eest": 3,
    "msk": 3,
    "est": -5,
    "edt": -4,
    "pst": -8,
    "pdt": -7,
}
_TIME: Final = (
    r"(?:\s*(?:,|at|-|–)?\s*(?P<hour>\d{1,2})[:.](?P<minute>\d{2})(?::(?P<second>\d{2}))?"
    r"\s*(?P<ampm>[ap]\.?\s?m\.?)?)?"
    r"(?:\s*(?P<zone>[A-Za-z]{1,4}|(?:UTC|GMT)?\s?[+-]\d{1,2}(?::?\d{2})?))?"
)
_PREFIX: Final = r"(?:(?:published|posted|updated|last updated)(?: on)?:?\s*)?"
_WEEKDAY: Final = r"(?:(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?,?\s+)?"
_MONTH_FIRST: Final = re.compile(
    rf"^{_PREFIX}{_WEEKDAY}(?P<month>[a-z]{{3,9}})\.?\s+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?,?"
    rf"\s+(?P<year>\d{{4}}){_TIME}$",
    re.IGNORECASE,
)
_DAY_FIRST: Final = re.compile(
    rf"^{_PREFIX}{_WEEKDAY}(?P<day>\d{{1,2}})(?:st|nd|rd|th)?\s+(?P<month>[a-z]{{3,9}})\.?,?"
    rf"\s+(?P<year>\d{{4}}){_TIME}$",
    re.IGNORECASE,
)
_OFFSET: Final = re.compile(r"^(?:utc|gmt)?\s?(?P<sign>[+-])(?P<h>\d{1,2}):?(?P<m>\d{2})?$", re.I)
MAX_DATE_CHARS: Final = 80  # a date line is short; longer text is prose that mentions a date


def _zone(raw: str) -> timezone | None:
    """The tzinfo a zone name or offset stands for; None when we do not understand it."""
    named = _ZONE_NAMES.get(raw.lower())
    if named is not None:
        return timezone(timedelta(hours=named))
    match = _OFFSET.match(raw)
    if not match:
        return None
    minutes = int(match["h"]) * 60 + int(match["m"] or 0)
    if minutes > 14 * 60:
        return None
    return timezone(timedelta(minutes=-minutes if match["sign"] == "-" else minutes))


def _prose_date(text: str) -> datetime | None:
    match = _MONTH_FIRST.match(text) or _DAY_FIRST.match(text)
    if not match:
        return None
    month = _MONTHS.get(match["month"].lower())
    zone = _zone(match["zone"]) if match["zone"] else None
    if month is None or (match["zone"] and zone is None):
        return None
    hour = int(match["hour"] or 0)
    if match["ampm"]:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if match["ampm"][0].lower() == "p" else 0)
    try:
        return datetime(
            int(match["year"]),
            month,
            int(match["day"]),
            hour,
            int(match["minute"] or 0),
            int(match["second"] or 0),
            tzinfo=zone,
        )
    except ValueError:  # 31 February, hour 25
        return None


def parse_date(raw: str) -> datetime | None:
    """ISO 8601, or an English prose date (`September 20, 2023 at 3:17 pm`, `20 Sept 2023 15:17
    GMT`). Aware when the text names a zone, naive when it does not; None when unparseable."""
    text = raw.strip()
    if not text or len(text) > MAX_DATE_CHARS:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    return _prose_date(text)


def to_utc(value: datetime) -> datetime:
    """Aware datetimes converted to UTC; naive ones returned unchanged (their zone is unknown)."""
    return value.astimezone(UTC) if value.tzinfo is not None else value


def as_comparable(value: datetime) -> datetime:
    """For range checks only: a naive datetime is read as UTC (at most 14 h off, far inside any
    tolerance we apply)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


# --- language ------------------------------------------------------------------------------------

_LANGUAGE_TAG: Final = re.compile(r"^(?P<primary>[a-z]{2})(?:[-_][a-z0-9]{1,8})*$", re.IGNORECASE)
_LANGID_SAMPLE_CHARS: Final = 400  # 216/216 right on the dev set (600: 215), 0.12 ms per article


def normalise_language(tag: str) -> str | None:
    """`EN`, `en-GB`, `en_gb` -> `en`; None when not an ISO 639-1 based tag."""
    match = _LANGUAGE_TAG.match(tag.strip())
    return match["primary"].lower() if match else None


def detect_language(text: str) -> str | None:
    sample = text[:_LANGID_SAMPLE_CHARS]
    if not sample.strip():
        return None
    code, _score = py3langid.classify(sample)
    return str(code)
