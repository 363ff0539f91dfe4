"""The three services in one process (demo, tests) and helpers to feed and watch a running system."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from opentelemetry.sdk.trace.export import SpanExporter

from services.enrich.app import create_service as create_enrich
from services.enrich.logic import Tagger
from services.enrich.settings import EnrichSettings
from services.ingest.app import create_service as create_ingest
from services.ingest.logic import split_file
from services.ingest.settings import IngestSettings
from services.publish.app import create_service as create_publish
from services.publish.settings import PublishSettings
from shared import streams, wire
from shared.events import PublishedEvent, new_event_id
from shared.runtime.service import RunningService, run_service
from shared.settings import ServiceSettings

INGESTIBLE_SUFFIXES = (".json", ".ndjson", ".jsonl", ".txt", ".text", ".html", ".htm")


@dataclass
class Pipeline:
    redis_url: str
    running: dict[str, RunningService]


@asynccontextmanager
async def run_pipeline(
    redis_url: str,
    *,
    tagger: Tagger | None = None,
    http_ports: Mapping[str, int] | None = None,
    reclaim_idle_ms: int = 30_000,
    span_exporter: SpanExporter | None = None,
    partitions: int = 1,
) -> AsyncIterator[Pipeline]:
    """Start ingest, enrich and publish as tasks of this process; stop them gracefully on exit.

    HTTP (health, metrics, APIs) is off unless `http_ports` names a port per service.
    """

    def port(cls: type[ServiceSettings]) -> int:
        name = {IngestSettings: "ingest", EnrichSettings: "enrich", PublishSettings: "publish"}[cls]
        return (http_ports or {}).get(name, 0)

    services = [
        create_ingest(
            IngestSettings(
                redis_url=redis_url,
                reclaim_idle_ms=reclaim_idle_ms,
                poll_interval_ms=50,
                partitions=partitions,
                http_port=port(IngestSettings),
            )
        ),
        create_enrich(
            EnrichSettings(
                redis_url=redis_url,
                reclaim_idle_ms=reclaim_idle_ms,
                poll_interval_ms=50,
                partitions=partitions,
                http_port=port(EnrichSettings),
            ),
            tagger=tagger,
        ),
        create_publish(
            PublishSettings(
                redis_url=redis_url,
                reclaim_idle_ms=reclaim_idle_ms,
                poll_interval_ms=50,
                partitions=partitions,
                http_port=port(PublishSettings),
            )
        ),
    ]
    for service in services:
        service.span_exporter = span_exporter
    stop = asyncio.Event()
    running: dict[str, RunningService] = {}
    tasks = [
        asyncio.create_task(
            run_service(svc, stop=stop, started=lambda r: running.__setitem__(r.service.name, r)),
            name=f"service-{svc.name}",
        )
        for svc in services
    ]
    try:
        while len(running) < len(services):
            for task in tasks:
                if task.done():
                    task.result()  # a service that died at start: raise its error here
            await asyncio.sleep(0.05)
        yield Pipeline(redis_url, running)
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)


def expand_paths(paths: Sequence[Path]) -> list[Path]:
    """Files as given; folders walked for the formats ingest reads, in name order."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(
                sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in INGESTIBLE_SUFFIXES)
            )
        else:
            files.append(path)
    return files


@dataclass(frozen=True)
class Pushed:
    path: Path
    correlation_id: str
    entry_id: str


async def push_file(client: aioredis.Redis, path: Path, *, source: str = "cli") -> list[Pushed]:
    """XADD each article of a file to the inbound stream, as any upstream producer would."""
    pushed: list[Pushed] = []
    for payload, content_type in split_file(path):
        correlation_id = new_event_id()
        entry_id = await client.xadd(
            streams.INBOUND,
            {
                streams.INBOUND_PAYLOAD: payload,
                streams.INBOUND_CONTENT_TYPE: content_type,
                streams.INBOUND_SOURCE: f"{source}:{path.name}",
                streams.FIELD_CORRELATION_ID: correlation_id,
            },
        )
        pushed.append(Pushed(path, correlation_id, entry_id.decode()))
    return pushed


@dataclass(frozen=True)
class Settled:
    correlation_id: str
    published: PublishedEvent | None = None
    dead_letter: dict[str, str] | None = None


async def wait_settled(
    client: aioredis.Redis, correlation_ids: Sequence[str], *, timeout_s: float = 120.0
) -> dict[str, Settled]:
    """Wait until each correlation id appears in the published stream or the dead-letter stream."""
    wanted = set(correlation_ids)
    found: dict[str, Settled] = {}
    cursors: dict[Any, Any] = {streams.PUBLISHED: "0-0", streams.DLQ: "0-0"}
    deadline = time.monotonic() + timeout_s
    while wanted - found.keys():
        if time.monotonic() > deadline:
            missing = sorted(wanted - found.keys())
            raise TimeoutError(
                f"{len(missing)} article(s) not settled after {timeout_s:.0f} s: {missing[:5]}"
            )
        reply = await client.xread(cursors, count=500, block=200)
        for stream_name, entries in reply or []:
            name = stream_name.decode()
            for entry_id, raw in entries:
                cursors[name] = entry_id.decode()
                fields = wire.text_fields(raw)
                cid = fields.get(streams.FIELD_CORRELATION_ID)
                if cid not in wanted:
                    continue
                if name == streams.PUBLISHED:
                    found[cid] = Settled(cid, published=wire.decode(fields, PublishedEvent))
                else:
                    found[cid] = Settled(cid, dead_letter=fields)
    return found


async def wait_group_idle(
    client: aioredis.Redis, stream: str, group: str, *, timeout_s: float = 30.0
) -> None:
    """Until the group has read everything and acknowledged it (lag and pending both zero)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        length = await client.xlen(stream)
        for row in await client.xinfo_groups(stream):
            if row["name"].decode() == group:
                last = row["last-delivered-id"].decode()
                last_entry = await client.xrevrange(stream, count=1)
                caught_up = length == 0 or (last_entry and last_entry[0][0].decode() == last)
                if caught_up and int(row["pending"]) == 0:
                    return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"group {group} on {stream} still busy after {timeout_s} s")
