"""Linking decisions (pure): which registry entity an article's entity is, and how sure we are."""

from __future__ import annotations

from services.enrich.linking import (
    LINK_THRESHOLD,
    Known,
    Query,
    acronyms,
    decide,
    decisive_identifiers,
    identity_keys,
    index_keys,
    jaro_winkler,
    lookup_keys,
    normalise,
    sound_key,
    spelling_similarity,
)
from shared.events import EntityType

P, ORG, L = EntityType.PERSON, EntityType.ORGANISATION, EntityType.PLACE


def known(
    id_: str,
    name: str,
    type_: EntityType,
    *names: str,
    articles: int = 1,
    identifiers: dict[str, str] | None = None,
    shared: dict[str, int] | None = None,
) -> Known:
    all_names = {normalise(n): 1 for n in (name, *names)}
    return Known(id_, name, type_, all_names, identifiers or {}, articles, shared or {})


def q(name: str, type_: EntityType, *surfaces: str, **identifiers: str) -> Query:
    return Query(name, type_, (name, *surfaces), identifiers)


def test_jaro_winkler_matches_published_reference_values() -> None:
    # Winkler's classic examples.
    assert round(jaro_winkler("martha", "marhta"), 3) == 0.961
    assert round(jaro_winkler("dwayne", "duane"), 2) == 0.84
    assert jaro_winkler("abc", "abc") == 1.0
    assert jaro_winkler("abc", "xyz") == 0.0


def test_transliterations_share_a_sound_key_and_score_as_similar() -> None:
    assert sound_key("Shoigu") == sound_key("Shoygu")
    assert sound_key("Qaddafi") == sound_key("Gaddafi") == sound_key("Kadhafi")
    assert spelling_similarity("sergei shoigu", "sergey shoygu") > 0.95
    assert spelling_similarity("john smith", "joan smith") == 0.0  # short differing word: two people


def test_normalise_ignores_case_accents_dots_possessives_and_the() -> None:
    assert normalise("The U.S.") == "us"
    assert normalise("Alcântara's") == "alcantara"
    assert acronyms("New York Stock Exchange") == {"nyse"}
    assert "boe" in acronyms("Bank of England")


def test_exact_name_links_with_full_confidence() -> None:
    d = decide(q("Sergei Shoigu", P), [known("e1", "Sergei Shoigu", P)])
    assert (d.entity_id, d.method, d.confidence) == ("e1", "name", 1.0)


def test_transliterated_full_name_links_as_similar() -> None:
    d = decide(q("Sergey Shoygu", P), [known("e1", "Sergei Shoigu", P)])
    assert d.entity_id == "e1"
    assert d.method == "similar"
    assert d.confidence >= LINK_THRESHOLD


def test_acronym_links_to_its_expansion_both_ways() -> None:
    assert decide(q("NYSE", ORG), [known("e1", "New York Stock Exchange", ORG)]).method == "acronym"
    assert decide(q("New York Stock Exchange", ORG), [known("e2", "NYSE", ORG)]).entity_id == "e2"


def test_surname_links_when_one_person_has_it() -> None:
    d = decide(q("Shoigu", P), [known("e1", "Sergei Shoigu", P)])
    assert (d.entity_id, d.method) == ("e1", "surname")


def test_surname_shared_by_two_people_makes_a_new_entity() -> None:
    d = decide(q("Clinton", P), [known("e1", "Bill Clinton", P), known("e2", "Hillary Clinton", P)])
    assert d.entity_id is None
    assert "several" in d.reason


def test_two_full_names_with_one_surname_are_two_people() -> None:
    d = decide(q("Hillary Clinton", P), [known("e1", "Bill Clinton", P, "Clinton")])
    assert d.entity_id is None


def test_context_decides_between_two_people_of_one_name() -> None:
    striker = known("e1", "Chad Johnson", P, articles=5, shared={"team": 3})
    senator = known("e2", "Chad Johnson", P, articles=9, shared={"senate": 4})
    assert decide(q("Chad Johnson", P), [striker, senator], ["team"]).entity_id == "e1"
    assert decide(q("Chad Johnson", P), [striker, senator], ["senate"]).entity_id == "e2"
    # No context: the more common one, said so in the reason.
    d = decide(q("Chad Johnson", P), [striker, senator])
    assert d.entity_id == "e2"
    assert "chosen over e1" in d.reason


