"""HTML worker processes: real trafilatura in a child interpreter, ended by the service's end."""

from __future__ import annotations

import asyncio
import subprocess
from datetime import UTC, datetime, timedelta

import psutil
import pytest

from services.ingest.extraction import HtmlWorkers, ParseJob
from services.ingest.logic import Draft
from tests.utils import pages

pytestmark = pytest.mark.asyncio


def page_job() -> ParseJob:
    return ParseJob(
        pages.news_page().encode(),
        "text/html",
        "workers-test",
        datetime.now(UTC),
        max_bytes=2_000_000,
        max_future=timedelta(hours=48),
        max_body_chars=200_000,
    )


async def test_a_worker_extracts_a_page_and_ends_when_its_service_end_of_the_socket_closes() -> None:
    workers = HtmlWorkers(processes=1, time_limit_s=30.0, memory_limit_bytes=1024 * 2**20)
    result = await workers.parse(page_job())
    assert isinstance(result, Draft)
    assert result.title
    assert len(result.body) > 200

    queue = await workers._queue()
    worker = queue.get_nowait()
    child = psutil.Process(worker.process.pid)
    # A fresh interpreter running the worker only, not the CLI or the service again.
    assert "services.ingest.extraction" in " ".join(child.cmdline())
    worker.conn.close()  # what the service's death does to the worker's socket
    try:
        await asyncio.to_thread(worker.process.wait, 10)
    except subprocess.TimeoutExpired:
        pytest.fail("the worker outlived its service's socket")
    worker.kill()  # reaps it


async def test_closing_the_workers_ends_their_processes() -> None:
    workers = HtmlWorkers(processes=2, time_limit_s=30.0, memory_limit_bytes=1024 * 2**20)
    await workers.start()
    queue = await workers._queue()
    started = [queue.get_nowait() for _ in range(2)]
    for worker in started:
        queue.put_nowait(worker)
    processes = [worker.process for worker in started]
    assert all(p.poll() is None for p in processes)
    await workers.close()
    assert all(p.poll() is not None for p in processes)


def extraction_children() -> list[psutil.Process]:
    return [
        child
        for child in psutil.Process().children()
        if "services.ingest.extraction" in " ".join(child.cmdline())
    ]


async def test_the_workers_start_on_the_first_page_once_however_many_pages_arrive_together() -> None:
    before = {child.pid for child in extraction_children()}
    workers = HtmlWorkers(processes=1, time_limit_s=30.0, memory_limit_bytes=1024 * 2**20)
    assert not workers.started
    assert {child.pid for child in extraction_children()} == before  # nothing held before HTML
    try:
        results = await asyncio.gather(*(workers.parse(page_job()) for _ in range(3)))
        assert all(isinstance(result, Draft) for result in results)
        assert workers.started
        new = [child for child in extraction_children() if child.pid not in before]
        assert len(new) == 1
    finally:
        await workers.close()
