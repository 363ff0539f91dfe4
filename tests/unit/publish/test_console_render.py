"""The console's pure renderers: escaping hostile text, marks at the right offsets, overlaps."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html.parser import HTMLParser

from services.publish.console import Access, csrf_token, parse_form, safe_next
from services.publish.console_render import (
    DeadLetterRow,
    MarkSpan,
    StageSeries,
    Viewer,
    article_page,
    body_html,
    choose_spans,
    feed_item,
    feed_page,
    health_page,
    map_svg,
    marked_text,
    mention_spans,
    paragraphs,
    project,
    sparkline,
)
from shared.events import EntityType, Mention
from tests.utils.published import article, person, place, published_event, tagged_article

VIEWER = Viewer(signed_in=True, editor=True, csrf="c5rf", auth_required=True)
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>&amp;'


class _Tags(HTMLParser):
    """Collects start tags and checks every element is closed in order (no crossing marks)."""

    def __init__(self) -> None:
        super().__init__()
        self.starts: list[tuple[str, dict[str, str | None]]] = []
        self.stack: list[str] = []
        self.crossed = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.starts.append((tag, dict(attrs)))
        if tag not in ("br", "input", "meta", "link", "img"):
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.crossed = True
            return
        self.stack.pop()


def _parse(html: str) -> _Tags:
    parser = _Tags()
    parser.feed(html)
    parser.close()
    return parser


def _span(start: int, end: int, kind: EntityType = EntityType.PLACE, eid: str = "e1") -> MarkSpan:
    return MarkSpan(start, end, kind, eid, "name")


def test_marked_text_wraps_each_span_at_its_offsets_and_keeps_the_text() -> None:
    text = "Shoygu met Ashtiani in Tehran."
    spans = [_span(0, 6, EntityType.PERSON, "eA"), _span(23, 29, EntityType.PLACE, "eB")]
    html = marked_text(text, spans)
    marks = re.findall(r'<mark[^>]*data-entity-type="(\w+)" data-entity-id="(\w+)"[^>]*>([^<]*)</mark>', html)
    assert marks == [("person", "eA", "Shoygu"), ("place", "eB", "Tehran")]
    assert re.sub(r"<[^>]+>", "", html) == text


def test_marked_text_escapes_hostile_text_inside_and_outside_marks() -> None:
    text = f"{HOSTILE} Tehran {HOSTILE}"
    start = text.index("Tehran")
    html = marked_text(text, [_span(start, start + 6)])
    assert "<script" not in html
    assert "<img" not in html
    assert "&lt;script&gt;" in html
    assert "&amp;amp;" in html
    tags = {tag for tag, _ in _parse(html).starts}
    assert tags <= {"a", "mark"}


def test_overlapping_mentions_never_nest_or_cross() -> None:
    text = "New York City Council"
    spans = [
        _span(0, 8, EntityType.PLACE, "ny"),  # New York
        _span(0, 13, EntityType.PLACE, "nyc"),  # New York City
        _span(4, 21, EntityType.ORGANISATION, "council"),  # York City Council (crosses both)
        _span(9, 13, EntityType.PLACE, "city"),  # City (inside NYC)
    ]
    chosen = choose_spans(spans)
    assert [(s.start, s.end) for s in chosen] == [(0, 13)]
    html = marked_text(text, spans)
    parsed = _parse(html)
    assert not parsed.crossed
    assert not parsed.stack
    assert [t for t, _ in parsed.starts].count("mark") == 1
    assert re.sub(r"<[^>]+>", "", html) == text


def test_adjacent_mentions_are_both_marked() -> None:
    text = "Russia-Iran"
    html = marked_text(text, [_span(0, 6, eid="ru"), _span(7, 11, eid="ir")])
    assert html.count("<mark") == 2


def test_mentions_whose_offsets_do_not_hold_their_text_are_not_marked() -> None:
    found = place("Tehran").model_copy(
        update={
            "mentions": [
                Mention(text="Tehran", start=0, end=6),  # wrong: the body has "In " first
                Mention(text="Tehran", start=3, end=9),
                Mention(text="Tehran", start=50, end=56),  # past the end
            ]
        }
    )
    spans = mention_spans([found], "body", "In Tehran today")
    assert [(s.start, s.end) for s in spans] == [(3, 9)]


def test_caption_mentions_are_kept_apart_from_body_mentions() -> None:
    putin = person("Vladimir Putin").model_copy(
        update={"mentions": [Mention(text="Vladimir Putin", start=0, end=14, field="image_caption")]}
    )
    assert mention_spans([putin], "body", "Vladimir Putin spoke") == []
    assert len(mention_spans([putin], "image_caption", "Vladimir Putin spoke")) == 1


def test_body_is_split_into_paragraphs_with_marks_at_their_whole_body_offsets() -> None:
    body = "First paragraph.\n\nThen Tehran said\nso.\n\n  \n\nLast."
    start = body.index("Tehran")
    assert [p for _, p in paragraphs(body)] == ["First paragraph.", "Then Tehran said\nso.", "Last."]
    html = body_html(body, [_span(start, start + 6)])
    assert html.count("<p>") == 3
    assert ">Tehran</mark>" in html
    assert "said<br>so." in html


def test_feed_item_is_an_article_element_with_chips_and_escaped_headline() -> None:
    event = article("src-<1>", title=f"Talks {HOSTILE}", entities=[person("Sergey Shoygu")])
    html = feed_item(event)
    parsed = _parse(html)
    tag, attrs = parsed.starts[0]
    assert tag == "article"
    assert attrs["data-article-id"] == "src-<1>"
    assert "<script" not in html
    assert "&lt;script&gt;" in html
    assert "Sergey Shoygu" in html
    assert "chip-person" in html
    assert "<del>" not in html


def test_a_withdrawn_article_is_struck_through_in_the_feed() -> None:
    event = published_event(tagged_article("src-9", withdrawn=True))
    html = feed_item(event)
    assert "<del>" in html
    assert "withdrawn" in html


def test_feed_chips_link_to_entity_views_by_registry_id() -> None:
    tehran = place("Tehran").model_copy(update={"entity_id": "e01abc"})
    html = feed_item(article(entities=[tehran]))
    assert 'href="/console/entities/e01abc"' in html


def test_feed_page_offers_the_next_page_and_live_updates_only_on_the_first() -> None:
    first = feed_page([], next_cursor="abc", live=True, viewer=VIEWER)
    assert 'data-events="/console/events"' in first
    assert "cursor=abc" in first
    older = feed_page([], next_cursor=None, live=False, viewer=VIEWER)
    assert "data-events" not in older


def test_article_page_marks_mentions_and_shows_ninjs_enrichment_and_history() -> None:
    tagged = tagged_article(
        title="Shoygu in Tehran",
        body=f"Sergey Shoygu arrived in Tehran. {HOSTILE}",
        entities=[person("Sergey Shoygu"), place("Tehran")],
    )
    event = published_event(tagged)
    html = article_page(event, tagged, [], VIEWER)
    assert re.search(r'<mark[^>]*data-entity-type="place"[^>]*>Tehran</mark>', html)
    assert re.search(r'<mark[^>]*data-entity-type="person"[^>]*>Sergey Shoygu</mark>', html)
    assert "<script>alert" not in html
    assert "ninjs" in html
    assert "Enrichment" in html
    assert "Version history" in html
    assert html.startswith("<!doctype html>")
    assert "<main" in html
    assert "<nav" in html


def test_map_places_a_point_by_latitude_and_longitude() -> None:
    assert project(0, 0) == (180.0, 90.0)
    assert project(90, -180) == (0.0, 0.0)
    svg = map_svg(35.69, 51.42, "Tehran <b>")
    assert 'role="img"' in svg
    assert "35.69°N, 51.42°E" in svg
    assert "<b>" not in svg
    assert map_svg(float("nan"), 0, "x") == ""


def test_sparkline_names_its_range_for_screen_readers() -> None:
    svg = sparkline([0, 5, 2], "lag")
    assert 'aria-label="lag: now 2, min 0, max 5"' in svg
    assert "<polyline" in svg


def test_health_page_has_a_replay_form_with_csrf_for_editors_only() -> None:
    row = DeadLetterRow(
        entry_id="1-0",
        failed_at=datetime(2025, 1, 1, tzinfo=UTC),
        stage="ingest",
        code="unparseable_json",
        reason=HOSTILE,
        article_id="",
        source_stream="articles.inbound",
    )
    series = [StageSeries("ingest", "articles.inbound", [1, 2], [0, 1], [0, 0])]
    kwargs = {"window_s": 10.0, "dlq_total": 1, "dlq_by_code": {"unparseable_json": 1}, "entries": [row]}
    editor = health_page(series, viewer=VIEWER, editing_enabled=True, **kwargs)  # type: ignore[arg-type]
    assert 'name="csrf" value="c5rf"' in editor
    assert "Replay" in editor
    assert "<script>alert" not in editor
    reader = Viewer(signed_in=True, editor=False, csrf="x", auth_required=True)
    shown = health_page(series, viewer=reader, editing_enabled=True, **kwargs)  # type: ignore[arg-type]
    assert "/console/dlq/replay" not in shown


def test_access_reads_with_any_token_and_edits_only_with_an_editor_token() -> None:
    access = Access(readers=frozenset({"r"}), editors=frozenset({"e"}))
    assert access.can_read("r")
    assert access.can_read("e")
    assert not access.can_read("x")
    assert not access.can_read(None)
    assert access.is_editor("e")
    assert not access.is_editor("r")
    assert Access(readers=frozenset(), editors=frozenset()).can_read(None)


def test_csrf_token_is_tied_to_the_session_token() -> None:
    assert csrf_token("a") != csrf_token("b")
    assert csrf_token("a") == csrf_token("a")
    assert csrf_token(None) == ""


def test_login_redirects_only_inside_the_console() -> None:
    assert safe_next("/console/health") == "/console/health"
    for bad in ("https://evil.example", "//evil.example/console", "/v1/articles", None, "/console\\x"):
        assert safe_next(bad) == "/console/"


def test_parse_form_reads_url_encoded_fields() -> None:
    assert parse_form(b"csrf=a%2Bb&entry_id=1-0&empty=") == {"csrf": "a+b", "entry_id": "1-0", "empty": ""}
