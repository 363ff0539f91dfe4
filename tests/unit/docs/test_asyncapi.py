from pathlib import Path
from typing import Any

import yaml

from newsflow.asyncapi import build, render
from shared import streams

DOC = Path(__file__).resolve().parents[3] / "docs" / "asyncapi.yaml"


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


def test_committed_asyncapi_document_is_what_the_code_generates() -> None:
    assert DOC.read_text() == render(), (
        "docs/asyncapi.yaml is stale: run newsflow asyncapi > docs/asyncapi.yaml"
    )


def test_every_stream_is_a_channel_and_every_reference_resolves() -> None:
    doc = build()
    addresses = {c["address"] for c in doc["channels"].values()}
    assert {streams.INBOUND, streams.RAW, streams.TAGGED, streams.PUBLISHED, streams.DLQ} <= addresses
    for ref in _refs(doc):
        node: Any = doc
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
        assert node, ref


def test_document_round_trips_through_yaml() -> None:
    assert yaml.safe_load(render()) == build()
