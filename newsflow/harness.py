"""Process harness of `newsflow bench` and the chaos suite: the services as real OS processes.

Each service runs as `newsflow run <name>` in its own process group (so a signal
reaches its children), against a Redis URL the caller owns, with JSON logs at INFO in one file per
start. What the harness offers, for both callers:

- `service_env` / `ServiceProcess`: start, readiness (the `started` log line), kill -9, graceful
  stop, restart (start the same object again), log tail and JSON log records, CPU seconds and
  run-queue seconds (time it was ready to run but the machine's CPUs were busy with other work);
- `ProcessSet`: the processes of one run (replicas are more of one name), checked and stopped
  together, optionally under cProfile and watched by an `RssSampler` (peak RSS per name);
- `wait_all_ready`, `check_alive`, `stop_all`, `group_members`: the same over many processes;
- `groups_behind` / `wait_groups_idle`: consumer groups that have not read or acknowledged all.

Everything is synchronous. Tests may import this module; it imports nothing from tests.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, cast

import orjson
import psutil
import redis

from shared.wire import as_text

SERVICES: Final = ("ingest", "enrich", "publish")
STARTED_LINE: Final = b'"event":"started"'  # what a service logs (JSON, INFO) once it is reading
RSS_SAMPLE_S: Final = 0.2  # RSS sampling period, in seconds
STOP_TIMEOUT_S: Final = 20.0  # SIGTERM, then SIGKILL after this many seconds
KILL_GRACE_S: Final = 5.0  # longest wait, after kill -9 of a group, for its members to be gone
MB: Final = 1024 * 1024
NEWSFLOW_BIN: Final = Path(sys.executable).with_name("newsflow")

# Process groups started and not yet stopped, killed at interpreter exit whatever happens to the
# caller (a KeyboardInterrupt, a crashed test session): the one safety net kept module-wide.
_LIVE_GROUPS: set[int] = set()


def _kill_leftovers() -> None:
    for pgid in list(_LIVE_GROUPS):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)


atexit.register(_kill_leftovers)


class HarnessError(RuntimeError):
    """A service process did not do what the harness waited for."""


class ServiceDied(HarnessError):
    """A service process exited when it should be running."""


class NotReady(HarnessError, TimeoutError):
    """A wait of the harness timed out (services not ready, groups not idle)."""


def service_env(
    service: str,
    redis_url: str,
    settings: Mapping[str, str] | None = None,
    *,
    inherit_settings: bool = False,
) -> dict[str, str]:
    """The environment of one service process.

    `settings` are the service's settings without their prefix (`{"max_deliveries": "3"}` becomes
    `NEWSFLOW_ENRICH_MAX_DELIVERIES=3`), over the harness's defaults (no HTTP port, JSON logs at
    INFO: the `started` line is how readiness is seen). Nothing of the caller's environment may
    point a service at another Redis (REDIS_* is dropped); the caller's NEWSFLOW_* settings are kept
    only with `inherit_settings` (the bench compares with an in-process tagger built from them).
    """
    prefix = f"NEWSFLOW_{service.upper()}_"
    dropped: tuple[str, ...] = ("REDIS_",) if inherit_settings else ("REDIS_", "NEWSFLOW_")
    env = {key: value for key, value in os.environ.items() if not key.startswith(dropped)}
    defaults = {"http_port": "0", "log_level": "INFO", "log_format": "json"}
    env |= {f"{prefix}{key.upper()}": value for key, value in (defaults | dict(settings or {})).items()}
    # A private run on loopback (bench, chaos): its APIs are open on purpose.
    env |= {"REDIS_URL": redis_url, "PYTHONUNBUFFERED": "1", "NEWSFLOW_ALLOW_ANONYMOUS": "true"}
    return env


class ServiceProcess:
    """One service as `newsflow run <name>` in its own process group, one log file per start.

    `label` names its files (default: the service name; give replicas their own); with
    `profile_dir`, each start runs under cProfile and writes `<label>-<start>.prof` there.
    """

    def __init__(
        self,
        name: str,
        env: Mapping[str, str],
        log_dir: Path,
        *,
        label: str | None = None,
        profile_dir: Path | None = None,
    ) -> None:
        self.name = name
        self.label = label or name
        self.env = dict(env)
        self.log_dir = log_dir
        self.profile_dir = profile_dir
        self.process: subprocess.Popen[bytes] | None = None
        self.log_paths: list[Path] = []
        self.starts = 0
        self.ready_times_s: list[float] = []
        self._started_at = 0.0

    @property
    def log_path(self) -> Path:
        return self.log_paths[-1]

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self) -> ServiceProcess:
        """Start (or restart, after `kill` or `stop`) the process; returns immediately."""
        if self.alive():
            raise HarnessError(f"{self.label} is already running (pid {self.pid})")
        self.starts += 1
        stem = f"{self.label}-{self.starts:02d}"
        # The console script of the venv running the caller; under cProfile, the module instead.
        command = [str(NEWSFLOW_BIN), "run", self.name]
        if self.profile_dir is not None:
            self.profile_dir.mkdir(parents=True, exist_ok=True)
            profile = str(self.profile_dir / f"{stem}.prof")
            command = [sys.executable, "-m", "cProfile", "-o", profile, "-m", "newsflow.cli", *command[1:]]
        path = self.log_dir / f"{stem}.log"
        self.log_paths.append(path)
        with path.open("wb") as log_file:
            self.process = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
                command,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so that a kill reaches every child
            )
        _LIVE_GROUPS.add(self.process.pid)
        self._started_at = time.monotonic()
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def exit_code(self) -> int | None:
        return self.process.poll() if self.process else None

    def ready(self) -> float | None:
        """Seconds from start to readiness once the service logged `started` (it reads); else None.

        `started` comes after the consumer groups exist and the first XREADGROUP was sent; the
        HTTP /readyz answers earlier, and XINFO CONSUMERS lists a consumer only once it was given
        an entry, so neither says as much on an empty stream. Raises ServiceDied if it exited.
        """
        if len(self.ready_times_s) == self.starts:
            return self.ready_times_s[-1]
        # The log before liveness: a service killed by the first entry it takes over (the chaos
        # crash marker) dies milliseconds after `started`, and it did start.
        with contextlib.suppress(OSError):
            if STARTED_LINE in self.log_path.read_bytes():
                took = time.monotonic() - self._started_at
                self.ready_times_s.append(took)
                return took
        if not self.alive():
            raise ServiceDied(f"{self.label} exited with status {self.exit_code()}:\n{self.tail()}")
        return None

    def wait_ready(self, timeout_s: float = 60.0) -> float:
        return wait_all_ready([self], timeout_s)[self.label]

    def kill(self) -> None:
        """kill -9 of the whole process group: no shutdown code runs. Raises if any member survives."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        # SIGKILL is delivered at once but a member takes a moment to die (the kernel frees its
        # memory first: a 200 MB worker takes milliseconds), so survivors get a grace period.
        deadline = time.monotonic() + KILL_GRACE_S
        survivors = group_members(self.process.pid)
        while survivors and time.monotonic() < deadline:
            time.sleep(0.02)
            survivors = group_members(self.process.pid)
        if survivors:
            raise HarnessError(f"{self.label}: processes {survivors} outlived kill -9 of their group")
        _LIVE_GROUPS.discard(self.process.pid)

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> int | None:
        """SIGTERM (graceful), then SIGKILL after `timeout_s`; the exit code, None if killed."""
        return stop_all([self], timeout_s)[0]

    def tail(self, lines: int = 25) -> str:
        """The last `lines` lines of the current start's log ("" before any)."""
        with contextlib.suppress(OSError, IndexError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def log_records(self) -> Iterator[dict[str, Any]]:
        """Every JSON log line of every start of this service (other lines are skipped)."""
        for path in self.log_paths:
            if not path.exists():
                continue
            for line in path.read_bytes().splitlines():
                if not line.startswith(b"{"):
                    continue
                with contextlib.suppress(orjson.JSONDecodeError):
                    record = orjson.loads(line)
                    if isinstance(record, dict):
                        yield record

    def run_queue_s(self) -> float:
        """Seconds the process and its children spent runnable but waiting for a CPU, summed over
        their threads (`/proc/PID/task/TID/schedstat`, second field, in ns; 0 once it is gone):
        the time other work on the machine took from it, not time it spent waiting on I/O."""
        if self.process is None:
            return 0.0
        try:
            proc = psutil.Process(self.process.pid)
            pids = [proc.pid, *(child.pid for child in proc.children(recursive=True))]
        except psutil.Error:
            return 0.0
        return run_queue_s(pids)

    def cpu_s(self) -> float:
        """User + system CPU seconds of the process and its children so far (0 once it is gone)."""
        if self.process is None:
            return 0.0
        try:
            proc = psutil.Process(self.process.pid)
            total = sum(proc.cpu_times()[:2])
            for child in proc.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    total += sum(child.cpu_times()[:2])
        except psutil.Error:
            return 0.0
        return float(total)


def run_queue_s(pids: Iterable[int]) -> float:
    """Run-queue seconds so far of every thread of these processes (0 for a process gone)."""
    total_ns = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{pid}/task").iterdir():
                with contextlib.suppress(OSError, ValueError, IndexError):
                    total_ns += int((task / "schedstat").read_text().split()[1])
    return total_ns / 1e9


def wait_all_ready(procs: Sequence[ServiceProcess], timeout_s: float = 60.0) -> dict[str, float]:
    """Poll all at once, so that each one's time is its own; seconds each took, by label.

    Raises ServiceDied as soon as one exits, NotReady (a TimeoutError) after `timeout_s`.
    """
    deadline = time.monotonic() + timeout_s
    ready: dict[str, float] = {}
    while len(ready) < len(procs):
        for proc in procs:
            took = proc.ready()
            if took is not None:
                ready[proc.label] = took
        if time.monotonic() > deadline:
            waiting = [p for p in procs if p.label not in ready]
            tails = "\n".join(f"--- {p.label} ---\n{p.tail()}" for p in waiting)
            raise NotReady(f"{[p.label for p in waiting]} not ready after {timeout_s} s:\n{tails}")
        time.sleep(0.05)
    return ready


def check_alive(procs: Iterable[ServiceProcess], *, lines: int = 15) -> None:
    """Raise ServiceDied, with the end of its log, if any of `procs` has exited."""
    for proc in procs:
        code = proc.exit_code()
        if proc.process is not None and code is not None:
            raise ServiceDied(f"{proc.label} exited with status {code}:\n{proc.tail(lines)}")


def stop_all(procs: Sequence[ServiceProcess], timeout_s: float = STOP_TIMEOUT_S) -> list[int | None]:
    """SIGTERM every group at once (the batch in hand is committed), SIGKILL what is left after
    `timeout_s`; the exit codes in order, None for a process that had to be killed."""
    started = [p for p in procs if p.process is not None]
    for proc in started:
        assert proc.process is not None
        if proc.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.process.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    codes: dict[int, int | None] = {}
    for proc in started:
        assert proc.process is not None
        try:
            codes[id(proc)] = proc.process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            codes[id(proc)] = None
        # Whatever is left of the group (a stuck child) goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.process.wait(timeout=10)
        _LIVE_GROUPS.discard(proc.process.pid)
    return [codes.get(id(proc)) for proc in procs]


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group."""
    members = []
    for proc in psutil.process_iter(["pid", "status"]):
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                members.append(proc.pid)
    return members


class RssSampler:
    """Peak RSS (the process and all its children) per label, in MB, sampled in a thread."""

    def __init__(self, period_s: float = RSS_SAMPLE_S) -> None:
        self.period_s = period_s
        self.peak_mb: dict[str, float] = {}
        self._tracked: dict[int, tuple[str, psutil.Process]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="harness-rss", daemon=True)

    def track(self, label: str, pid: int) -> None:
        with contextlib.suppress(psutil.Error), self._lock:
            self._tracked[pid] = (label, psutil.Process(pid))

    def untrack(self, pid: int) -> None:
        self.sample()
        with self._lock:
            self._tracked.pop(pid, None)

    def sample(self) -> None:
        with self._lock:
            tracked = list(self._tracked.values())
        for label, proc in tracked:
            try:
                rss = proc.memory_info().rss
                for child in proc.children(recursive=True):
                    with contextlib.suppress(psutil.Error):
                        rss += child.memory_info().rss
            except psutil.Error:
                continue
            self.peak_mb[label] = max(self.peak_mb.get(label, 0.0), rss / MB)

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            self.sample()

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class ProcessSet:
    """The service processes of one run against one Redis, checked and stopped together.

    `start(name, **settings)` adds a process (a second `enrich` is a replica with its own log);
    with a `sampler`, each process's RSS is tracked under its service name; `profile_dir` runs
    every process under cProfile. `inherit_settings` as in `service_env`.
    """

    def __init__(
        self,
        redis_url: str,
        log_dir: Path,
        *,
        sampler: RssSampler | None = None,
        profile_dir: Path | None = None,
        inherit_settings: bool = False,
    ) -> None:
        self.redis_url = redis_url
        self.log_dir = log_dir
        self.sampler = sampler
        self.profile_dir = profile_dir
        self.inherit_settings = inherit_settings
        self.running: list[ServiceProcess] = []
        self._count = 0

    def start(self, name: str, **settings: str) -> ServiceProcess:
        """Start one `name` process with these settings (unprefixed, as in `service_env`)."""
        self._count += 1
        env = service_env(name, self.redis_url, settings, inherit_settings=self.inherit_settings)
        label = f"{self._count:02d}-{name}"
        proc = ServiceProcess(name, env, self.log_dir, label=label, profile_dir=self.profile_dir)
        proc.start()
        self.running.append(proc)
        if self.sampler is not None and proc.pid is not None:
            self.sampler.track(name, proc.pid)
        return proc

    def cpu_s(self) -> dict[str, float]:
        """CPU seconds so far per service name (replicas added up)."""
        totals: dict[str, float] = {}
        for proc in self.running:
            totals[proc.name] = totals.get(proc.name, 0.0) + proc.cpu_s()
        return totals

    def cpu_and_run_queue_s(self, name: str) -> list[tuple[float, float]]:
        """(CPU seconds, run-queue seconds) so far of each running `name` process, in start order."""
        return [(proc.cpu_s(), proc.run_queue_s()) for proc in self.running if proc.name == name]

    def check_alive(self) -> None:
        check_alive(self.running)

    def wait_ready(self, timeout_s: float = 60.0) -> dict[str, float]:
        return wait_all_ready(self.running, timeout_s)

    def stop_all(self, timeout_s: float = STOP_TIMEOUT_S) -> list[int | None]:
        """Stop every process (see `stop_all`) and forget them; their exit codes."""
        procs, self.running = self.running, []
        if self.sampler is not None:
            for proc in procs:
                if proc.pid is not None:
                    self.sampler.untrack(proc.pid)
        return stop_all(procs, timeout_s)


# --- consumer groups ------------------------------------------------------------------------------


def groups_behind(client: redis.Redis, stream: str, group: str | None = None) -> list[str]:
    """The consumer groups of `stream` (only `group` when given) that have not read everything or
    hold pending entries, one line of state each; [] when none (or there is no such stream)."""
    try:
        rows = cast(list[dict[str, Any]], client.xinfo_groups(stream))
        last = cast(list[tuple[bytes, Any]], client.xrevrange(stream, count=1))
    except redis.ResponseError:  # no such stream: nothing to wait for
        return []
    last_id = as_text(last[0][0]) if last else "0-0"
    behind = []
    for row in rows:
        if group is not None and as_text(row["name"]) != group:
            continue
        delivered = as_text(row["last-delivered-id"])
        if int(row["pending"]) or delivered != last_id:
            behind.append(
                f"{stream}/{as_text(row['name'])}: pending {row['pending']}, at {delivered} of {last_id}"
            )
    return behind


def wait_groups_idle(
    client: redis.Redis,
    targets: Iterable[tuple[str, str | None]],
    *,
    timeout_s: float = 60.0,
    alive: Iterable[ServiceProcess] = (),
    poll_s: float = 0.2,
) -> None:
    """Until no group of the (stream, group or None for all) `targets` is behind.

    Fails fast (ServiceDied) when one of `alive` exits; NotReady after `timeout_s`.
    """
    pairs, watched = list(targets), list(alive)
    deadline = time.monotonic() + timeout_s
    while True:
        check_alive(watched)
        state = [line for stream, group in pairs for line in groups_behind(client, stream, group)]
        if not state:
            return
        if time.monotonic() > deadline:
            raise NotReady(f"pipeline still busy after {timeout_s} s: {state}")
        time.sleep(poll_s)


__all__ = [
    "SERVICES",
    "HarnessError",
    "NotReady",
    "ProcessSet",
    "RssSampler",
    "ServiceDied",
    "ServiceProcess",
    "check_alive",
    "group_members",
    "groups_behind",
    "service_env",
    "stop_all",
    "wait_all_ready",
    "wait_groups_idle",
]
