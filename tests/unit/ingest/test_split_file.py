"""Files into payload items: JSON objects and arrays, NDJSON lines, text and HTML pages."""

from __future__ import annotations

from pathlib import Path

import orjson

from services.ingest.logic import split_file


def test_json_object_file_is_one_item(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_bytes(b'{"title": "x"}')
    assert split_file(path) == [(b'{"title": "x"}', "application/json")]


def test_json_array_file_is_one_item_per_element(tmp_path: Path) -> None:
    path = tmp_path / "many.JSON"
    path.write_bytes(orjson.dumps([{"title": "a"}, {"title": "b"}, 3]))
    items = split_file(path)
    assert [orjson.loads(payload) for payload, _ in items] == [{"title": "a"}, {"title": "b"}, 3]
    assert {content_type for _, content_type in items} == {"application/json"}


def test_ndjson_file_is_one_item_per_non_blank_line(tmp_path: Path) -> None:
    path = tmp_path / "feed.ndjson"
    path.write_bytes(b'{"title": "a"}\n\n  \n{"title": "b"}\r\nnot json\n')
    assert split_file(path) == [
        (b'{"title": "a"}', "application/json"),
        (b'{"title": "b"}', "application/json"),
        (b"not json", "application/json"),  # rejected later, with the parser's reason
    ]


def test_broken_json_file_is_passed_whole_for_parse_payload_to_reject(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_bytes(b'{"title": ')
    assert split_file(path) == [(b'{"title": ', "application/json")]


def test_text_and_html_files_are_one_item_typed_by_extension_or_content(tmp_path: Path) -> None:
    cases = {"a.txt": "text/plain", "b.html": "text/html", "c.htm": "text/html"}
    for name, expected in cases.items():
        (tmp_path / name).write_bytes(b"Title\n\nBody")
        assert split_file(tmp_path / name) == [(b"Title\n\nBody", expected)]
    (tmp_path / "page").write_bytes(b"<html><body><p>x</p></body></html>")
    assert split_file(tmp_path / "page")[0][1] == "text/html"
