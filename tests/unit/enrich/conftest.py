"""Fixtures only: the model loads once per session (about 1 s)."""

from __future__ import annotations

import pytest

from services.enrich.identifiers import PlaceIndex, place_index
from services.enrich.logic import Tagger


@pytest.fixture(scope="session")
def tagger() -> Tagger:
    return Tagger()


@pytest.fixture(scope="session")
def places() -> PlaceIndex:
    return place_index()
