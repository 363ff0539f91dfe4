"""The house gazetteer: names whose type, canonical form and URI the newsroom decides."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from services.enrich.data import DEFAULT_GAZETTEER
from shared.events import EntityType, entity_id

# The spaCy label the entity ruler gives each type; the entry id, not the label, decides later.
RULER_LABELS: dict[EntityType, str] = {
    EntityType.PERSON: "PERSON",
    EntityType.ORGANISATION: "ORG",
    EntityType.PLACE: "GPE",
    EntityType.OTHER: "MISC",
}


def name_key(text: str) -> str:
    """How two spellings of one name compare: case, spacing, dots and a leading 'the' ignored."""
    key = re.sub(r"\s+", " ", text.replace(".", "").replace("’", "'")).strip().casefold()
    return key.removeprefix("the ")


class GazetteerEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    type: EntityType
    aliases: tuple[str, ...] = ()
    uri: str | None = None

    @property
    def id(self) -> str:
        """`type:slug`; from the URI's last path segment when there is a URI, else from the name."""
        if self.uri:
            tail = self.uri.rstrip("/").rsplit("/", 1)[-1].split("#")[-1]
            return entity_id(self.type, tail)
        return entity_id(self.type, self.name)

    def surfaces(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


_ENTRIES = TypeAdapter(list[GazetteerEntry])


class Gazetteer:
    def __init__(self, entries: Iterable[GazetteerEntry] = ()) -> None:
        self.entries: tuple[GazetteerEntry, ...] = tuple(entries)
        self._by_id: dict[str, GazetteerEntry] = {}
        self._by_key: dict[str, GazetteerEntry] = {}
        for entry in self.entries:
            if self._by_id.setdefault(entry.id, entry) is not entry:
                raise ValueError(f"two gazetteer entries share the id {entry.id!r}")
            for surface in entry.surfaces():
                self._by_key.setdefault(name_key(surface), entry)

    @classmethod
    def load(cls, path: Path) -> Gazetteer:
        """Read a YAML (or, for `.json`, JSON) list of `{name, type, aliases, uri}` entries."""
        text = path.read_text(encoding="utf-8")
        try:
            data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
            return cls(_ENTRIES.validate_python(data or []))
        except (ValueError, yaml.YAMLError, ValidationError) as exc:
            raise ValueError(f"invalid gazetteer {path}: {exc}") from exc

    @classmethod
    def default(cls) -> Gazetteer:
        return cls.load(DEFAULT_GAZETTEER)

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[GazetteerEntry]:
        return iter(self.entries)

    def get(self, entry_id: str) -> GazetteerEntry | None:
        return self._by_id.get(entry_id)

    def lookup(self, text: str) -> GazetteerEntry | None:
        return self._by_key.get(name_key(text))

    def ruler_patterns(self) -> list[dict[str, str]]:
        """Phrase patterns for spaCy's entity_ruler, each carrying its entry id."""
        return [
            {"label": RULER_LABELS[entry.type], "pattern": surface, "id": entry.id}
            for entry in self.entries
            for surface in entry.surfaces()
        ]
