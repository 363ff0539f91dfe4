"""What ingest knows about each source beyond its payload: its time zone, its default urgency, and
which inbound producers may write it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from services.ingest.timezones import SourceZones
from shared.settings import parse_source_grants

URGENCY_MIN: Final = 1  # ninjs: 1 is the most urgent
URGENCY_MAX: Final = 9


def parse_source_urgency(text: str) -> dict[str, int]:
    """`wire=3, blog=8` -> {source: urgency}, each 1 to 9."""
    defaults: dict[str, int] = {}
    for pair in text.split(","):
        if not pair.strip():
            continue
        source, sep, value = pair.partition("=")
        if not sep or not source.strip() or not value.strip().isdigit():
            raise ValueError(
                f"expected source=N pairs (N from 1 to 9) separated by commas, got {pair.strip()!r}"
            )
        urgency = int(value)
        if not URGENCY_MIN <= urgency <= URGENCY_MAX:
            raise ValueError(f"urgency of source {source.strip()!r} is {urgency}, not between 1 and 9")
        defaults[source.strip()] = urgency
    return defaults


@dataclass(frozen=True)
class SourcePolicy:
    zones: SourceZones = field(default_factory=SourceZones)
    urgency: Mapping[str, int] = field(default_factory=dict)

    def default_urgency(self, source: str) -> int | None:
        return self.urgency.get(source)


NO_POLICY: Final = SourcePolicy()


# A producer's name is part of a stream key and of an ACL key pattern: no glob, brace or separator.
_PRODUCER: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def parse_inbound_producers(text: str) -> dict[str, frozenset[str] | None]:
    """`agency-a:wire|sport, agency-b` -> {producer: the sources it may write, None for any}."""
    producers = parse_source_grants(text)
    for name in producers:
        if not _PRODUCER.fullmatch(name):
            raise ValueError(
                f"producer name {name!r}: use 1-64 letters, digits, '.', '_' or '-' "
                "(it becomes part of a stream name and of an ACL key pattern)"
            )
    return producers
