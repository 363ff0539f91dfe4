"""Bad ingest payloads as data, each with the rejection code and a piece of the reason it must get.

Unit tests feed them to `parse_payload`; integration tests can send the same table through the
stream, HTTP and file entry points and expect the same codes. Cases assume the default limits
(`max_bytes=2_000_000`, `max_future=48h`) and any `received_at` from 2000 to 2998.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

RECEIVED_AT = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
DEFAULT_MAX_BYTES = 2_000_000

JSON = "application/json"
TEXT = "text/plain"
HTML = "text/html"


def good_article(**overrides: Any) -> dict[str, Any]:
    """A valid InboundArticle document; an override of `...` removes the field."""
    doc: dict[str, Any] = {
        "id": "bad-input-1",
        "source": "tests",
        "url": "https://news.example/2024/05/harbour",
        "title": "Harbour authority approves new ferry terminal",
        "body": (
            "The harbour authority approved plans for a new ferry terminal on Tuesday.\n\n"
            "Construction is expected to start next spring."
        ),
        "published_at": "2024-05-01T10:00:00Z",
    }
    for key, value in overrides.items():
        if value is ...:
            doc.pop(key, None)
        else:
            doc[key] = value
    return doc


def article_json(**overrides: Any) -> bytes:
    return orjson.dumps(good_article(**overrides))


@dataclass(frozen=True)
class BadInput:
    name: str
    payload: bytes | str
    content_type: str | None
    code: str
    reason_contains: str


BAD_INPUTS: tuple[BadInput, ...] = (
    # --- bytes and encoding ---
    BadInput(
        "latin1_text",
        "Café society\n\nA body long enough to be an article.".encode("latin-1"),
        TEXT,
        "not_utf8",
        "not UTF-8",
    ),
    BadInput("utf16_json", '{"title": "x"}'.encode("utf-16"), JSON, "not_utf8", "not UTF-8"),
    BadInput(
        "lone_surrogate_text", "Title\n\nBody \ud800 with a lone surrogate.", TEXT, "not_utf8", "surrogate"
    ),
    BadInput("oversize", b"x" * (DEFAULT_MAX_BYTES + 1), TEXT, "oversize", "over the limit"),
    BadInput("empty", b"", TEXT, "empty", "empty"),
    BadInput("whitespace_only", b" \n\t\r\n ", None, "empty", "empty"),
    BadInput("nul_byte", b"Title\n\nA body with a \x00 NUL byte inside it.", TEXT, "nul_byte", "NUL"),
    BadInput("unsupported_content_type", b"\x89PNG\r\n", "image/png", "unknown_content_type", "'image/png'"),
    # --- JSON shape ---
    BadInput("truncated_json", b'{"title": "Harbour", ', JSON, "unparseable_json", "not valid JSON"),
    BadInput("json_nan", b'{"title": NaN}', JSON, "unparseable_json", "not valid JSON"),
    BadInput("deeply_nested_json", b"[" * 2000 + b"]" * 2000, JSON, "unparseable_json", "JSON"),
    BadInput("json_array", b'[{"title": "Harbour"}]', JSON, "not_an_object", "not a list"),
    BadInput("json_string", b'"an article"', JSON, "not_an_object", "not a str"),
    BadInput("title_not_a_string", article_json(title=42), JSON, "invalid_field", "field 'title'"),
    BadInput("authors_not_a_list", article_json(authors="Ana"), JSON, "invalid_field", "field 'authors'"),
    BadInput("unknown_action", article_json(action="delete"), JSON, "invalid_field", "field 'action'"),
    BadInput("unknown_field", article_json(colour="blue"), JSON, "unknown_field", "'colour'"),
    BadInput("language_not_iso639_1", article_json(language="english"), JSON, "invalid_field", "'language'"),
    # --- required text ---
    BadInput("missing_title", article_json(title=...), JSON, "missing_title", "field 'title'"),
    BadInput("blank_title", article_json(title="  \u200b "), JSON, "missing_title", "field 'title'"),
    BadInput(
        "script_only_title",
        article_json(title="<script>alert(1)</script>"),
        JSON,
        "missing_title",
        "field 'title'",
    ),
    BadInput("missing_body", article_json(body=...), JSON, "missing_body", "field 'body'"),
    BadInput("body_too_short", article_json(body="Too short."), JSON, "body_too_short", "too short"),
    BadInput(
        "body_too_long",
        article_json(body="The harbour approved a ferry terminal. " * 6_000),
        JSON,
        "body_too_long",
        "over the limit of 200000",
    ),
    BadInput("title_too_long", article_json(title="x" * 501), JSON, "title_too_long", "501 characters"),
    BadInput("text_headline_only", b"Only a headline here\n", TEXT, "missing_body", "field 'body'"),
    BadInput(
        "html_without_text",
        b"<html><body><script>alert(1)</script></body></html>",
        HTML,
        "no_text",
        "no extractable",
    ),
    # --- dates ---
    BadInput(
        "unparseable_date",
        article_json(published_at="next Tuesday-ish"),
        JSON,
        "unparseable_date",
        "'published_at'",
    ),
    BadInput(
        "far_future_date",
        article_json(published_at="2999-01-01T00:00:00Z"),
        JSON,
        "future_date",
        "'published_at'",
    ),
    BadInput("date_before_1900", article_json(published_at="1850-06-01"), JSON, "date_too_old", "1900"),
    # --- newsroom fields ---
    BadInput(
        "unparseable_embargo",
        article_json(embargoed_until="soon-ish"),
        JSON,
        "unparseable_date",
        "'embargoed_until'",
    ),
    BadInput(
        "zoneless_embargo_without_source_zone",
        article_json(embargoed_until="2024-06-02 09:00"),
        JSON,
        "invalid_field",
        "no time zone",
    ),
    BadInput(
        "embargo_centuries_ahead",
        article_json(embargoed_until="2999-01-01T00:00:00Z"),
        JSON,
        "future_date",
        "31 days after receipt",
    ),
    BadInput(
        "embargo_not_a_string", article_json(embargoed_until=5), JSON, "invalid_field", "'embargoed_until'"
    ),
    BadInput("urgency_zero", article_json(urgency=0), JSON, "invalid_field", "'urgency'"),
    BadInput("urgency_ten", article_json(urgency=10), JSON, "invalid_field", "'urgency'"),
    BadInput("urgency_a_word", article_json(urgency="high"), JSON, "invalid_field", "'urgency'"),
    BadInput("urgency_a_boolean", article_json(urgency=True), JSON, "invalid_field", "'urgency'"),
    BadInput("priority_out_of_range", article_json(priority=42), JSON, "invalid_field", "'priority'"),
    BadInput("correction_not_text", article_json(correction=7), JSON, "invalid_field", "'correction'"),
    BadInput("correction_essay", article_json(correction="x" * 2_001), JSON, "invalid_field", "'correction'"),
    # --- URLs and links ---
    BadInput("javascript_url", article_json(url="javascript:alert(1)"), JSON, "invalid_url", "field 'url'"),
    BadInput("ftp_url", article_json(url="ftp://news.example/a"), JSON, "invalid_url", "scheme: ftp"),
    BadInput(
        "related_file_url",
        article_json(related=[{"title": "Secrets", "url": "file:///etc/passwd"}]),
        JSON,
        "invalid_url",
        "'related.0.url'",
    ),
    BadInput(
        "too_many_links",
        article_json(related=[{"title": f"Story {i}"} for i in range(101)]),
        JSON,
        "too_many_links",
        "101 links",
    ),
    # --- withdrawals ---
    BadInput(
        "withdrawal_naming_nothing",
        orjson.dumps({"action": "withdraw", "reason": "legal"}),
        JSON,
        "missing_identity",
        "'id'",
    ),
)
