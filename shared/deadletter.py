"""The dead-letter format, encoded and decoded in this one place.

A dead letter is flat string fields, readable by any Redis client: why the entry failed (`stage`,
`code`, `reason`, `delivery_count`, `failed_at`), where it came from (`source_stream`,
`source_entry_id`, `source`, `article_id`, `correlation_id`) and the original entry whole in
`payload` — its fields as one JSON object, values base64-encoded with `payload_encoding=base64`
when any of them is not UTF-8, so replay can put back every byte. Writers may add fields of their
own (`filename` for ingest's HTTP and CLI input; `subscriber`, `url`, `status`... for webhooks).

`payload` is at most PAYLOAD_HEAD_BYTES (64 KiB) of JSON, so one hostile entry cannot fill Redis:
a larger original keeps only its head (each value cut so the JSON fits) and says so with
`payload_truncated=true`; `payload_bytes` (the original values' size in bytes) and
`payload_sha256` (hex SHA-256 of the whole `payload` JSON before the cut) are always set. A cut
payload can be read but not replayed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

import orjson

from shared import streams
from shared.wire import Fields

PAYLOAD: Final = "payload"
PAYLOAD_ENCODING: Final = "payload_encoding"
BASE64: Final = "base64"
PAYLOAD_BYTES: Final = "payload_bytes"
PAYLOAD_SHA256: Final = "payload_sha256"
PAYLOAD_TRUNCATED: Final = "payload_truncated"
# Largest `payload` JSON kept in a dead letter, in bytes (64 KiB).
PAYLOAD_HEAD_BYTES: Final = 64 * 1024
# Every field a dead letter may have besides writer-specific extras (docs/asyncapi.yaml lists them).
FIELDS: Final = (
    "stage",
    "code",
    "reason",
    "delivery_count",
    "source_stream",
    "source_entry_id",
    "failed_at",
    "source",
    "article_id",
    "correlation_id",
    PAYLOAD,
    PAYLOAD_ENCODING,
    PAYLOAD_BYTES,
    PAYLOAD_SHA256,
    PAYLOAD_TRUNCATED,
)
REQUIRED: Final = ("stage", "code", "reason", "source_stream", PAYLOAD)


class DeadLetterError(ValueError):
    """A dead letter that cannot be read back; the message says why."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    stage: str
    code: str
    reason: str
    source_stream: str
    source_entry_id: str
    # The original entry's fields: exact bytes when the reader had them, else decoded text.
    original: Mapping[bytes, bytes] | Mapping[str, str]
    delivery_count: int = 1
    source: str | None = None
    article_id: str | None = None
    correlation_id: str | None = None
    failed_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # Writer-specific fields (ingest's `filename`, a webhook's `subscriber`, `status`...).
    extra: Mapping[str, str] = field(default_factory=dict)
    # True when `original` is only the head of what failed (see PAYLOAD_HEAD_BYTES).
    truncated: bool = False


def encode(letter: DeadLetter) -> Fields:
    """The dead letter as stream fields; source, article and correlation ids fall back to the
    original entry's own fields when not given."""
    fields: Fields = {
        "stage": letter.stage,
        "code": letter.code,
        "reason": letter.reason,
        "delivery_count": str(letter.delivery_count),
        "source_stream": letter.source_stream,
        "source_entry_id": letter.source_entry_id,
        "failed_at": letter.failed_at.isoformat(),
        **_encode_payload(letter.original),
    }
    text = _text_view(letter.original)
    for name, given, fallback in (
        ("source", letter.source, streams.INBOUND_SOURCE),
        ("article_id", letter.article_id, streams.FIELD_ARTICLE_ID),
        ("correlation_id", letter.correlation_id, streams.FIELD_CORRELATION_ID),
    ):
        value = given or text.get(fallback)
        if value:
            fields[name] = value
    fields.update(letter.extra)
    return fields


def original_fields(fields: Mapping[str, str], *, allow_head: bool = False) -> dict[str, bytes]:
    """The original entry's fields as exact bytes, from `payload` (and `payload_encoding`).

    A cut payload (`payload_truncated`) raises unless `allow_head`: replaying it would put back
    an entry that never was.
    """
    if fields.get(PAYLOAD_TRUNCATED) == "true" and not allow_head:
        raise DeadLetterError(
            f"only the first bytes of a {fields.get(PAYLOAD_BYTES, '?')}-byte payload were kept; "
            "it cannot be replayed"
        )
    try:
        payload = orjson.loads(fields[PAYLOAD])
    except KeyError:
        raise DeadLetterError("the dead letter has no 'payload' field") from None
    except orjson.JSONDecodeError as exc:
        raise DeadLetterError(f"'payload' is not JSON: {exc}") from exc
    if not isinstance(payload, dict) or not all(isinstance(v, str) for v in payload.values()):
        raise DeadLetterError("'payload' is not a JSON object of strings")
    encoding = fields.get(PAYLOAD_ENCODING)
    if encoding is None:
        return {k: v.encode("utf-8") for k, v in payload.items()}
    if encoding != BASE64:
        raise DeadLetterError(f"unknown payload_encoding {encoding!r}")
    try:
        return {k: base64.b64decode(v, validate=True) for k, v in payload.items()}
    except binascii.Error as exc:
        raise DeadLetterError(f"'payload' is not valid base64: {exc}") from exc


