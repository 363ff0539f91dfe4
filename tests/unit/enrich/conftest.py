"""Fixtures only: the model loads once per session (about 1 s)."""

from __future__ import annotations

import pytest

from services.enrich.identifiers import PlaceIndex, place_index
from services.enrich.logic import Tagger
from services.enrich.multilingual import MultilingualTagger


@pytest.fixture(scope="session")
def tagger() -> Tagger:
    return Tagger()


@pytest.fixture(scope="session")
def places() -> PlaceIndex:
    return place_index()


@pytest.fixture(scope="session")
def multilingual() -> MultilingualTagger:
    """All four pipelines (the French model loads in about 5 s)."""
    return MultilingualTagger(["en", "fr", "es", "de"])
