"""Property-based run of schemathesis against the ingest API's own OpenAPI document.

The schema is built at import (no I/O: the same `build_openapi` the app serves, which the fixture
checks) because `schemathesis.pytest.from_fixture` fails under pytest 9.2 (it reads
`Function._nodeid`, which pytest no longer has). schemathesis drives the ASGI app from its own
event-loop thread and starts the app's lifespan there, so the async Redis client is used, and
closed, on that one loop only.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.python import asgi
from starlette.applications import Starlette

from services.ingest.api import BATCH_PATH, NDJSON, build_openapi, make_routes
from services.ingest.settings import IngestSettings
from shared.runtime.http import HttpContext
from shared.runtime.metrics import ServiceMetrics

pytestmark = pytest.mark.integration

TOKEN = "schemathesis-token"
SETTINGS = IngestSettings()

# What the default checks expect, narrowed or widened by what the document promises:
# - a schema-valid InboundArticle can still be refused on content (a 12-character body, an
#   unreadable date): 422 is a documented answer to valid JSON;
# - schema-violating input gets 422, 413 past the item limit, 415 for another media type;
# - in a batch, a schema-violating item is rejected on its own while the others are stored: 207.
CONFIG = schemathesis.Config.from_dict(
    {
        "checks": {
            "positive_data_acceptance": {"expected-statuses": ["2xx", "401", "422", "429"]},
            "negative_data_rejection": {"expected-statuses": ["401", "413", "415", "422", "429"]},
        },
        "operations": [
            {
                "include-path": BATCH_PATH,
                "checks": {
                    "negative_data_rejection": {
                        "expected-statuses": ["207", "401", "413", "415", "422", "429"]
                    }
                },
            }
        ],
    }
)


@schemathesis.serializer(NDJSON)
def _ndjson(_: schemathesis.SerializationContext, value: Any) -> bytes:
    """The documented array, one item per line; anything else (negative cases) as one line."""
    items = value if isinstance(value, list) else [value]
    # json, not orjson: generated integers may exceed 64 bits.
    return "\n".join(json.dumps(item) for item in items).encode()


schema = schemathesis.openapi.from_dict(build_openapi(SETTINGS, auth_required=True), config=CONFIG)


@pytest.fixture(scope="module")
def ingest_app(redis_url: str) -> Iterator[Starlette]:
    with redis.Redis.from_url(redis_url) as sync_client:
        sync_client.flushdb()
    client: aioredis.Redis = aioredis.Redis.from_url(redis_url)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await client.aclose()

    ctx = HttpContext(
        service="ingest",
        client=client,
        metrics=ServiceMetrics("ingest"),
        groups=[],
        tokens=frozenset({TOKEN}),
    )
    app = Starlette(routes=make_routes(ctx, SETTINGS), lifespan=lifespan)
    served = schemathesis.openapi.from_asgi("/openapi.json", app)
    assert served.raw_schema == schema.raw_schema
    yield app
    asgi.shutdown_lifespans()


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_openapi_document(case: schemathesis.Case[Any], ingest_app: Starlette) -> None:
    # The schema was loaded before the app existed: attach it, so that the checks' own probes
    # (e.g. the request without credentials) reach it as well.
    case.operation.app = case.operation.schema.app = ingest_app
    case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"})
