"""The live feed's one reader per process: a single blocking XREAD on articles.published wakes
every SSE client, which then reads what it has not sent yet without blocking.

A blocking XREAD holds its connection for the whole wait, so one per client meant one Redis
connection per client (200 clients, 210 connections). Here the clients' reads are short and share
the bounded pool; only the shared reader blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared import streams
from shared.logging import get_logger

log = get_logger(__name__)

# Seconds the shared reader waits after a Redis error before it reads again.
READER_RETRY_S = 1.0


class LiveFeed:
    """Counts the clients (at most `max_clients`) and wakes them when entries arrive."""

    def __init__(self, client: aioredis.Redis, *, max_clients: int, block_s: float) -> None:
        self.client = client
        self.max_clients = max_clients
        self.block_ms = max(1, int(block_s * 1000))
        self.clients = 0
        self._arrived = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    def join(self) -> bool:
        """Count one more client; False when the feed is full."""
        if self.clients >= self.max_clients:
            return False
        self.clients += 1
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read(), name="publish-live-feed")
        return True

    def leave(self) -> None:
        self.clients -= 1
        if self.clients == 0 and self._reader is not None:
            self._reader.cancel()
            self._reader = None

    def ticket(self) -> asyncio.Event:
        """Taken before a client's read: set by the next arrival, so none falls between the
        read and the wait."""
        return self._arrived

    async def wait(self, arrived: asyncio.Event, timeout_s: float) -> bool:
        """Until entries arrived after `arrived` was taken (True) or `timeout_s` passed (False)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(arrived.wait(), timeout=timeout_s)
            return True
        return False

    async def _read(self) -> None:
        last = "$"
        while True:
            try:
                reply = await self.client.xread({streams.PUBLISHED: last}, count=1, block=self.block_ms)
            except (RedisConnectionError, RedisTimeoutError) as exc:
                log.warning("live feed reader: redis unreachable", error=repr(exc))
                await asyncio.sleep(READER_RETRY_S)
                continue
            for _, entries in reply or []:
                for entry_id, _fields in entries:
                    last = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
            if reply:
                # Wake everyone waiting now; later waiters wait for the next arrival.
                arrived, self._arrived = self._arrived, asyncio.Event()
                arrived.set()

    @contextlib.asynccontextmanager
    async def member(self) -> AsyncIterator[None]:
        try:
            yield
        finally:
            self.leave()
