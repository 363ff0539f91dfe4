"""Pydantic models of IPTC ninjs 2.2 (`Ninjs2`) and 3.1 (`Ninjs3`), property for property.

They mirror the official JSON Schemas (`ninjs-schema_2.2.json`, `ninjs-schema_3.1.json`): every
object the schema closes (`additionalProperties`/`unevaluatedProperties: false`) forbids unknown
keys, enums are `Literal`s, numeric bounds and `oneOf`/`anyOf` rules are validators, and types are
strict (no "5" for 5). 2.x spells properties in lower case (`versioncreated`), 3.x in camelCase
(`versionCreated`); 3.x models use snake_case attributes with camelCase aliases.

Conventions:
- `None` means "absent": ninjs has no nullable properties, so `dump()` leaves out every `None`.
  No field has any other default, so what was not given is not written.
- `date-time` properties are checked as RFC 3339 (an offset is required) and kept as the string
  given, so a document dumps back exactly as it was read.
- `uri` properties are kept as given and not checked here: the official example
  `002_renditions_example.json` has `"uri": "renditions-example"`, which is not a URI, and every
  official example must load. Schema validation (`format: uri`) is where URIs are judged.
- `load()` reads JSON by the schema's names only; the constructor also takes Python names.
- Only what the schema leaves open is open: GeoJSON objects (their own schema) are
  `dict[str, Any]`, and 2.x `rightsinfo` (not closed in 2.2) keeps unknown keys.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StringConstraints,
    model_serializer,
    model_validator,
)
from pydantic.alias_generators import to_camel

# RFC 3339 section 5.6 `date-time`, which JSON Schema's `format: date-time` means: the offset
# (`Z` or ±hh:mm) is mandatory, `T`/`Z` may be lower case, a leap second (:60) is allowed.
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:[Zz]|[+-](\d{2}):(\d{2}))"
)


def _rfc3339(value: str) -> str:
    match = _RFC3339.fullmatch(value)
    if match is None:
        raise ValueError("not an RFC 3339 date-time (a time zone offset is required)")
    year, month, day, hour, minute, second, off_h, off_m = (
        int(g) if g is not None else 0 for g in match.groups()
    )
    date(year, month, day)  # raises ValueError on 2023-02-30
    if hour > 23 or minute > 59 or second > 60 or off_h > 23 or off_m > 59:
        raise ValueError("time or offset out of range")
    return value


DateTime = Annotated[str, AfterValidator(_rfc3339)]
# 2.x `number`: an int stays an int and a float a float, so dumps equal what was read.
Number = int | float
Percent = Annotated[int, Field(ge=0, le=100)]
# 3.x `truncatedDateTimeType`: YYYY, YYYY-MM, YYYY-MM-DD or a full date-time, zone optional.
TruncatedDateTime = Annotated[
    str,
    StringConstraints(
        pattern=r"^(-?(?:[1-9][0-9]*)?[0-9]{4})(-(1[0-2]|0[1-9])(-(3[01]|0[1-9]|[12][0-9])"
        r"(T(2[0-3]|[01][0-9]):([0-5][0-9]):([0-5][0-9])(\.[0-9]+)?"
        r"(Z|[+-](?:2[0-3]|[01][0-9]):[0-5][0-9])?)?)?)?$"
    ),
]
PubStatusValue = Literal["usable", "withheld", "canceled"]
RepresentationType = Literal["full", "partial"]


def _exactly_one(model: BaseModel, *names: str) -> None:
    """The schemas' `oneOf: [{required: [a]}, {required: [b]}]`."""
    present = [n for n in names if getattr(model, n) is not None]
    if len(present) != 1:
        raise ValueError(f"exactly one of {', '.join(names)} is required, got {present or 'none'}")


class NinjsModel(BaseModel):
    """Base of every ninjs object: closed, strict, and dumped as schema-shaped JSON."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )

    @classmethod
    def load(cls, document: dict[str, Any]) -> Self:
        """Read a JSON document: only the schema's property names count, not the Python names.

        (`model_validate` and the constructor also take the Python names, for building.)
        """
        return cls.model_validate(document, by_alias=True, by_name=False)

    def dump(self) -> dict[str, Any]:
        """The JSON object for this model, with the schema's property names and no absent ones."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


