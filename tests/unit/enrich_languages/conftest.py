"""Fixtures only: one multilingual tagger per session (the French model loads in about 5 s)."""

from __future__ import annotations

import pytest

from services.enrich.multilingual import MultilingualTagger


@pytest.fixture(scope="session")
def tagger() -> MultilingualTagger:
    return MultilingualTagger(["en", "fr", "es", "de"])
