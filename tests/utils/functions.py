"""Load the newsflow Functions library into a test Redis, as `newsflow redis functions load` does."""

from __future__ import annotations

import redis

from shared.runtime import functions


def load_library(url: str) -> None:
    """FUNCTION LOAD REPLACE: idempotent, and kept by FLUSHDB/FLUSHALL between tests."""
    client = redis.Redis.from_url(url)
    try:
        client.function_load(functions.LIBRARY_CODE, replace=True)
    finally:
        client.close()
