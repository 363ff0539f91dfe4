"""The ninjs models against the official schemas and examples."""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from services.publish import ninjs
from services.publish.ninjs import Ninjs2, Ninjs3
from tests.utils.ninjs_schema import (
    SCHEMA_FILES,
    NinjsVersion,
    example_paths,
    ninjs_errors,
    ninjs_schema_dir,
)

MODELS: dict[NinjsVersion, type[Ninjs2] | type[Ninjs3]] = {"2.2": Ninjs2, "3.1": Ninjs3}
# Official examples the official schema rejects with format checking on, and where: the IPTC
# renditions example uses "renditions-example" as its `uri`, which is not a URI (RFC 3986).
KNOWN_INVALID_EXAMPLES = {
    "2.2-docs/002_renditions_example.json": ["$.uri"],
    "3.1-docs/002_renditions_example.json": ["$.uri"],
}
EXAMPLES = [(v, p) for v in MODELS for p in example_paths(v)]


def _example_id(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def _canonical(doc: dict[str, Any]) -> str:
    # Sorted keys and exact numbers: 70 and 70.0 differ here although they are == in Python.
    return json.dumps(doc, sort_keys=True, ensure_ascii=False)


def test_every_example_directory_has_documents() -> None:
    assert len(example_paths("2.2")) >= 19
    assert len(example_paths("3.1")) >= 26


@pytest.mark.parametrize(("version", "path"), EXAMPLES, ids=[f"{v}:{_example_id(p)}" for v, p in EXAMPLES])
def test_official_example_round_trips_through_its_model_without_loss(
    version: NinjsVersion, path: Path
) -> None:
    original = json.loads(path.read_text(encoding="utf-8"))

    dumped = MODELS[version].load(original).dump()

    assert _canonical(dumped) == _canonical(original)


@pytest.mark.parametrize(("version", "path"), EXAMPLES, ids=[f"{v}:{_example_id(p)}" for v, p in EXAMPLES])
def test_dumped_example_validates_like_the_original(version: NinjsVersion, path: Path) -> None:
    original = json.loads(path.read_text(encoding="utf-8"))
    dumped = MODELS[version].load(original).dump()

    expected = KNOWN_INVALID_EXAMPLES.get(_example_id(path), [])
    assert [e.json_path for e in ninjs_errors(original, version)] == expected
    assert [e.json_path for e in ninjs_errors(dumped, version)] == expected


# --- the models cover the whole schema ------------------------------------------------------


def _deref(root: dict[str, Any], ref: str) -> dict[str, Any]:
    node: Any = root
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return typing.cast(dict[str, Any], node)


def _local_ref(node: dict[str, Any]) -> str | None:
    ref = node.get("$ref")
    return ref if isinstance(ref, str) and ref.startswith("#/") else None


def _properties(root: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = _local_ref(node)
    inherited = _properties(root, _deref(root, ref)) if ref else {}
    return {**inherited, **node.get("properties", {})}


def _required(root: dict[str, Any], node: dict[str, Any]) -> set[str]:
    ref = _local_ref(node)
    inherited = _required(root, _deref(root, ref)) if ref else set()
    return inherited | set(node.get("required", []))


def _closed(root: dict[str, Any], node: dict[str, Any]) -> bool:
    if node.get("additionalProperties") is False or node.get("unevaluatedProperties") is False:
        return True
    ref = _local_ref(node)
    return ref is not None and _closed(root, _deref(root, ref))


def _object_schema(root: dict[str, Any], node: dict[str, Any]) -> dict[str, Any] | None:
    """The object schema a property holds (itself or its array items), if it is a local one."""
    if node.get("type") == "array":
        items = node.get("items")
        return _object_schema(root, items) if isinstance(items, dict) else None
    if _properties(root, node):
        return node
    return None


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _walk(
    root: dict[str, Any],
    node: dict[str, Any],
    model: type[BaseModel],
    where: str,
    seen: set[tuple[int, type[BaseModel]]],
    problems: list[str],
) -> None:
    if (id(node), model) in seen:
        return
    seen.add((id(node), model))
    fields = {(f.alias or name): f for name, f in model.model_fields.items()}
    schema_props = _properties(root, node)
    if set(fields) != set(schema_props):
        problems.append(
            f"{where} ({model.__name__}): missing {sorted(set(schema_props) - set(fields))}, "
            f"extra {sorted(set(fields) - set(schema_props))}"
        )
    required = {alias for alias, f in fields.items() if f.is_required()}
    if required != _required(root, node):
        problems.append(f"{where}: required {sorted(required)} != {sorted(_required(root, node))}")
    closed = _closed(root, node)
    extra = model.model_config.get("extra")
    if (extra == "forbid") != closed:
        problems.append(f"{where}: extra={extra!r} but schema closed={closed}")
    for alias, prop in schema_props.items():
        sub = _object_schema(root, prop)
        if sub is None or alias not in fields:
            continue
        sub_model = _model_in(fields[alias].annotation)
        if sub_model is None:
            problems.append(f"{where}.{alias}: schema has an object, model has no model")
            continue
        _walk(root, sub, sub_model, f"{where}.{alias}", seen, problems)


@pytest.mark.parametrize("version", list(MODELS))
def test_models_have_exactly_the_schema_properties_required_and_closed_alike(
    version: NinjsVersion,
) -> None:
    root = json.loads((ninjs_schema_dir() / SCHEMA_FILES[version]).read_text(encoding="utf-8"))
    problems: list[str] = []
    seen: set[tuple[int, type[BaseModel]]] = set()

    _walk(root, root, MODELS[version], "$", seen, problems)

    assert problems == []
    # ...and every public model of that version is one the schema reaches (none is made up).
    suffix = version[0]
    public = {
        cls
        for name, cls in vars(ninjs).items()
        if isinstance(cls, type)
        and issubclass(cls, ninjs.NinjsModel)
        and name.endswith(suffix)
        and not name.startswith("_")
        and name != "NinjsModel3"
    }
    assert public - {model for _, model in seen} == set()
    assert len(public) > 20


# --- models and schema reject the same things -----------------------------------------------

POINT = {"type": "Point", "coordinates": [8.55, 47.37]}
REJECTED: list[tuple[NinjsVersion, dict[str, Any]]] = [
    ("2.2", {"uri": "http://x.example/1", "headline": "1.x property"}),
    ("3.1", {"uri": "http://x.example/1", "versioncreated": "2025-06-10T09:30:00Z"}),
    ("2.2", {"uri": "http://x.example/1", "versioncreated": "2025-06-10T09:30:00"}),
    ("3.1", {"uri": "http://x.example/1", "firstCreated": "2025-02-30T09:30:00Z"}),
    ("2.2", {"uri": "http://x.example/1", "urgency": "5"}),
    ("3.1", {"uri": "http://x.example/1", "urgency": 10}),
    ("2.2", {"uri": "http://x.example/1", "pubstatus": "withdrawn"}),
    ("2.2", {"uri": "http://x.example/1", "associations": [{"uri": "http://x.example/2"}]}),
    ("3.1", {"uri": "http://x.example/1", "associations": [{"name": "a", "foo": 1}]}),
    ("2.2", {"uri": "http://x.example/1", "bodies": [{"role": "main"}]}),
    ("2.2", {"uri": "http://x.example/1", "subjects": [{"name": "s", "relevance": 101}]}),
    (
        "3.1",
        {"uri": "http://x.example/1", "people": [{"contactInfo": [{"value": "1", "address": {}}]}]},
    ),
    ("2.2", {"uri": "http://x.example/1", "rightsinfo": {"langid": "http://x.example/l"}}),
    ("3.1", {"uri": "http://x.example/1", "rightsInfo": {"linkedRights": "x", "other": 1}}),
    ("3.1", {"uri": "http://x.example/1", "eventDetails": {"dates": {"expectedDuration": "PT1H"}}}),
    ("3.1", {"uri": "http://x.example/1", "renditions": [{"name": "r", "width": 1.5}]}),
    ("3.1", {"uri": "http://x.example/1", "places": [{"geojson": POINT}]}),
    ("2.2", {"uri": "http://x.example/1", "standard": {"name": "ninjs", "schema_": "x"}}),
    ("3.1", {"uri": "http://x.example/1", "first_created": "2025-06-10T09:30:00Z"}),
    ("2.2", {"type": "text"}),
]


@pytest.mark.parametrize(("version", "doc"), REJECTED, ids=[str(d) for _, d in REJECTED])
def test_model_rejects_what_the_schema_rejects(version: NinjsVersion, doc: dict[str, Any]) -> None:
    assert ninjs_errors(doc, version), "the case itself should be invalid ninjs"
    with pytest.raises(ValidationError):
        MODELS[version].load(doc)


def test_open_rightsinfo_of_2_2_keeps_unknown_keys_even_null_ones() -> None:
    doc = {"uri": "http://x.example/1", "rightsinfo": {"linkedrights": "http://r", "x": None}}
    assert ninjs_errors(doc, "2.2") == []

    assert Ninjs2.load(doc).dump() == doc


def test_geojson_is_kept_as_given_including_nulls() -> None:
    feature = {"type": "Feature", "geometry": None, "properties": None}
    doc = {"uri": "http://x.example/1", "places": [{"name": "p", "geoJSON": feature}]}
    assert ninjs_errors(doc, "3.1") == []

    assert Ninjs3.load(doc).dump() == doc


SCHEMA_3_1 = "http://www.iptc.org/std/ninjs/ninjs-schema_3.1.json"


def test_models_build_from_python_names_and_dump_schema_names() -> None:
    doc = Ninjs3(
        uri="http://x.example/1",
        first_created="2025-06-10T09:30:00+02:00",
        pub_status="usable",
        standard=ninjs.Standard3(name="ninjs", schema_=SCHEMA_3_1),
    ).dump()

    assert doc == {
        "uri": "http://x.example/1",
        "firstCreated": "2025-06-10T09:30:00+02:00",
        "pubStatus": "usable",
        "standard": {
            "name": "ninjs",
            "schema": SCHEMA_3_1,
        },
    }