def decode(fields: Mapping[str, str]) -> DeadLetter:
    """A dead letter read back from its stream fields; unknown fields land in `extra`."""
    missing = [name for name in REQUIRED if name not in fields]
    if missing:
        raise DeadLetterError(f"the dead letter has no {', '.join(map(repr, missing))} field")
    try:
        count = int(fields.get("delivery_count", "1"))
        failed_at = datetime.fromisoformat(fields["failed_at"]) if "failed_at" in fields else None
    except ValueError as exc:
        raise DeadLetterError(f"unreadable dead letter: {exc}") from exc
    return DeadLetter(
        stage=fields["stage"],
        code=fields["code"],
        reason=fields["reason"],
        source_stream=fields["source_stream"],
        source_entry_id=fields.get("source_entry_id", ""),
        original={k.encode(): v for k, v in original_fields(fields, allow_head=True).items()},
        delivery_count=count,
        source=fields.get("source"),
        article_id=fields.get("article_id"),
        correlation_id=fields.get("correlation_id"),
        **({"failed_at": failed_at} if failed_at is not None else {}),
        extra={k: v for k, v in fields.items() if k not in FIELDS},
        truncated=fields.get(PAYLOAD_TRUNCATED) == "true",
    )


def _text_view(original: Mapping[bytes, bytes] | Mapping[str, str]) -> dict[str, str]:
    return {
        (k.decode("utf-8", "replace") if isinstance(k, bytes) else k): (
            v.decode("utf-8", "replace") if isinstance(v, bytes) else v
        )
        for k, v in original.items()
    }


def _encode_payload(original: Mapping[bytes, bytes] | Mapping[str, str]) -> Fields:
    """The entry's fields as JSON; base64 values when any is not UTF-8, so no byte is lost;
    only a head when the JSON is over PAYLOAD_HEAD_BYTES."""
    raw = {
        (k if isinstance(k, bytes) else k.encode()): (v if isinstance(v, bytes) else v.encode())
        for k, v in original.items()
    }
    fields: Fields = {PAYLOAD_BYTES: str(sum(len(v) for v in raw.values()))}
    values: dict[str, str]
    try:
        values = {k.decode(): v.decode() for k, v in raw.items()}
    except UnicodeDecodeError:
        values = {k.decode("utf-8", "replace"): base64.b64encode(v).decode() for k, v in raw.items()}
        fields[PAYLOAD_ENCODING] = BASE64
    whole = orjson.dumps(values)
    fields[PAYLOAD_SHA256] = hashlib.sha256(whole).hexdigest()
    if len(whole) <= PAYLOAD_HEAD_BYTES:
        fields[PAYLOAD] = whole.decode()
    else:
        # base64 is cut at a multiple of 4 characters, so that the head still decodes.
        fields[PAYLOAD] = _head(values, PAYLOAD_HEAD_BYTES, step=4 if PAYLOAD_ENCODING in fields else 1)
        fields[PAYLOAD_TRUNCATED] = "true"
    return fields


def _head(values: Mapping[str, str], limit: int, *, step: int = 1) -> str:
    """The longest prefix of each value, in order, whose JSON stays within `limit` bytes.

    Escaping can make a character cost up to 6 bytes (`\u0001`), so the cut is found by bisection
    on the encoded size rather than guessed from the character count.
    """
    kept: dict[str, str] = {}
    for key, value in values.items():
        kept[key] = ""
        if len(orjson.dumps(kept)) > limit:
            del kept[key]
            break
        low, high = 0, min(len(value), limit)  # every character costs at least a byte
        while low < high:  # the largest n with value[:n] fitting
            mid = (low + high + 1) // 2
            kept[key] = value[:mid]
            if len(orjson.dumps(kept)) <= limit:
                low = mid
            else:
                high = mid - 1
        kept[key] = value[: low - low % step]
    return orjson.dumps(kept).decode()
