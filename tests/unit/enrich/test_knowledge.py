"""The knowledge base: loading the house file, forcing names, types and URIs inside the model's
pipeline, places as a prior, and GeoNames' alternate names."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.enrich.identifiers import PlaceIndex
from services.enrich.knowledge import KnowledgeBase
from services.enrich.logic import Tagger
from shared.events import EntityType
from tests.utils.enrich import seed_article

HOUSE_YAML = """
- name: Anadolu Agency
  type: organisation
  aliases: [AA]
  uri: https://vocab.example.org/organisation/anadolu-agency
- name: Sergei Shoigu
  type: person
  aliases: [Sergey Shoygu, Shoygu]
- name: Unmanned aerial vehicle
  type: other
  aliases: [UAV]
"""


@pytest.fixture(scope="module")
def house_tagger(tmp_path_factory: pytest.TempPathFactory) -> Tagger:
    path = tmp_path_factory.mktemp("gazetteer") / "house.yaml"
    path.write_text(HOUSE_YAML, encoding="utf-8")
    return Tagger(gazetteer=KnowledgeBase.load(path))


def test_gazetteer_entry_sets_type_uri_and_source(house_tagger: Tagger) -> None:
    entities = house_tagger.tag([seed_article()])[0]
    agency = next(e for e in entities.organisations if e.name == "Anadolu Agency")
    assert agency.source == "gazetteer"
    assert agency.id == "organisation:anadolu-agency"
    assert agency.identifiers.uri == "https://vocab.example.org/organisation/anadolu-agency"
    assert agency.count == 2


def test_gazetteer_forces_the_canonical_name_over_every_spelling(house_tagger: Tagger) -> None:
    entities = house_tagger.tag([seed_article()])[0]
    shoigu = next(e for e in entities.people if e.name == "Sergei Shoigu")
    assert shoigu.id == "person:sergei-shoigu"
    assert {m.text for m in shoigu.mentions} == {"Sergey Shoygu", "Shoygu"}
    assert shoigu.count == 4
    assert not [e for e in entities.all() if e.name in {"Sergey Shoygu", "Shoygu"}]


def test_gazetteer_name_is_kept_even_where_a_rule_would_call_it_noise(house_tagger: Tagger) -> None:
    entities = house_tagger.tag([seed_article()])[0]
    uav = [e for e in entities.other if e.name == "Unmanned aerial vehicle"]
    assert len(uav) == 1
    assert [m.text for m in uav[0].mentions] == ["UAV"]


def test_gazetteer_loads_json_and_the_default_file(tmp_path: Path) -> None:
    path = tmp_path / "house.json"
    path.write_text('[{"name": "Reuters", "type": "organisation"}]', encoding="utf-8")
    gazetteer = KnowledgeBase.load(path)
    assert [(e.name, e.type, e.id) for e in gazetteer] == [
        ("Reuters", EntityType.ORGANISATION, "organisation:reuters")
    ]
    assert gazetteer.lookup("the REUTERS") is not None
    assert len(KnowledgeBase.default()) > 0


@pytest.mark.parametrize(
    "content",
    [
        "- name: X\n  type: company\n",  # not one of the four types
        "- name: X\n  type: person\n  wikidata: Q1\n",  # unknown field (wikidata is an identifier)
        "- name: X\n  type: person\n  feature: river\n",  # only places have a feature
        "- name: X\n  type: place\n  identifiers: {wikidata: 123}\n",  # not a QID
        "name: X\n",  # not a list
        "- [unbalanced\n",  # not YAML
    ],
)
def test_invalid_gazetteer_fails_fast_naming_the_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.yaml"):
        KnowledgeBase.load(path)


def test_two_entries_with_one_id_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "twice.yaml"
    path.write_text("- {name: Reuters, type: organisation}\n- {name: reuters, type: organisation}\n")
    with pytest.raises(ValueError, match="share the id"):
        KnowledgeBase.load(path)


def test_house_entries_carry_wikidata_description_and_kb_id(tmp_path: Path) -> None:
    path = tmp_path / "house.yaml"
    path.write_text(
        "- name: United Nations\n  type: organisation\n  aliases: [UN]\n"
        "  description: Intergovernmental organisation.\n  identifiers: {wikidata: Q1065}\n"
        "- name: Tagus\n  type: place\n  feature: river\n  aliases: [Tejo]\n"
        "  identifiers: {latitude: 38.7, longitude: -9.4}\n",
        encoding="utf-8",
    )
    knowledge = KnowledgeBase.load(path)
    un = knowledge.lookup("U.N")
    assert un is not None
    assert un.to_identifiers().wikidata == "Q1065"
    assert un.to_identifiers().kb_id == "organisation:united-nations"
    assert knowledge.lookup("Tagus") is None  # places are a prior, not a forced name
    tejo = knowledge.places.identify("Tejo")
    assert tejo is not None
    assert (tejo.name, tejo.kind, tejo.kb_id) == ("Tagus", "river", "place:tagus")
    assert tejo.identifiers().latitude == 38.7
    assert knowledge.places.house_matches("beside the Tagus.") == [(11, 16)]


def test_the_default_knowledge_base_forces_organisations_and_not_places() -> None:
    knowledge = KnowledgeBase.default()
    patterns = {p["pattern"] for p in knowledge.ruler_patterns()}
    assert {"Reuters", "NATO", "Bank of England"} <= patterns
    assert "Azores" not in patterns
    assert knowledge.places.is_strong_place("Azores")


@pytest.mark.parametrize("name", ["London", "Londres", "Londra", "Londen"])
def test_a_city_in_any_language_has_one_geonames_id(places: PlaceIndex, name: str) -> None:
    found = places.identify(name)
    assert found is not None
    assert (found.name, found.geonames_id) == ("London", 2643743)


@pytest.mark.parametrize(("name", "code"), [("Allemagne", "DE"), ("Deutschland", "DE"), ("España", "ES")])
def test_a_country_in_another_language_has_its_iso_codes(places: PlaceIndex, name: str, code: str) -> None:
    found = places.identify(name)
    assert found is not None
    assert found.iso3166_alpha2 == code
    assert found.identifiers().feature == "country"


def test_alternate_names_identify_but_do_not_type(places: PlaceIndex) -> None:
    # "Lisboa" identifies Lisbon, but typing reads the names English news uses: no new false places.
    assert places.lookup("Lisboa") is None
    found = places.identify("Lisboa")
    assert found is not None
    assert found.name == "Lisbon"