def test_a_person_and_a_place_of_one_name_stay_apart() -> None:
    assert decide(q("Baltimore", P), [known("e1", "Baltimore", L)]).entity_id is None


def test_an_organisation_typed_as_a_place_still_links_by_exact_name() -> None:
    assert decide(q("Kentucky", ORG), [known("e1", "Kentucky", L)]).entity_id == "e1"


def test_identifiers_link_and_different_identifiers_never_merge() -> None:
    lisboa = known("e1", "Lisbon", L, identifiers={"geonames_id": "2267057"})
    assert decide(q("Lisboa", L, geonames_id="2267057"), [lisboa]).method == "identifier"
    texas = q("Paris", L, geonames_id="4717560")
    assert decide(texas, [known("e2", "Paris", L, identifiers={"geonames_id": "2988507"})]).entity_id is None


def test_weak_similarity_makes_a_new_entity_and_names_the_nearest() -> None:
    d = decide(q("Bonner", P), [known("e1", "Benner", P)])
    assert d.entity_id is None
    assert d.method == "new"
    assert "nearest e1" in d.reason


def test_lookup_keys_find_what_index_keys_filed() -> None:
    filed = index_keys("Sergei Shoigu", P, ["Sergei Shoigu"], {"wikidata": "Q1"})
    asked = lookup_keys(q("Shoigu", P))
    assert asked.surname & filed.surname == {"shoigu"}
    assert lookup_keys(q("Sergey Shoygu", P)).sound & filed.sound
    assert lookup_keys(q("NYSE", ORG)).acronym & index_keys("New York Stock Exchange", ORG, [], {}).acronym
    assert lookup_keys(q("X", P, wikidata="Q1")).identifier == {"wikidata:Q1"} == filed.identifier


def test_a_bare_surname_alias_shared_by_two_people_makes_a_new_entity() -> None:
    bill = known("e1", "Bill Clinton", P, "Clinton")
    hillary = known("e2", "Hillary Clinton", P, "Clinton")
    assert decide(q("Clinton", P), [bill, hillary]).entity_id is None
    assert decide(q("Clinton", P), [bill]).method == "surname"


def test_a_full_name_joins_a_bare_surname_entity_only_with_shared_context() -> None:
    bare = known("e1", "Shoigu", P, shared={"russia": 2})
    assert decide(q("Sergei Shoigu", P), [bare]).entity_id is None
    assert decide(q("Sergei Shoigu", P), [bare], ["russia"]).entity_id == "e1"


def test_a_city_filed_under_its_countrys_code_is_not_the_country() -> None:
    portugal = known("e1", "Portugal", L, identifiers={"geonames_id": "2264397", "iso3166_alpha2": "PT"})
    lisbon = q("Lisbon", L, geonames_id="2267057", iso3166_alpha2="PT")
    assert decide(lisbon, [portugal]).entity_id is None
    assert decisive_identifiers({"geonames_id": "2267057", "iso3166_alpha2": "PT"}) == {
        "geonames_id": "2267057"
    }
    assert decisive_identifiers({"iso3166_alpha2": "PT"}) == {"iso3166_alpha2": "PT"}


def test_a_feature_or_a_country_code_on_a_city_is_no_identity_but_a_countrys_own_code_is() -> None:
    oslo = {"geonames_id": 3143244, "feature": "city", "iso3166_alpha2": "NO", "latitude": 59.9}
    assert identity_keys(oslo) == {"geonames_id": "3143244"}
    assert identity_keys({"feature": "city", "iso3166_alpha2": "NO"}) == {}
    norway = {"feature": "country", "iso3166_alpha2": "NO", "kb_id": "kb-no"}
    assert identity_keys(norway) == {"iso3166_alpha2": "NO", "kb_id": "kb-no"}
    assert identity_keys({"iso3166_alpha2": "NO"}) == {"iso3166_alpha2": "NO"}