# --------------------------------------------------------------------------------------------
# ninjs 2.2 (2.1 documents are 2.2 documents: 2.2 only added `digitalsourcetype`)
# --------------------------------------------------------------------------------------------


class Address2(NinjsModel):
    lines: list[str] | None = None
    locality: str | None = None
    area: str | None = None
    postalcode: str | None = None
    country: str | None = None


class ContactInfo2(NinjsModel):
    type: str | None = None
    role: str | None = None
    lang: str | None = None
    name: str | None = None
    value: str | None = None
    address: Address2 | None = None

    @model_validator(mode="after")
    def _value_or_address(self) -> Self:
        _exactly_one(self, "value", "address")
        return self


class Description2(NinjsModel):
    role: str | None = None
    contenttype: str | None = None
    value: str


class Body2(NinjsModel):
    role: str | None = None
    contenttype: str | None = None
    charcount: Number | None = None
    wordcount: Number | None = None
    value: str


class Headline2(NinjsModel):
    role: str | None = None
    contenttype: str | None = None
    value: str


class Person2(NinjsModel):
    name: str | None = None
    rel: str | None = None
    uri: str | None = None
    literal: str | None = None
    contactinfo: list[ContactInfo2] | None = None


class Symbol2(NinjsModel):
    ticker: str | None = None
    exchange: str | None = None
    symboltype: str | None = None
    symbol: str | None = None


class Organisation2(NinjsModel):
    name: str | None = None
    rel: str | None = None
    uri: str | None = None
    literal: str | None = None
    symbols: list[Symbol2] | None = None
    contactinfo: list[ContactInfo2] | None = None


class Place2(NinjsModel):
    name: str | None = None
    rel: str | None = None
    uri: str | None = None
    literal: str | None = None
    contactinfo: list[ContactInfo2] | None = None
    geojson: dict[str, Any] | None = None  # a GeoJSON object, judged by the GeoJSON schema


class Subject2(NinjsModel):
    name: str | None = None
    rel: str | None = None
    uri: str | None = None
    literal: str | None = None
    creator: str | None = None
    relevance: Percent | None = None
    confidence: Percent | None = None


class Event2(NinjsModel):
    name: str | None = None
    rel: str | None = None
    uri: str | None = None
    literal: str | None = None


class Object2(NinjsModel):
    name: str | None = None
    rel: str | None = None
    uri: str | None = None
    literal: str | None = None


class InfoSource2(NinjsModel):
    name: str | None = None
    role: str | None = None
    uri: str | None = None
    literal: str | None = None
    contactinfo: list[ContactInfo2] | None = None


class Rendition2(NinjsModel):
    name: str
    href: str | None = None
    contenttype: str | None = None
    title: str | None = None
    height: Number | None = None
    width: Number | None = None
    sizeinbytes: Number | None = None
    duration: Number | None = None  # seconds
    format: str | None = None


class AltId2(NinjsModel):
    role: str | None = None
    value: str | None = None


class TrustIndicator2(NinjsModel):
    role: str | None = None
    title: str | None = None
    href: str | None = None


class Standard2(NinjsModel):
    name: str | None = None
    version: str | None = None
    schema_: str | None = Field(None, alias="schema")  # `schema` would shadow a BaseModel method


class Genre2(NinjsModel):
    name: str | None = None
    uri: str | None = None
    literal: str | None = None


