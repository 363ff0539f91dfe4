"""The three input formats (seed-layout plain text, InboundArticle JSON, HTML pages): content type
detection, file splitting, and extraction of each format into one `Extracted` shape."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import urljoin

import orjson
from pydantic import ValidationError

from services.ingest.normalise import (
    READ_LINE,
    canonical_url,
    clean_line,
    parse_date,
    split_read_lines,
)
from shared.events import InboundArticle

JSON: Final = "application/json"
TEXT: Final = "text/plain"
HTML: Final = "text/html"
SUPPORTED_TYPES: Final = frozenset({JSON, TEXT, HTML})


class Code(StrEnum):
    """Stable rejection codes: they name dead-letter reasons, metrics labels and problem types."""

    NOT_UTF8 = "not_utf8"
    OVERSIZE = "oversize"
    EMPTY = "empty"
    NUL_BYTE = "nul_byte"
    UNKNOWN_CONTENT_TYPE = "unknown_content_type"
    UNPARSEABLE_JSON = "unparseable_json"
    NOT_AN_OBJECT = "not_an_object"
    INVALID_FIELD = "invalid_field"
    UNKNOWN_FIELD = "unknown_field"
    NO_TEXT = "no_text"
    MISSING_TITLE = "missing_title"
    TITLE_TOO_LONG = "title_too_long"
    MISSING_BODY = "missing_body"
    BODY_TOO_SHORT = "body_too_short"
    BODY_TOO_LONG = "body_too_long"
    TOO_COMPLEX = "too_complex"
    UNPARSEABLE_DATE = "unparseable_date"
    FUTURE_DATE = "future_date"
    DATE_TOO_OLD = "date_too_old"
    INVALID_URL = "invalid_url"
    TOO_MANY_LINKS = "too_many_links"
    MISSING_IDENTITY = "missing_identity"
    UNKNOWN_ARTICLE = "unknown_article"


@dataclass(frozen=True)
class FieldError:
    loc: str  # dotted path into the JSON document, e.g. "related.3.url"
    message: str


# Defined here rather than in logic.py so that the format parsers can return it without an import
# cycle; logic.py re-exports it as part of the public API.
@dataclass(frozen=True)
class Rejection:
    code: str  # a `Code` value, stored as a plain str
    reason: str
    fields: tuple[FieldError, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "code", str(self.code))


@dataclass
class Extracted:
    """What a format parser found, before validation and normalisation (which are format-free)."""

    content_type: str
    title: str | None = None
    body: str | None = None  # plain text or HTML fragment; paragraphs separated by blank lines
    site: str | None = None
    url: str | None = None
    published_at: str | None = None
    authors: list[str] = field(default_factory=list)
    language: str | None = None
    image_caption: str | None = None
    image_credit: str | None = None
    links: list[tuple[str, str | None]] = field(default_factory=list)  # (title, url)
    subjects: list[str] = field(default_factory=list)
    source: str | None = None
    source_id: str | None = None
    action: Literal["publish", "withdraw"] = "publish"
    reason: str | None = None
    embargoed_until: str | None = None
    urgency: int | None = None
    priority: int | None = None
    correction: str | None = None


# --- content type --------------------------------------------------------------------------------

_DECLARED: Final = {
    "application/json": JSON,
    "text/json": JSON,
    "application/x-ndjson": JSON,  # one line of NDJSON is one object
    "application/jsonl": JSON,
    "text/plain": TEXT,
    "text/html": HTML,
    "application/xhtml+xml": HTML,
}
# Declared types that say nothing about the payload: sniff instead.
_UNINFORMATIVE: Final = frozenset({"", "application/octet-stream", "binary/octet-stream", "*/*"})
_EXTENSIONS: Final = {
    ".json": JSON,
    ".ndjson": JSON,
    ".jsonl": JSON,
    ".txt": TEXT,
    ".text": TEXT,
    ".html": HTML,
    ".htm": HTML,
    ".xhtml": HTML,
}
_SNIFF_BYTES: Final = 512


def detect_content_type(payload: bytes, declared: str | None, filename: str | None = None) -> str:
    """One of "application/json", "text/plain", "text/html".

    A specific declared type wins (parameters such as `charset` are ignored); a declared type we
    do not support is returned as given, lower-cased, for the caller to reject. Without a useful
    declaration the filename's extension decides, then the first bytes: `{` or `[` is JSON, `<`
    is HTML, anything else plain text.
    """
    media = (declared or "").split(";", 1)[0].strip().lower()
    if media not in _UNINFORMATIVE:
        if media in _DECLARED:
            return _DECLARED[media]
        return JSON if media.endswith("+json") else media
    if filename:
        by_extension = _EXTENSIONS.get(Path(filename).suffix.lower())
        if by_extension:
            return by_extension
    head = payload[:_SNIFF_BYTES].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head[:1] in (b"{", b"["):
        return JSON
    if head[:1] == b"<":
        return HTML
    return TEXT


def split_file(path: Path) -> list[tuple[bytes, str]]:
    """The (payload, content type) items of one file; reads the file, the only I/O in ingest logic.

    `.json` holds an object or an array of objects, `.ndjson`/`.jsonl` one object per line; other
    files are one item. A `.json` file that does not parse is returned whole so that
    `parse_payload` rejects it with the parser's reason. Directories are the caller's business.
    """
    data = path.read_bytes()
    suffix = path.suffix.lower()
    if suffix in (".ndjson", ".jsonl"):
        return [(line.strip(), JSON) for line in data.splitlines() if line.strip()]
    if suffix == ".json":
        try:
            document = orjson.loads(data)
        except orjson.JSONDecodeError:
            return [(data, JSON)]
        if isinstance(document, list):
            return [(orjson.dumps(item), JSON) for item in document]
        return [(data, JSON)]
    return [(data, detect_content_type(data, None, path.name))]


# --- plain text (the seed layout) ----------------------------------------------------------------

# The seed layout: site line, title, date line, image caption ending in a bracketed credit, body
# paragraphs, and `READ: <title>` lines anywhere. Everything but title and body is optional:
# - the date is the first block (of the first three) that parses as a date on its own; one block
#   before it is the title, two are site line and title; a date first is followed by the title;
# - with no date line, a short first block followed by a heading-like second block (no terminal
#   full stop) and more text is read as site line + title; otherwise the first block is the title;
# - `By <names>` blocks in the header are bylines;
# - the block right after the header is the image caption when it ends in `[credit]`.
_HEAD_BLOCKS: Final = 4  # site, title, byline, date: the header never spans more
_DATE_BLOCKS: Final = 3
_SITE_LINE_MAX: Final = 80  # site lines are names or taglines
_HEADING_MAX: Final = 200
_BYLINE: Final = re.compile(r"^By\s+(?P<names>[^.!?\[\]]{2,120})$")
_NAME_SEPARATORS: Final = re.compile(r"\s*(?:,|;|\band\b|&)\s*")


def _byline(block: str) -> list[str] | None:
    match = _BYLINE.match(block)
    if not match:
        return None
    return [name for name in _NAME_SEPARATORS.split(match["names"]) if name]


def _is_heading(block: str) -> bool:
    return len(block) <= _HEADING_MAX and not block.endswith(".")


def _text_blocks(text: str) -> tuple[list[str], list[str]]:
    """(blocks, READ titles): blocks are blank-line-separated paragraphs, or lines when the text
    has no blank line at all; READ lines are taken out wherever they are."""
    text, read_titles = split_read_lines(text.replace("\r\n", "\n").replace("\r", "\n"))
    lines = text.strip().split("\n")
    content = [line for line in lines if line.strip()]
    has_blank_line = len(content) < len(lines)
    if has_blank_line:
        raw_blocks: list[str] = []
        current: list[str] = []
        for line in lines:
            if line.strip():
                current.append(line)
            elif current:
                raw_blocks.append(" ".join(current))
                current = []
        if current:
            raw_blocks.append(" ".join(current))
    else:
        raw_blocks = content
    blocks = [cleaned for cleaned in (clean_line(b) for b in raw_blocks) if cleaned]
    return blocks, read_titles


# A wire-style embargo line anywhere in the text: `EMBARGOED UNTIL 20 September 2023 15:00 BST`.
_EMBARGO_LINE: Final = re.compile(r"^\s*EMBARGOED\s+(?:UNTIL|TO)\s*:?\s*(?P<when>.+?)\s*$", re.IGNORECASE)


def parse_text(text: str) -> Extracted:
    blocks, read_titles = _text_blocks(text)
    embargo = next((m["when"] for m in map(_EMBARGO_LINE.match, blocks) if m), None)
    blocks = [b for b in blocks if not _EMBARGO_LINE.match(b)]
    out = Extracted(
        content_type=TEXT, links=[(title, None) for title in read_titles], embargoed_until=embargo
    )

    header: list[str] = []
    for block in blocks[:_HEAD_BLOCKS]:
        names = _byline(block)
        if names and header:
            out.authors.extend(names)
        else:
            header.append(block)
    rest = header[_DATE_BLOCKS:] + blocks[_HEAD_BLOCKS:]
    header = header[:_DATE_BLOCKS]

    date_at = next((i for i, b in enumerate(header) if parse_date(b) is not None), None)
    if date_at is not None:
        out.published_at = header[date_at]
        before, rest = header[:date_at], header[date_at + 1 :] + rest
        if len(before) == 2:
            out.site, out.title = before
        elif len(before) == 1:
            out.title = before[0]
        elif rest:
            out.title, rest = rest[0], rest[1:]
    else:
        rest = header + rest
        if (
            len(rest) >= 3
            and len(rest[0]) <= _SITE_LINE_MAX
            and _is_heading(rest[0])
            and _is_heading(rest[1])
        ):
            out.site, out.title, rest = rest[0], rest[1], rest[2:]
        elif rest:
            out.title, rest = rest[0], rest[1:]

    if rest:
        names = _byline(rest[0])
        if names:
            out.authors.extend(names)
            rest = rest[1:]
    if rest and rest[0].endswith("]") and "[" in rest[0]:
        out.image_caption, rest = rest[0], rest[1:]
    out.body = "\n\n".join(rest)
    return out


# --- JSON (InboundArticle) -----------------------------------------------------------------------


def _loc(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(document)"


def _validation_rejection(exc: ValidationError) -> Rejection:
    errors = exc.errors(include_url=False)
    fields = tuple(FieldError(_loc(err["loc"]), err["msg"]) for err in errors)
    unknown = [f.loc for f, err in zip(fields, errors, strict=True) if err["type"] == "extra_forbidden"]
    if len(unknown) == len(fields):
        names = ", ".join(f"'{name}'" for name in unknown)
        noun = "field" if len(unknown) == 1 else "fields"
        return Rejection(Code.UNKNOWN_FIELD, f"unknown {noun} {names}: not an InboundArticle field", fields)
    first = fields[0]
    more = f" (and {len(fields) - 1} more)" if len(fields) > 1 else ""
    return Rejection(Code.INVALID_FIELD, f"field '{first.loc}': {first.message}{more}", fields)


def parse_json(text: str) -> Extracted | Rejection:
    try:
        document: Any = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return Rejection(Code.UNPARSEABLE_JSON, f"the payload is not valid JSON: {exc}")
    if not isinstance(document, dict):
        kind = type(document).__name__
        return Rejection(
            Code.NOT_AN_OBJECT, f"a JSON payload must be one InboundArticle object, not a {kind}"
        )
    try:
        inbound = InboundArticle.model_validate(document)
    except ValidationError as exc:
        return _validation_rejection(exc)
    return Extracted(
        content_type=JSON,
        title=inbound.title,
        body=inbound.body,
        site=inbound.site,
        url=inbound.url,
        published_at=inbound.published_at,
        authors=list(inbound.authors),
        language=inbound.language,
        image_caption=inbound.image_caption,
        links=[(link.title, link.url) for link in inbound.related],
        subjects=list(inbound.subjects),
        source=inbound.source,
        source_id=inbound.id,
        action=inbound.action,
        reason=inbound.reason,
        embargoed_until=inbound.embargoed_until,
        urgency=inbound.urgency,
        priority=inbound.priority,
        correction=inbound.correction,
    )


# --- HTML ----------------------------------------------------------------------------------------

# Only dates from structured markup (meta tags, <time>, JSON-LD): the extensive search guesses from
# free text and picks up footer copyright years. Bounds are wide so that our own range checks,
# made against `received_at` rather than the wall clock, decide.
_DATE_PARAMS: Final = {
    "extensive_search": False,
    "original_date": True,
    "outputformat": "%Y-%m-%dT%H:%M:%S%z",
    "min_date": "1800-01-01",
    "max_date": "2999-12-31",
}
# trafilatura's output tree: text blocks, and the containers that hold them.
_TEXT_BLOCKS: Final = frozenset({"p", "head", "item", "quote", "code", "row"})
_SKIPPED: Final = frozenset({"graphic"})


def _element_text(el: Any) -> str:
    parts = [el.text or ""]
    for child in el:
        if child.tag == "lb":
            parts.append(" ")
        elif child.tag not in _SKIPPED:
            parts.append(_element_text(child))
            if child.tag == "cell":
                parts.append(" ")
        parts.append(child.tail or "")
    return "".join(parts)


def _blocks(el: Any) -> list[Any]:
    out: list[Any] = []
    for child in el:
        if child.tag in _SKIPPED:
            continue
        nested = any(d.tag in _TEXT_BLOCKS for d in child.iterdescendants())
        if child.tag in _TEXT_BLOCKS and not nested:
            out.append(child)
        elif nested:
            out.extend(_blocks(child))
        else:
            out.append(child)
    return out


def _read_links(tree: Any, base_url: str) -> list[tuple[str, str | None]]:
    """`READ: <a>title</a>` paragraphs of the article, found in the page's DOM.

    trafilatura's link-density filter drops a short paragraph that is nearly all link text when
    it is the last one, which is exactly what a closing READ line is; so these are looked up
    in the parsed tree (inside <article>, else <main>, else the page) rather than in its output.
    """
    if tree is None:
        return []
    scope = (tree.xpath("//article") or tree.xpath("//main") or [tree])[0]
    links: list[tuple[str, str | None]] = []
    for block in scope.xpath(".//p[not(.//p)] | .//li[not(.//p)]"):
        match = READ_LINE.match(clean_line(block.text_content()))
        if not match:
            continue
        hrefs = block.xpath(".//a/@href")
        url = canonical_url(urljoin(base_url, str(hrefs[0]))) if hrefs else None
        links.append((match["title"], url))
    return links


def parse_html(text: str) -> Extracted | Rejection:
    # Imported here: about 50 MB that a service whose pages go to HTML workers never loads.
    import trafilatura

    try:
        doc = trafilatura.bare_extraction(
            text,
            with_metadata=True,
            include_links=True,
            include_comments=False,
            include_images=False,
            include_tables=True,
            date_extraction_params=_DATE_PARAMS,
        )
        base_url = doc.url if doc is not None and not isinstance(doc, dict) else None
        read_links = _read_links(trafilatura.load_html(text), base_url or "")
    # trafilatura and lxml on hostile markup can raise almost anything; for us that is one more
    # page with no extractable text.
    except Exception as exc:
        return Rejection(Code.NO_TEXT, f"the HTML page could not be parsed ({type(exc).__name__})")
    if doc is None or isinstance(doc, dict) or doc.body is None:
        return Rejection(Code.NO_TEXT, "the HTML page has no extractable article text")

    title = clean_line(doc.title)
    paragraphs: list[str] = []
    links: list[tuple[str, str | None]] = []
    for block in _blocks(doc.body):
        para = clean_line(_element_text(block))
        if not para or (block.tag == "head" and para.casefold() == title.casefold()):
            continue
        if not title and block.tag == "head" and not paragraphs:
            title = para
            continue
        paragraphs.append(para)
        for ref in block.iter("ref"):
            anchor = clean_line(_element_text(ref))
            url = canonical_url(ref.get("target") or "")
            if anchor and url:
                links.append((anchor, url))
    if not paragraphs:
        return Rejection(Code.NO_TEXT, "the HTML page has no extractable article text")
    links.extend(read_links)
    authors = [a for a in (doc.author or "").split(";") if a.strip()]
    return Extracted(
        content_type=HTML,
        title=title,
        body="\n\n".join(paragraphs),
        site=doc.sitename,
        url=doc.url,
        published_at=doc.date,
        authors=authors,
        links=links,
        subjects=[*(doc.categories or []), *(doc.tags or [])],
    )
