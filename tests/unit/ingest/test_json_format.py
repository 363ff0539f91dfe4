"""InboundArticle JSON: validation, normalisation and identity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from services.ingest.logic import Draft, Rejection, parse_payload
from shared.events import PubStatus
from tests.utils.bad_inputs import RECEIVED_AT, article_json, good_article


def parse(payload: bytes | str, **kwargs: Any) -> Draft | Rejection:
    return parse_payload(payload, "application/json", source="http", received_at=RECEIVED_AT, **kwargs)


def parse_ok(**overrides: Any) -> Draft:
    result = parse(article_json(**overrides))
    assert isinstance(result, Draft), result
    return result


def test_json_article_fields_are_carried_and_normalised() -> None:
    draft = parse_ok(
        title="  Harbour  authority\napproves terminal ",
        authors=["Ana Ribeiro", " Ana  Ribeiro", "", "Pedro Almeida"],
        subjects=["maritime", "maritime", "transport"],
        site="Harbour Wire",
        image_caption="Ferries in the port of Lisbon [HARBOUR WIRE/Tiago Mendes]",
        language="EN-gb",
    )
    assert draft.title == "Harbour authority approves terminal"
    assert draft.authors == ["Ana Ribeiro", "Pedro Almeida"]
    assert draft.subjects == ["maritime", "transport"]
    assert draft.site == "Harbour Wire"
    assert (draft.image_caption, draft.image_credit) == (
        "Ferries in the port of Lisbon",
        "HARBOUR WIRE/Tiago Mendes",
    )
    assert draft.language == "en"
    assert draft.source == "tests"  # the payload names its sender; the entry point is a fallback
    assert draft.source_id == "bad-input-1"
    assert draft.content_type == "application/json"
    assert draft.published_at == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    assert draft.published_at_has_timezone is True


def test_json_offset_dates_are_converted_to_utc_and_zoneless_ones_kept() -> None:
    assert parse_ok(published_at="2024-05-01T12:00:00+02:00").published_at == datetime(
        2024, 5, 1, 10, 0, tzinfo=UTC
    )
    naive = parse_ok(published_at="2024-05-01T12:00:00")
    assert naive.published_at == datetime(2024, 5, 1, 12, 0)
    assert naive.published_at_has_timezone is False


def test_json_language_is_detected_when_absent() -> None:
    draft = parse_ok(
        title="Le port de Lisbonne signe un accord",
        body="Les ministres ont signé mardi un accord sur les émissions des navires à quai.",
    )
    assert draft.language == "fr"


def test_json_html_in_text_fields_becomes_plain_text() -> None:
    draft = parse_ok(
        title='<a href="javascript:alert(1)" onclick="steal()">Harbour</a> &amp; ferries',
        body=(
            "<p>First paragraph with <b onmouseover='x()'>bold</b> text.</p>"
            "<script>alert('xss')</script><p>Second&nbsp;paragraph &lt;script&gt;evil()"
            "&lt;/script&gt;here.</p>"
        ),
    )
    assert draft.title == "Harbour & ferries"
    assert draft.body == "First paragraph with bold text.\n\nSecond paragraph here."
    dumped = draft.model_dump_json()
    for bad in ("<script", "onclick", "onmouseover", "alert", "evil", "javascript:"):
        assert bad not in dumped


def test_json_url_is_canonical_and_tracking_free() -> None:
    draft = parse_ok(url="HTTPS://News.Example:443/2024/05/harbour?utm_source=x&b=2&a=1&gclid=z#top")
    assert draft.url == "https://news.example/2024/05/harbour?a=1&b=2"


def test_json_identity_prefers_source_id_then_url_then_title_and_date() -> None:
    by_id = parse_ok()
    assert by_id.article_id.startswith("src-")
    assert parse_ok(url="https://news.example/moved").article_id == by_id.article_id
    assert parse_ok(source="other").article_id != by_id.article_id

    by_url = parse_ok(id=...)
    assert by_url.article_id.startswith("url-")
    assert parse_ok(id=..., url="https://NEWS.example/2024/05/harbour?utm_medium=rss").article_id == (
        by_url.article_id
    )

    by_text = parse_ok(id=..., url=...)
    assert by_text.article_id.startswith("txt-")
    assert parse_ok(id=..., url=..., body="A corrected body, long enough.").article_id == (by_text.article_id)
    assert parse_ok(id=..., url=..., published_at="2024-05-02").article_id != by_text.article_id
    for draft in (by_id, by_url, by_text):
        assert set(draft.article_id) <= set("abcdefghijklmnopqrstuvwxyz0123456789-")


def test_json_source_falls_back_to_the_entry_point_without_changing_the_id() -> None:
    payload = article_json(source=...)
    by_http = parse(payload)
    by_file = parse_payload(payload, None, source="cli:a.json", received_at=RECEIVED_AT)
    assert isinstance(by_http, Draft)
    assert isinstance(by_file, Draft)
    assert (by_http.source, by_file.source) == ("http", "cli:a.json")
    assert by_http.article_id == by_file.article_id


def test_json_content_hash_ignores_tracking_parameters_and_receipt_time() -> None:
    first = parse_ok()
    later = parse_payload(
        article_json(url="https://news.example/2024/05/harbour?utm_campaign=autumn"),
        "application/json",
        source="http",
        received_at=datetime(2024, 6, 2, tzinfo=UTC),
    )
    assert isinstance(later, Draft)
    assert later.content_hash == first.content_hash
    assert len(first.content_hash) == 64


def test_json_content_hash_changes_with_what_a_reader_sees() -> None:
    base = parse_ok().content_hash
    changes: list[dict[str, Any]] = [
        {"title": "Another headline entirely"},
        {"body": "The harbour authority rejected the plans on Tuesday."},
        {"published_at": "2024-05-02T10:00:00Z"},
        {"authors": ["Ana Ribeiro"]},
        {"image_caption": "A ferry"},
        {"related": [{"title": "Earlier story"}]},
    ]
    assert len({parse_ok(**change).content_hash for change in changes} | {base}) == 7


def test_json_read_lines_in_the_body_become_inline_links() -> None:
    draft = parse_ok(
        body="First paragraph of the story.\n\nREAD: Earlier story\n\nSecond paragraph.",
        related=[{"title": "Earlier story", "url": "https://news.example/earlier"}],
    )
    assert draft.body == "First paragraph of the story.\n\nSecond paragraph."
    assert [(link.title, link.url) for link in draft.inline_links] == [
        ("Earlier story", "https://news.example/earlier")
    ]


def test_json_withdrawal_needs_no_title_or_body() -> None:
    result = parse(orjson.dumps({"id": "a-1", "action": "withdraw", "reason": " Legal <b>request</b>"}))
    assert isinstance(result, Draft)
    assert result.pubstatus is PubStatus.WITHDRAWN
    assert (result.title, result.body) == ("", "")
    assert result.withdrawal_reason == "Legal request"
    assert result.article_id == parse_ok(id="a-1", source=...).article_id


def test_json_field_errors_are_listed_for_problem_details() -> None:
    result = parse(orjson.dumps(good_article(title=1, authors=[2], colour="red")))
    assert isinstance(result, Rejection)
    assert result.code == "invalid_field"
    assert {error.loc for error in result.fields} == {"title", "authors.0", "colour"}
    assert "(and 2 more)" in result.reason


def test_json_max_bytes_and_max_future_are_configurable() -> None:
    small = parse(article_json(), max_bytes=100)
    assert isinstance(small, Rejection)
    assert small.code == "oversize"
    tomorrow = article_json(published_at="2024-06-02T12:00:00Z")
    assert isinstance(parse(tomorrow), Draft)
    strict = parse(tomorrow, max_future=timedelta(hours=1))
    assert isinstance(strict, Rejection)
    assert strict.code == "future_date"


def test_json_read_lines_between_body_lines_or_in_markup_are_found() -> None:
    draft = parse_ok(
        body="First paragraph of the story.\nREAD: Earlier story\n<p>READ: <a href='/x'>Other</a></p>"
        "<p>Second paragraph.</p>"
    )
    assert draft.body == "First paragraph of the story.\n\nSecond paragraph."
    assert [link.title for link in draft.inline_links] == ["Earlier story", "Other"]
