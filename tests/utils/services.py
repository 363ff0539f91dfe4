"""One `newsflow run <service>` process with its HTTP port, for black-box tests of hostile input."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from newsflow.redis_server import free_port
from tests.utils.chaos import ChaosSettings, ServiceProcess


@contextmanager
def running(
    name: str, redis_url: str, log_dir: Path, *, ready_timeout_s: float = 90.0, **env: str
) -> Iterator[tuple[ServiceProcess, str]]:
    """The service started with quick-recovery settings and `env` on top; its base URL."""
    port = free_port()
    settings = ChaosSettings(poison_marker="")
    proc_env = settings.env(name, redis_url) | {f"NEWSFLOW_{name.upper()}_HTTP_PORT": str(port)} | env
    proc = ServiceProcess(name, proc_env, log_dir)
    proc.start()
    try:
        proc.wait_ready(ready_timeout_s)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        while True:  # the HTTP server may come up just after `started`
            try:
                httpx.get(f"{base}/healthz", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield proc, base
    finally:
        proc.stop()
