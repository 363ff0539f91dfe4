"""Source time zones: a zone-less source date is read in its source's IANA zone.

A newsroom knows where each source writes from; "3:17 pm" from a London site is 15:17 London
time, which is +01:00 in summer and +00:00 in winter. `zoneinfo` carries the DST rules; on a
machine without /usr/share/zoneinfo the `tzdata` package (a dependency) supplies them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def load_zone(name: str) -> ZoneInfo:
    """The zone of an IANA name; ValueError (for settings validation) when it is unknown."""
    text = name.strip()
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA time zone {text!r} (e.g. Europe/London, America/New_York)") from exc


def parse_source_zones(text: str) -> dict[str, str]:
    """`wire=Europe/London, cms=America/New_York` -> {source: zone name}, every zone checked."""
    zones: dict[str, str] = {}
    for pair in text.split(","):
        if not pair.strip():
            continue
        source, sep, zone = pair.partition("=")
        if not sep or not source.strip() or not zone.strip():
            raise ValueError(f"expected source=Zone pairs separated by commas, got {pair.strip()!r}")
        zones[source.strip()] = load_zone(zone).key
    return zones


def localise(value: datetime, zone: ZoneInfo) -> datetime:
    """A naive wall-clock time as an aware one in `zone`.

    Ambiguous times (the repeated hour when clocks go back) take the first, summer-time, reading
    (fold=0); times in the gap when clocks go forward do not exist and are moved forward by the
    gap, as a clock that was not changed would show them (a round trip through UTC does that).
    """
    aware = value.replace(tzinfo=zone, fold=0)
    return aware.astimezone(UTC).astimezone(zone)


@dataclass(frozen=True)
class SourceZones:
    """Which zone a source's zone-less dates are in: its own, else the default, else none."""

    default: str | None = None
    by_source: Mapping[str, str] = field(default_factory=dict)

    def zone_for(self, source: str) -> ZoneInfo | None:
        name = self.by_source.get(source, self.default)
        return ZoneInfo(name) if name else None
