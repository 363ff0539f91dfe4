"""The offline validator fails on what the official schemas reject (so passing means something)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.utils.ninjs_schema import (
    NinjsInvalid,
    NinjsVersion,
    ninjs_errors,
    ninjs_schema_dir,
    validate_ninjs,
)

VALID: dict[NinjsVersion, dict[str, Any]] = {
    "2.2": {"uri": "https://news.example.org/articles/1", "versioncreated": "2025-06-10T09:30:00Z"},
    "3.1": {"uri": "https://news.example.org/articles/1", "versionCreated": "2025-06-10T09:30:00Z"},
}
POINT = {"type": "Point", "coordinates": [8.55, 47.37]}


def test_schema_dir_is_beside_the_repository() -> None:
    directory = ninjs_schema_dir()

    assert directory.parts[-3:] == ("shared", "spec", "ninjs")
    assert (directory / "ninjs-schema_2.2.json").is_file()
    assert (directory / "geojson-GeoJSON.json").is_file()


@pytest.mark.parametrize("version", ["2.2", "3.1"])
def test_a_minimal_document_validates(version: NinjsVersion) -> None:
    validate_ninjs(VALID[version], version)


@pytest.mark.parametrize("version", ["2.2", "3.1"])
def test_a_document_with_an_unknown_property_fails_validation(version: NinjsVersion) -> None:
    doc = {**VALID[version], "newsflow_score": 0.9}

    with pytest.raises(NinjsInvalid) as raised:
        validate_ninjs(doc, version)

    assert "newsflow_score" in str(raised.value)


@pytest.mark.parametrize(
    ("version", "change"),
    [
        ("2.2", {"versioncreated": "2025-06-10T09:30:00"}),  # RFC 3339 needs an offset
        ("3.1", {"versionCreated": "2025-06-10 09:30:00Z"}),
        ("2.2", {"firstcreated": "2025-13-10T09:30:00Z"}),
        ("2.2", {"uri": "articles/1"}),  # relative: not a `uri`
        ("3.1", {"uri": "https://news.example.org/a b"}),
        ("3.1", {"uri": "https://news.example.org/zürich"}),  # an IRI, not a URI
    ],
    ids=["zone-less", "space-not-T", "month-13", "relative-uri", "space-in-uri", "iri"],
)
def test_format_checking_is_on_for_date_time_and_uri(version: NinjsVersion, change: dict[str, str]) -> None:
    with pytest.raises(NinjsInvalid):
        validate_ninjs({**VALID[version], **change}, version)


@pytest.mark.parametrize(("version", "key"), [("2.2", "geojson"), ("3.1", "geoJSON")], ids=["2.2", "3.1"])
def test_geojson_is_checked_against_the_registered_geojson_schema(version: NinjsVersion, key: str) -> None:
    good = {**VALID[version], "places": [{"name": "Zürich", key: POINT}]}
    bad = {**VALID[version], "places": [{"name": "Zürich", key: {"type": "Point"}}]}

    assert ninjs_errors(good, version) == []
    assert ninjs_errors(bad, version) != []


def test_3_1_rejects_2_x_property_spelling() -> None:
    with pytest.raises(NinjsInvalid):
        validate_ninjs({**VALID["3.1"], "pubstatus": "usable"}, "3.1")
