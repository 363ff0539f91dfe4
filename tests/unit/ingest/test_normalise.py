"""Normalisation helpers: dates, URLs, markup, paragraphs, languages, content types."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.ingest.logic import detect_content_type
from services.ingest.normalise import (
    canonical_url,
    clean_line,
    clean_paragraphs,
    join_broken_paragraphs,
    normalise_language,
    parse_date,
    sanitise_markup,
    split_credit,
)

PLUS_2 = timezone(timedelta(hours=2))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("September 20, 2023 at 3:17 pm", datetime(2023, 9, 20, 15, 17)),
        ("September 20, 2023 at 12:05 am", datetime(2023, 9, 20, 0, 5)),
        ("Sept 20, 2023", datetime(2023, 9, 20)),
        ("Wednesday, 20 September 2023 15:17 GMT", datetime(2023, 9, 20, 15, 17, tzinfo=UTC)),
        ("20th Sep 2023, 15:17 +02:00", datetime(2023, 9, 20, 15, 17, tzinfo=PLUS_2)),
        ("Published on: 20 September 2023", datetime(2023, 9, 20)),
        ("2023-09-20T15:17:00Z", datetime(2023, 9, 20, 15, 17, tzinfo=UTC)),
        ("2023-09-20T15:17:00+0200", datetime(2023, 9, 20, 15, 17, tzinfo=PLUS_2)),
        ("2023-09-20", datetime(2023, 9, 20)),
    ],
)
def test_dates_in_iso_and_english_prose_are_read(text: str, expected: datetime) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Russia-Iran cooperation 'advanced to new level' - Minister",
        "September 31, 2023",
        "September 20, 2023 at 13:17 pm",
        "September 20, 2023 at 3:17 pm IST",  # ambiguous zone: refused rather than guessed
        "yesterday",
        "",
    ],
)
def test_non_dates_are_not_read_as_dates(text: str) -> None:
    assert parse_date(text) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "HTTPS://News.Example.COM:443/a/B?utm_source=x&z=1&fbclid=f&a=2#top",
            "https://news.example.com/a/B?a=2&z=1",
        ),
        ("http://news.example.com", "http://news.example.com/"),
        ("http://news.example.com:8080/a/", "http://news.example.com:8080/a/"),
        ("https://news.example.com/a?gclid=1&UTM_MEDIUM=rss", "https://news.example.com/a"),
    ],
)
def test_urls_are_canonicalised(raw: str, expected: str) -> None:
    assert canonical_url(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "javascript:alert(1)",
        "ftp://news.example/a",
        "file:///etc/passwd",
        "/relative/path",
        "http://",
        "",
        "https://news.example/a b",
        "http://[::1",
    ],
)
def test_non_http_urls_are_refused(raw: str) -> None:
    assert canonical_url(raw) is None


def test_markup_becomes_plain_text_with_paragraphs() -> None:
    text = (
        "<div onclick='x()'><p>One &amp; two</p><p>Three<br>four</p></div>"
        "<script>alert(1)</script><style>p{}</style><iframe src='//evil'></iframe>"
    )
    assert clean_paragraphs(text) == ["One & two", "Three four"]
    assert sanitise_markup("plain text, a < b") == "plain text, a < b"
    assert clean_line("&lt;script&gt;alert(1)&lt;/script&gt;Safe") == "Safe"


def test_invisible_and_control_characters_are_removed_but_joiners_kept() -> None:
    assert clean_line("A\u200bB\ufeffC\u00adD\x07E\u202eF") == "ABCDEF"
    assert clean_line("می\u200cخواهم") == "می\u200cخواهم"  # ZWNJ is Persian spelling


def test_broken_paragraphs_are_rejoined_only_mid_sentence() -> None:
    assert join_broken_paragraphs(["He spoke of", "common goals.", "Then left", "Another day."]) == [
        "He spoke of common goals.",
        "Then left",
        "Another day.",
    ]
    assert join_broken_paragraphs(["He said:", "more"]) == ["He said:", "more"]


def test_caption_credit_is_split_from_a_bracketed_tail() -> None:
    assert split_credit("Ships in port [AGENCY/Name]") == ("Ships in port", "AGENCY/Name")
    assert split_credit("Ships in port") == ("Ships in port", None)


@pytest.mark.parametrize(
    ("tag", "expected"),
    [("en", "en"), ("EN", "en"), ("en-GB", "en"), ("pt_BR", "pt"), ("english", None), ("e", None)],
)
def test_language_tags_reduce_to_iso_639_1(tag: str, expected: str | None) -> None:
    assert normalise_language(tag) == expected


@pytest.mark.parametrize(
    ("payload", "declared", "filename", "expected"),
    [
        (b"{}", "application/json; charset=utf-8", None, "application/json"),
        (b"x", "application/vnd.news+json", None, "application/json"),
        (b"x", "Text/HTML", None, "text/html"),
        (b"x", "text/plain", "a.html", "text/plain"),  # a specific declaration wins
        (b"x", None, "a.ndjson", "application/json"),
        (b"x", "application/octet-stream", "a.htm", "text/html"),
        (b'\xef\xbb\xbf  {"a": 1}', None, None, "application/json"),
        (b"\n<!doctype html><p>x</p>", None, None, "text/html"),
        (b"Title\n\nBody", None, "notes", "text/plain"),
        (b"x", "image/png", None, "image/png"),  # unsupported: returned for the caller to refuse
    ],
)
def test_content_type_detection(
    payload: bytes, declared: str | None, filename: str | None, expected: str
) -> None:
    assert detect_content_type(payload, declared, filename) == expected
