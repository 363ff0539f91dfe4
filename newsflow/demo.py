"""`newsflow demo`: the whole pipeline on a few articles, from a bare machine to readable summaries."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TextIO

import orjson
import redis.asyncio as aioredis

from newsflow.pipeline import expand_paths, push_file, run_pipeline, wait_group_idle, wait_settled
from newsflow.redis_server import RedisServer
from newsflow.samples import sample_paths
from newsflow.summary import render
from services.ingest.logic import split_file
from services.ingest.settings import IngestSettings
from services.ingest.stages import Submission, decide
from shared import streams
from shared.events import PublishedEvent
from shared.logging import get_logger
from shared.runtime.consumer import Skip

log = get_logger(__name__)


async def _already_published(client: aioredis.Redis, path: Path) -> list[PublishedEvent]:
    """Articles of `path` that ingest would skip as duplicates, with their stored published event."""
    submissions = [Submission(payload, ctype, "demo") for payload, ctype in split_file(path)]
    decisions = await decide(client, submissions, IngestSettings())
    found: list[PublishedEvent] = []
    for decision in decisions:
        if isinstance(decision.outcome, Skip) and decision.outcome.article_id:
            latest = await client.hget(streams.PUBLISH_LATEST, decision.outcome.article_id)  # type: ignore[misc]
            if latest is not None:
                found.append(PublishedEvent.model_validate_json(latest))
    return found if len(found) == len(submissions) else []


async def run_demo(
    paths: Sequence[Path],
    *,
    redis_url: str | None,
    as_json: bool,
    timeout_s: float = 180.0,
    out: TextIO = sys.stdout,
) -> int:
    files = expand_paths(paths) if paths else sample_paths()
    missing = [p for p in files if not p.is_file()]
    if missing:
        print(f"newsflow demo: no such file: {', '.join(map(str, missing))}", file=sys.stderr)
        return 2
    async with AsyncExitStack() as stack:
        if redis_url is None:
            server = stack.enter_context(RedisServer())
            redis_url = server.url
            log.info("started embedded redis-server", url=redis_url)
        pipeline = await stack.enter_async_context(run_pipeline(redis_url))
        client = aioredis.Redis.from_url(pipeline.redis_url)
        stack.push_async_callback(client.aclose)
        failures = 0
        # One file at a time, so earlier articles are indexed before later ones are tagged and
        # related links between them show.
        for path in files:
            duplicates = await _already_published(client, path)
            if duplicates:
                for event in duplicates:
                    _emit(event, out, as_json, note="unchanged: already published")
                continue
            pushed = await push_file(client, path, source="demo")
            settled = await wait_settled(client, [p.correlation_id for p in pushed], timeout_s=timeout_s)
            await wait_group_idle(client, streams.PUBLISHED, streams.ENRICH_INDEX_GROUP)
            for item in pushed:
                result = settled[item.correlation_id]
                if result.published is not None:
                    _emit(result.published, out, as_json)
                else:
                    failures += 1
                    letter = result.dead_letter or {}
                    reason = letter.get("reason", "unknown")
                    if as_json:
                        print(orjson.dumps({"path": str(path), "rejected": reason}).decode(), file=out)
                    else:
                        print(f"{path.name}: rejected: {reason}\n", file=out)
    return 1 if failures else 0


def _emit(event: PublishedEvent, out: TextIO, as_json: bool, note: str | None = None) -> None:
    if as_json:
        print(event.model_dump_json(), file=out)
        return
    text = render(event)
    print(f"{text}\n  ({note})\n" if note else f"{text}\n", file=out)
