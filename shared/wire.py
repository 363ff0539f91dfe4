"""Stream-entry layout: how an `Envelope` becomes plain Redis stream fields and back.

Every entry we write has the whole envelope as JSON in `event`, and its headers repeated as
their own fields so that any client can route or filter without parsing JSON. See README,
"Wire format".
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from shared import streams
from shared.events import Envelope

EnvelopeT = TypeVar("EnvelopeT", bound=BaseModel)

Fields = dict[str, str]


class WireError(ValueError):
    """An entry that is not a well-formed newsflow event; the reason names what is wrong."""


def encode(event: Envelope[Any]) -> Fields:
    fields: Fields = {
        streams.FIELD_EVENT_TYPE: event.event_type.value,
        streams.FIELD_EVENT_ID: event.event_id,
        streams.FIELD_SCHEMA_VERSION: str(event.schema_version),
        streams.FIELD_ARTICLE_ID: event.article_id,
        streams.FIELD_ARTICLE_VERSION: str(event.article_version),
        streams.FIELD_CORRELATION_ID: event.correlation_id,
        streams.FIELD_CONTENT_TYPE: "application/json",
        streams.FIELD_EVENT: event.model_dump_json(),
    }
    if event.traceparent:
        fields[streams.FIELD_TRACEPARENT] = event.traceparent
    return fields


def as_text(value: bytes | str) -> str:
    """A Redis reply as text, whichever way the client was made (invalid UTF-8 bytes replaced)."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def text_fields(raw: dict[bytes, bytes] | dict[str, str]) -> Fields:
    """Decode an entry's field names and values as UTF-8 text (invalid bytes replaced)."""
    # Inlined `as_text`: this runs for every field of every entry read.
    return {
        (k.decode("utf-8", "replace") if isinstance(k, bytes) else k): (
            v.decode("utf-8", "replace") if isinstance(v, bytes) else v
        )
        for k, v in raw.items()
    }


def decode(fields: Fields, model: type[EnvelopeT]) -> EnvelopeT:
    body = fields.get(streams.FIELD_EVENT)
    if body is None:
        raise WireError(f"entry has no '{streams.FIELD_EVENT}' field (fields: {sorted(fields)})")
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise WireError(f"'{streams.FIELD_EVENT}' is not a valid {model.__name__}: {exc}") from exc
