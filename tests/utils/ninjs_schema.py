"""Validate documents against the official IPTC ninjs JSON Schemas, offline.

The schemas live beside the repository (`../shared/spec/ninjs`) and are read from there, never
copied. Format checking is on. jsonschema only asserts `date-time` and `uri` when its optional
packages (rfc3339-validator, rfc3987) are installed, and they are not, so this module brings its
own checkers for the two formats ninjs uses, written from RFC 3339 and RFC 3986.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, Literal

from jsonschema import FormatChecker
from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for
from referencing import Registry, Resource

from tests.utils.paths import NINJS_SPEC

NinjsVersion = Literal["2.2", "3.1"]

GEOJSON_URL = "https://geojson.org/schema/GeoJSON.json"
SCHEMA_FILES: dict[NinjsVersion, str] = {
    "2.2": "ninjs-schema_2.2.json",
    "3.1": "ninjs-schema_3.1.json",
}
# Which examples each schema judges: 2.x documents against 2.2, 3.x against 3.1.
EXAMPLE_DIRS: dict[NinjsVersion, tuple[str, ...]] = {
    "2.2": ("2.1", "2.2-docs"),
    "3.1": ("3.0", "3.1-docs"),
}

# RFC 3339 section 5.6 date-time: full-date "T" full-time, offset mandatory; T and Z any case.
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt](\d{2}):\d{2}:(\d{2})(\.\d+)?([Zz]|[+-](\d{2}):(\d{2}))")
# RFC 3986 section 3 URI (absolute; a relative reference is not a `uri`): scheme ":" then only
# unreserved, sub-delims, ":@/?[]" or %XX before an optional single "#" fragment.
_URI_CHAR = r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?\[\]]|%[0-9A-Fa-f]{2})"
_URI = re.compile(rf"[A-Za-z][A-Za-z0-9+.\-]*:{_URI_CHAR}*(?:#{_URI_CHAR}*)?")


class NinjsInvalid(AssertionError):
    """A document the schema rejects; `errors` holds every violation."""

    def __init__(self, version: str, errors: list[ValidationError]) -> None:
        self.errors = errors
        lines = [f"{e.json_path}: {e.message}" for e in errors]
        super().__init__(f"not valid ninjs {version}:\n  " + "\n  ".join(lines))


def ninjs_schema_dir() -> Path:
    """`<repo>/../shared/spec/ninjs`, where the official schemas and examples are."""
    return NINJS_SPEC


def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True  # formats only judge strings
    match = _DATE_TIME.fullmatch(value)
    if match is None:
        return False
    hour, second, _, _, off_h, off_m = match.groups()
    if int(hour) > 23 or (off_h is not None and (int(off_h) > 23 or int(off_m) > 59)):
        return False
    # fromisoformat knows month lengths but not leap seconds, which RFC 3339 allows.
    normal = value[:17] + ("59" if second == "60" else second) + value[19:]
    try:
        datetime.fromisoformat(normal.upper().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _is_uri(value: object) -> bool:
    return not isinstance(value, str) or _URI.fullmatch(value) is not None


def format_checker() -> FormatChecker:
    checker = FormatChecker()
    checker.checks("date-time")(_is_date_time)
    checker.checks("uri")(_is_uri)
    return checker


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


@cache
def ninjs_validator(version: NinjsVersion) -> Validator:
    """A validator of the Draft the schema declares, with GeoJSON registered under its URL."""
    directory = ninjs_schema_dir()
    schema = _load(directory / SCHEMA_FILES[version])
    geojson = Resource.from_contents(_load(directory / "geojson-GeoJSON.json"))
    registry: Registry[Any] = Registry().with_resource(GEOJSON_URL, geojson)
    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, registry=registry, format_checker=format_checker())


def ninjs_errors(doc: dict[str, Any], version: NinjsVersion) -> list[ValidationError]:
    return sorted(ninjs_validator(version).iter_errors(doc), key=lambda e: e.json_path)


def validate_ninjs(doc: dict[str, Any], version: NinjsVersion) -> None:
    """Raise `NinjsInvalid` (listing every violation) unless `doc` is valid ninjs `version`."""
    errors = ninjs_errors(doc, version)
    if errors:
        raise NinjsInvalid(version, errors)


def example_paths(version: NinjsVersion) -> list[Path]:
    """The official example documents the given schema version judges."""
    root = ninjs_schema_dir() / "examples"
    return sorted(p for d in EXAMPLE_DIRS[version] for p in (root / d).glob("*.json"))
