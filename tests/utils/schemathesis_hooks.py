"""schemathesis hooks (`SCHEMATHESIS_HOOKS=tests.utils.schemathesis_hooks`): how to send an NDJSON
batch, which schemathesis cannot serialise by itself."""

from __future__ import annotations

import json
from typing import Any

import schemathesis

NDJSON = "application/x-ndjson"


@schemathesis.serializer(NDJSON)
def ndjson(_: schemathesis.SerializationContext, value: Any) -> bytes:
    """The documented body is a string of lines, sent as it is; anything else a negative case
    makes of it goes as one JSON line (json, not orjson: generated integers may exceed 64 bits)."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")  # a lone surrogate stays a bad byte sequence
    return json.dumps(value).encode()
