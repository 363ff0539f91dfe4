"""HTML pages parsed in worker processes, each page with a time limit and a memory limit.

trafilatura and lxml on a hostile page (2 MB of `<p>x `) can take tens of seconds and hundreds of
megabytes; on the event loop that stalls every request and the health checks. A worker that runs
over its time is killed and replaced; one that runs out of memory (RLIMIT_AS) answers with a
rejection, or dies and is replaced. Either way the page is rejected as `too_complex`.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import socket
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from typing import Final

from services.ingest.formats import HTML, Code, Rejection, detect_content_type
from services.ingest.logic import Draft, parse_payload
from services.ingest.sources import NO_POLICY, SourcePolicy
from shared.logging import get_logger
from shared.runtime.children import child_environment, python_command

log = get_logger(__name__)

# A fresh interpreter, not fork (the service has threads by then) nor multiprocessing's spawn
# (which would import the whole CLI again in every worker): it imports this module only.
_WORKER_PROGRAM: Final = (
    "import sys\nfrom services.ingest.extraction import serve\nserve(int(sys.argv[1]), int(sys.argv[2]))\n"
)


@dataclass(frozen=True, slots=True)
class ParseJob:
    """The arguments of one `parse_payload` call."""

    payload: bytes
    content_type: str | None
    source: str
    received_at: datetime
    max_bytes: int
    max_future: timedelta
    max_body_chars: int
    filename: str | None = None
    policy: SourcePolicy = NO_POLICY

    def run(self) -> Draft | Rejection:
        return parse_payload(
            self.payload,
            self.content_type,
            source=self.source,
            received_at=self.received_at,
            max_bytes=self.max_bytes,
            max_future=self.max_future,
            max_body_chars=self.max_body_chars,
            filename=self.filename,
            policy=self.policy,
        )


def is_html(job: ParseJob) -> bool:
    return detect_content_type(job.payload, job.content_type, job.filename) == HTML


def _too_complex(detail: str) -> Rejection:
    return Rejection(Code.TOO_COMPLEX, f"the HTML page is too complex to extract: {detail}")


_READY: Final = "ready"
_WARM_UP: Final = ParseJob(
    b"<html><head><title>Warm up</title></head><body><article><p>"
    + b"A short page that sets the extractor up before the first real one. " * 3
    + b"</p></article></body></html>",
    "text/html",
    "warm-up",
    datetime(2024, 1, 1, tzinfo=UTC),
    max_bytes=10_000,
    max_future=timedelta(hours=48),
    max_body_chars=10_000,
)
# Seconds a new worker may take to import and warm up (a busy 2-core machine needs several).
START_TIMEOUT_S: Final = 120.0


def _serve(conn: Connection, memory_limit_bytes: int) -> None:
    """The worker's loop: one job in, one result out, until the parent closes the pipe."""
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = memory_limit_bytes if hard == resource.RLIM_INFINITY else min(memory_limit_bytes, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    # One small page first: trafilatura sets itself up lazily, and that must not count against
    # the first real page's time limit.
    _WARM_UP.run()
    conn.send(_READY)
    while True:
        try:
            job: ParseJob = conn.recv()
        except (EOFError, OSError):
            return
        result: Draft | Rejection
        try:
            result = job.run()
        except MemoryError:
            result = _too_complex(f"it needs more than {memory_limit_bytes // 2**20} MiB")
        conn.send(result)


def serve(fd: int, memory_limit_bytes: int) -> None:
    """A worker's entry point: the socket it was handed, and its memory limit in bytes."""
    _serve(Connection(fd), memory_limit_bytes)


class _Worker:
    def __init__(self, memory_limit_bytes: int) -> None:
        ours, theirs = socket.socketpair()
        # The worker reads jobs until its socket closes, so it ends with the service, -9 included.
        self.process = subprocess.Popen(  # noqa: S603 - a constant program of ours
            python_command(_WORKER_PROGRAM, str(theirs.fileno()), str(memory_limit_bytes)),
            pass_fds=(theirs.fileno(),),
            env=child_environment(),
            stdin=subprocess.DEVNULL,
        )
        theirs.close()
        self.conn = Connection(ours.detach())
        self.ready = False

    def wait_ready(self) -> _Worker:
        """Blocks until the worker has imported and warmed up; raises if it could not."""
        if not self.ready:
            if not self.conn.poll(START_TIMEOUT_S) or self.conn.recv() != _READY:
                self.kill()
                raise RuntimeError(f"an HTML worker did not start within {START_TIMEOUT_S} s")
            self.ready = True
        return self

    @classmethod
    def started(cls, memory_limit_bytes: int) -> _Worker:
        return cls(memory_limit_bytes).wait_ready()

    def call(self, job: ParseJob, time_limit_s: float) -> Draft | Rejection | None:
        """The result, or None when the worker ran out of time or died (it must be replaced)."""
        try:
            self.wait_ready()
            self.conn.send(job)
            if not self.conn.poll(time_limit_s):
                return None
            result: Draft | Rejection = self.conn.recv()
        except (EOFError, OSError):
            return None
        return result

    def kill(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()
        self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)


class HtmlWorkers:
    """A fixed set of worker processes; `parse` waits for a free one (requests queue up).

    The set starts on the first HTML page unless `start` is called first: a replica fed JSON and
    text only never pays for the workers (about 190 MB each). A worker also ends by itself when
    its socket closes, so a service killed with -9 leaves none.
    """

    def __init__(self, *, processes: int, time_limit_s: float, memory_limit_bytes: int) -> None:
        self.time_limit_s = time_limit_s
        self.memory_limit_bytes = memory_limit_bytes
        self.processes = processes
        self._idle: asyncio.Queue[_Worker] | None = None
        # Pages that arrive together while the set starts wait for one start, not one each.
        self._starting = asyncio.Lock()

    async def _queue(self) -> asyncio.Queue[_Worker]:
        if self._idle is not None:
            return self._idle
        async with self._starting:
            if self._idle is None:
                idle: asyncio.Queue[_Worker] = asyncio.Queue()
                for _ in range(self.processes):
                    idle.put_nowait(await asyncio.to_thread(_Worker.started, self.memory_limit_bytes))
                self._idle = idle
                log.info("html workers started", processes=self.processes)
            return self._idle

    @property
    def started(self) -> bool:
        return self._idle is not None

    async def start(self) -> None:
        """Start the workers now rather than on the first page (each imports trafilatura)."""
        await self._queue()

    async def close(self) -> None:
        """End the idle workers (a page being worked on ends its worker when it returns)."""
        if self._idle is None:
            return
        while not self._idle.empty():
            await asyncio.to_thread(self._idle.get_nowait().kill)

    async def parse(self, job: ParseJob) -> Draft | Rejection:
        idle = await self._queue()
        worker = await idle.get()
        try:
            result = await asyncio.to_thread(worker.call, job, self.time_limit_s)
            if result is None:
                log.warning("html worker replaced", time_limit_s=self.time_limit_s, bytes=len(job.payload))
                await asyncio.to_thread(worker.kill)
                # Not waited for: the next page's call waits for it to be ready, this answer doesn't.
                worker = _Worker(self.memory_limit_bytes)
                return _too_complex(
                    f"no result within {self.time_limit_s} s and {self.memory_limit_bytes // 2**20} MiB"
                )
            return result
        except BaseException:
            # Cancelled mid-page: the worker may still answer this job later, so it goes.
            worker.kill()
            worker = _Worker(self.memory_limit_bytes)
            raise
        finally:
            idle.put_nowait(worker)


async def parse_all(jobs: list[ParseJob], html: HtmlWorkers | None) -> list[Draft | Rejection]:
    """Every job's result in order: HTML pages in the workers when given, the rest inline."""
    if html is None:
        return [job.run() for job in jobs]
    return [await html.parse(job) if is_html(job) else job.run() for job in jobs]
