"""Property tests: whatever arrives, parse_payload answers with a Draft or a Rejection."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.ingest.logic import Draft, Rejection, parse_payload
from shared.events import InboundArticle, RawArticle

RECEIVED_AT = datetime(2024, 6, 1, tzinfo=UTC)
FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

content_types = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "application/json",
            "text/plain",
            "text/html",
            "text/html; charset=utf-8",
            "application/xhtml+xml",
            "application/octet-stream",
            "image/png",
            "",
        ]
    ),
    st.text(max_size=30),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=60),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
inbound_like = st.dictionaries(
    st.sampled_from(sorted(InboundArticle.model_fields)) | st.text(max_size=8), json_values, max_size=8
)
text_fields = st.lists(
    st.text(alphabet=st.characters(codec="utf-8"), max_size=40)
    | st.sampled_from(["\n", "\n\n", "<b>", "</p>", "&amp;", "READ: ", " [Credit]", "May 5, 2024"]),
    max_size=20,
).map("".join)
HTML_PIECES = (
    *("<html>", "<body>", "<article>", "<p>", "</p>", "<script>", "</script>", "<a href='x'>"),
    *("</a>", "<title>", "</title>", "<h1>", "</h1>", "READ: ", "<br>", "&amp;", "<!--", "-->"),
    "<meta property='article:published_time' content='2024-01-01'>",
    "<?xml version='1.0'?>",
)
html_like = st.lists(st.sampled_from(HTML_PIECES) | st.text(max_size=40), max_size=40).map("".join)


def assert_answers(payload: bytes | str, content_type: str | None) -> None:
    result = parse_payload(payload, content_type, source="prop", received_at=RECEIVED_AT)
    assert isinstance(result, Draft | Rejection)
    if isinstance(result, Draft):
        # Every draft must become a valid RawArticle (usable ones need a title and a body).
        RawArticle.model_validate({**result.model_dump(), "version": 1})
        assert "\x00" not in result.body


@FAST
@given(payload=st.binary(max_size=2000), content_type=content_types)
def test_arbitrary_bytes_never_raise(payload: bytes, content_type: str | None) -> None:
    assert_answers(payload, content_type)


@FAST
@given(payload=text_fields, content_type=content_types)
def test_arbitrary_text_never_raises(payload: str, content_type: str | None) -> None:
    assert_answers(payload, content_type)


@FAST
@given(document=inbound_like | json_values)
def test_arbitrary_json_never_raises(document: Any) -> None:
    # stdlib json: it writes integers beyond 64 bits, which orjson (our parser) must then refuse.
    assert_answers(json.dumps(document), "application/json")


@FAST
@given(
    title=text_fields,
    body=text_fields,
    published_at=st.none() | st.text(max_size=30) | st.datetimes().map(datetime.isoformat),
    url=st.none() | st.text(max_size=40) | st.just("https://a.example/x?utm_source=1"),
    action=st.sampled_from(["publish", "withdraw"]),
)
def test_arbitrary_article_fields_never_raise(
    title: str, body: str, published_at: str | None, url: str | None, action: str
) -> None:
    doc = {"title": title, "body": body, "published_at": published_at, "url": url, "action": action}
    assert_answers(orjson.dumps(doc), "application/json")


@FAST
@given(payload=html_like)
def test_arbitrary_html_never_raises(payload: str) -> None:
    assert_answers(payload, "text/html")
