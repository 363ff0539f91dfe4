"""The bundled demo samples through the real tagger: places are places, organisations organisations."""

from __future__ import annotations

import pytest

from services.enrich.logic import Tagger
from shared.events import Entities, EntityType
from tests.utils.enrich import sample_articles

PLACES = {"Rotterdam", "Azores", "Madeira", "Alcântara", "Tagus", "Lisbon"}
# Places no list knows, typed by the words around them ("the Wilhelminakade terminal").
PLACES_BY_CONTEXT = {"Wilhelminakade", "Kop van Zuid", "Peniche"}
ORGANISATIONS = {"Port of Rotterdam", "Atlantic Ports Council"}


@pytest.fixture(scope="module")
def tagged(tagger: Tagger) -> list[Entities]:
    return tagger.tag(sample_articles())


def types_by_name(tagged: list[Entities]) -> dict[str, set[EntityType]]:
    found: dict[str, set[EntityType]] = {}
    for entities in tagged:
        for entity in entities.all():
            found.setdefault(entity.name, set()).add(entity.type)
    return found


def test_every_sample_article_is_tagged(tagged: list[Entities]) -> None:
    assert len(tagged) >= 6
    assert all(entities.all() for entities in tagged)


def test_known_places_in_the_samples_are_only_ever_places(tagged: list[Entities]) -> None:
    types = types_by_name(tagged)
    assert {name: types.get(name) for name in PLACES} == {name: {EntityType.PLACE} for name in PLACES}


def test_places_named_by_their_context_are_places(tagged: list[Entities]) -> None:
    types = types_by_name(tagged)
    assert {name: types.get(name) for name in PLACES_BY_CONTEXT} == {
        name: {EntityType.PLACE} for name in PLACES_BY_CONTEXT
    }


def test_organisations_in_the_samples_are_only_ever_organisations(tagged: list[Entities]) -> None:
    types = types_by_name(tagged)
    assert {name: types.get(name) for name in ORGANISATIONS} == {
        name: {EntityType.ORGANISATION} for name in ORGANISATIONS
    }


def test_sample_places_carry_their_knowledge_base_identifiers(tagged: list[Entities]) -> None:
    places = {e.name: e.identifiers for entities in tagged for e in entities.places}
    assert places["Rotterdam"].geonames_id == 2747891
    assert places["Rotterdam"].feature == "city"
    assert places["Tagus"].feature == "river"
    assert places["Tagus"].kb_id == "place:tagus"
    assert places["Azores"].feature == "island"
