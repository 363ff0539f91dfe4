"""Stream-entry layout: how an `Envelope` becomes plain Redis stream fields and back.

Every entry we write has the whole envelope as JSON in `event`, and its headers repeated as
their own fields so that any client can route or filter without parsing JSON. See README,
"Wire format".
"""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from shared import streams
from shared.events import Envelope

EnvelopeT = TypeVar("EnvelopeT", bound=BaseModel)

Fields = dict[str, str]


class WireError(ValueError):
    """An entry that is not a well-formed newsflow event; the reason names what is wrong."""


def encode(event: Envelope[Any]) -> Fields:
    return fields_of(
        event_type=event.event_type.value,
        event_id=event.event_id,
        schema_version=event.schema_version,
        article_id=event.article_id,
        article_version=event.article_version,
        correlation_id=event.correlation_id,
        traceparent=event.traceparent,
        body=event.model_dump_json(),
    )


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


def decode_with_json(fields: Fields, model: type[EnvelopeT]) -> tuple[EnvelopeT, dict[str, Any]]:
    """The entry as `model` (validated as `decode` does) and its JSON as read, for a stage that
    passes parts of the event on as written instead of encoding them again."""
    body = fields.get(streams.FIELD_EVENT)
    if body is None:
        raise WireError(f"entry has no '{streams.FIELD_EVENT}' field (fields: {sorted(fields)})")
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise WireError(f"'{streams.FIELD_EVENT}' is not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise WireError(f"'{streams.FIELD_EVENT}' is not a JSON object")
    try:
        return model.model_validate(document), document
    except ValidationError as exc:
        raise WireError(f"'{streams.FIELD_EVENT}' is not a valid {model.__name__}: {exc}") from exc


def fields_of(
    *,
    event_type: str,
    event_id: str,
    schema_version: int,
    article_id: str,
    article_version: int,
    correlation_id: str,
    traceparent: str | None,
    body: str,
) -> Fields:
    """The stream fields of an event already serialised as `body` (the layout `encode` writes)."""
    fields: Fields = {
        streams.FIELD_EVENT_TYPE: event_type,
        streams.FIELD_EVENT_ID: event_id,
        streams.FIELD_SCHEMA_VERSION: str(schema_version),
        streams.FIELD_ARTICLE_ID: article_id,
        streams.FIELD_ARTICLE_VERSION: str(article_version),
        streams.FIELD_CORRELATION_ID: correlation_id,
        streams.FIELD_CONTENT_TYPE: "application/json",
        streams.FIELD_EVENT: body,
    }
    if traceparent:
        fields[streams.FIELD_TRACEPARENT] = traceparent
    return fields
