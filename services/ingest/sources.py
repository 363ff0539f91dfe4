"""What ingest knows about each source beyond its payload: its time zone and default urgency."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from services.ingest.timezones import SourceZones

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