class RightsInfo2(NinjsModel):
    # 2.2 leaves `rightsinfo` open (no additionalProperties), unlike 3.1.
    model_config = ConfigDict(extra="allow")

    langid: str | None = None
    linkedrights: str | None = None
    encodedrights: str | None = None

    @model_validator(mode="after")
    def _linked_or_encoded(self) -> Self:
        _exactly_one(self, "linkedrights", "encodedrights")
        return self

    @model_serializer(mode="wrap")
    def _keep_null_extras(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # exclude_none would drop an unknown key whose value is null; it is data, keep it.
        data: dict[str, Any] = handler(self)
        data.update({k: None for k, v in (self.__pydantic_extra__ or {}).items() if v is None})
        return data


class DigitalSourceType2(NinjsModel):
    name: str | None = None
    uri: str | None = None
    literal: str | None = None


class _NinjsType2(NinjsModel):
    """`$defs/ninjsType` of 2.2: what a document and each of its associations may hold."""

    uri: str
    type: Literal["text", "audio", "video", "picture", "graphic", "composite", "component"] | None = None
    representationtype: RepresentationType | None = None
    profile: str | None = None
    version: str | None = None
    firstcreated: DateTime | None = None
    versioncreated: DateTime | None = None
    contentcreated: DateTime | None = None
    embargoed: DateTime | None = None
    pubstatus: PubStatusValue | None = None
    urgency: Number | None = None  # 1 (highest) to 9 (lowest); 2.2 does not enforce the range
    copyrightholder: str | None = None
    copyrightnotice: str | None = None
    usageterms: str | None = None
    ednote: str | None = None
    language: str | None = None
    descriptions: list[Description2] | None = None
    bodies: list[Body2] | None = None
    headlines: list[Headline2] | None = None
    people: list[Person2] | None = None
    organisations: list[Organisation2] | None = None
    places: list[Place2] | None = None
    subjects: list[Subject2] | None = None
    events: list[Event2] | None = None
    objects: list[Object2] | None = None
    infosources: list[InfoSource2] | None = None
    title: str | None = None
    by: str | None = None
    slugline: str | None = None
    located: str | None = None
    renditions: list[Rendition2] | None = None
    associations: list[Association2] | None = None
    altids: list[AltId2] | None = None
    trustindicators: list[TrustIndicator2] | None = None
    standard: Standard2 | None = None
    genres: list[Genre2] | None = None
    expires: DateTime | None = None
    rightsinfo: RightsInfo2 | None = None
    digitalsourcetype: DigitalSourceType2 | None = None


class Association2(_NinjsType2):
    """An associated news object: any ninjs property, plus a required `name` (and `uri`)."""

    name: str


class Ninjs2(_NinjsType2):
    """An IPTC ninjs 2.2 document (also reads 2.1 documents)."""


# --------------------------------------------------------------------------------------------
# ninjs 3.1 (3.0 documents are 3.1 documents)
# --------------------------------------------------------------------------------------------


class NinjsModel3(NinjsModel):
    model_config = ConfigDict(alias_generator=to_camel)


class RecurrenceRule3(NinjsModel3):
    frequency: Literal["secondly", "minutely", "hourly", "daily", "weekly", "monthly", "yearly"] | None = None
    interval: int | None = None
    until: DateTime | None = None
    count: int | None = None


class Recurrence3(NinjsModel3):
    # The published schema says `type: array` and `$ref` to a string type here, which no value
    # satisfies; this models the evident intent (a list of truncated date-times).
    recurrence_dates: list[TruncatedDateTime] | None = None
    recurrence_rules: list[RecurrenceRule3] | None = None


class Dates3(NinjsModel3):
    """`$defs/datesObjectType`: a start or an end (each exact or expected) is required."""

    start_date: DateTime | None = None
    end_date: DateTime | None = None
    expected_start_date: TruncatedDateTime | None = None
    expected_end_date: TruncatedDateTime | None = None
    expected_duration: str | None = None  # RFC 5545 duration, e.g. PT1H30M
    recurrence: Recurrence3 | None = None

    @model_validator(mode="after")
    def _start_or_end(self) -> Self:
        starts = (self.start_date is not None) + (self.expected_start_date is not None)
        ends = (self.end_date is not None) + (self.expected_end_date is not None)
        if starts != 1 and ends != 1:
            raise ValueError(
                "exactly one of startDate/expectedStartDate or of endDate/expectedEndDate is needed"
            )
        return self


class Address3(NinjsModel3):
    lines: list[str] | None = None
    locality: str | None = None
    area: str | None = None
    postal_code: str | None = None
    country: str | None = None


class ContactInfo3(NinjsModel3):
    type: str | None = None
    role: str | None = None
    lang: str | None = None
    name: str | None = None
    value: str | None = None
    address: Address3 | None = None

    @model_validator(mode="after")
    def _value_or_address(self) -> Self:
        _exactly_one(self, "value", "address")
        return self


class CommissionedReference3(NinjsModel3):
    name: str | None = None
    value: str | None = None


class Commissioned3(NinjsModel3):
    by: str | None = None
    on: DateTime | None = None
    references: list[CommissionedReference3] | None = None


class Symbol3(NinjsModel3):
    exchange: str | None = None
    symbol_type: str | None = None
    symbol: str | None = None


class Organisation3(NinjsModel3):
    name: str | None = None
    rel: str | None = None
    uri: str | None = None
    literal: str | None = None
    symbols: list[Symbol3] | None = None
    contact_info: list[ContactInfo3] | None = None


class Poi3(NinjsModel3):
    x: int | None = None  # pixels from the left
    y: int | None = None  # pixels from the top


class Rendition3(NinjsModel3):
    name: str
    href: str | None = None
    content_type: str | None = None
    title: str | None = None
    width: int | None = None  # pixels
    height: int | None = None  # pixels
    size_in_bytes: int | None = None
    duration: Number | None = None  # seconds
    format: str | None = None
    aspect_ratio: str | None = None
    video_codec: str | None = None
    frame_rate: Number | None = None  # frames per second
    poi: Poi3 | None = None
    transport_protocol: str | None = None
    scan_type: Literal["progressive", "interlaced"] | None = None
    bitrate: str | None = None  # with units, e.g. "400 kbps"


NewsObjectType = Literal[
    "text", "audio", "video", "picture", "graphic", "composite", "component", "event", "planning"
]


class Description3(NinjsModel3):
    role: str | None = None
    content_type: str | None = None
    value: str


class Body3(NinjsModel3):
    role: str | None = None
    content_type: str | None = None
    char_count: int | None = None
    word_count: int | None = None
    value: str


class Headline3(NinjsModel3):
    role: str | None = None
    content_type: str | None = None
    value: str


class Person3(NinjsModel3):
    name: str | None = None
    rel: str | None = None
    uri: str | None = None
    literal: str | None = None
    contact_info: list[ContactInfo3] | None = None


class Place3(NinjsModel3):
    name: str | None = None
    rel: str | None = None
    uri: str | None = None
    literal: str | None = None
    contact_info: list[ContactInfo3] | None = None
    geo_json: dict[str, Any] | None = Field(None, alias="geoJSON")  # judged by the GeoJSON schema


class Subject3(NinjsModel3):
    name: str | None = None
    rel: str | None = None
    uri: str | None = None
    literal: str | None = None
    creator: str | None = None
    relevance: Percent | None = None
    confidence: Percent | None = None


class Event3(NinjsModel3):
    id: str | None = None
    name: str | None = None
    rel: str | None = None
    uri: str | None = None
    literal: str | None = None


class EventDetails3(NinjsModel3):
    event_status: str | None = None
    planned_coverage_status: str | None = None
    dates: Dates3 | None = None
    organiser: Organisation3 | None = None


class Audience3(NinjsModel3):
    audience: str | None = None
    significance: int | None = None


class ItemCount3(NinjsModel3):
    range_from: int | None = None
    range_to: int | None = None


class PlannedCoverage3(NinjsModel3):
    uri: str | None = None
    title: str | None = None
    pub_status: PubStatusValue | None = None
    type: NewsObjectType | None = None
    commissioned: Commissioned3 | None = None
    dates: Dates3 | None = None
    audiences: list[Audience3] | None = None
    excl_audience: list[str] | None = None
    ed_note: str | None = None
    urgency: Annotated[int, Field(ge=1, le=9)] | None = None
    language: str | None = None
    item_count: ItemCount3 | None = None
    word_count: int | None = None
    renditions: list[Rendition3] | None = None


class Object3(NinjsModel3):
    name: str | None = None
    rel: str | None = None
    uri: str | None = None
    literal: str | None = None


class InfoSource3(NinjsModel3):
    name: str | None = None
    role: str | None = None
    uri: str | None = None
    literal: str | None = None
    contact_info: list[ContactInfo3] | None = None


class AltId3(NinjsModel3):
    role: str | None = None
    value: str | None = None


class TrustIndicator3(NinjsModel3):
    role: str | None = None
    title: str | None = None
    href: str | None = None


class Standard3(NinjsModel3):
    name: str | None = None
    version: str | None = None
    schema_: str | None = Field(None, alias="schema")  # `schema` would shadow a BaseModel method


class Genre3(NinjsModel3):
    name: str | None = None
    uri: str | None = None
    literal: str | None = None


class RightsInfo3(NinjsModel3):
    lang_id: str | None = None
    linked_rights: str | None = None
    encoded_rights: str | None = None

    @model_validator(mode="after")
    def _linked_or_encoded(self) -> Self:
        _exactly_one(self, "linked_rights", "encoded_rights")
        return self


class DigitalSourceType3(NinjsModel3):
    name: str | None = None
    uri: str | None = None
    literal: str | None = None


class _NinjsType3(NinjsModel3):
    """`$defs/ninjsType` of 3.1: what a document and each of its associations may hold."""

    uri: str
    type: NewsObjectType | None = None
    representation_type: RepresentationType | None = None
    profile: str | None = None
    version: str | None = None
    first_created: DateTime | None = None
    version_created: DateTime | None = None
    content_created: DateTime | None = None
    embargoed_until: DateTime | None = None
    pub_status: PubStatusValue | None = None
    urgency: Annotated[int, Field(ge=1, le=9)] | None = None  # 1 is the most urgent
    copyright_holder: str | None = None
    copyright_notice: str | None = None
    usage_terms: str | None = None
    ed_note: str | None = None
    language: str | None = None
    descriptions: list[Description3] | None = None
    bodies: list[Body3] | None = None
    headlines: list[Headline3] | None = None
    people: list[Person3] | None = None
    organisations: list[Organisation3] | None = None
    places: list[Place3] | None = None
    subjects: list[Subject3] | None = None
    events: list[Event3] | None = None
    event_details: EventDetails3 | None = None
    planned_coverage: list[PlannedCoverage3] | None = None
    objects: list[Object3] | None = None
    info_sources: list[InfoSource3] | None = None
    title: str | None = None
    by: str | None = None
    slugline: str | None = None
    located: str | None = None
    renditions: list[Rendition3] | None = None
    associations: list[Association3] | None = None
    alt_ids: list[AltId3] | None = None
    trust_indicators: list[TrustIndicator3] | None = None
    standard: Standard3 | None = None
    genres: list[Genre3] | None = None
    expires: DateTime | None = None
    rights_info: RightsInfo3 | None = None
    digital_source_type: DigitalSourceType3 | None = None


class Association3(_NinjsType3):
    """An associated news object: any ninjs property, plus a required `name` (and `uri`)."""

    name: str
    rel: str | None = None  # relationship of this document to the associated one


class Ninjs3(_NinjsType3):
    """An IPTC ninjs 3.1 document (also reads 3.0 documents)."""


def schema_problem(document: dict[str, Any], version: Literal["2.2", "3.1"]) -> str | None:
    """Why `document` is not a document of this ninjs version by these models, or None if it is
    (publish builds documents as plain dicts and checks a sample of them with this)."""
    model: type[Ninjs2] | type[Ninjs3] = Ninjs2 if version == "2.2" else Ninjs3
    try:
        if model.load(document).dump() != document:
            return "the document does not read back as written (an unknown or mistyped value)"
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        return str(exc)
    return None
