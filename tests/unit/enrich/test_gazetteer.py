"""The house gazetteer: loading, and forcing names, types and URIs inside the model's pipeline."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.enrich.gazetteer import Gazetteer
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
    return Tagger(gazetteer=Gazetteer.load(path))


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
    gazetteer = Gazetteer.load(path)
    assert [(e.name, e.type, e.id) for e in gazetteer] == [
        ("Reuters", EntityType.ORGANISATION, "organisation:reuters")
    ]
    assert gazetteer.lookup("the REUTERS") is not None
    assert len(Gazetteer.default()) > 0


@pytest.mark.parametrize(
    "content",
    [
        "- name: X\n  type: company\n",  # not one of the four types
        "- name: X\n  type: person\n  wikidata: Q1\n",  # unknown field
        "name: X\n",  # not a list
        "- [unbalanced\n",  # not YAML
    ],
)
def test_invalid_gazetteer_fails_fast_naming_the_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.yaml"):
        Gazetteer.load(path)


def test_two_entries_with_one_id_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "twice.yaml"
    path.write_text("- {name: Reuters, type: organisation}\n- {name: reuters, type: organisation}\n")
    with pytest.raises(ValueError, match="share the id"):
        Gazetteer.load(path)
