"""The harness's run-queue accounting on real processes: two CPU-bound processes pinned to one
CPU wait for it about half the time each."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from newsflow.harness import run_queue_s

pytestmark = pytest.mark.integration

SPIN = (
    "import os, time\n"
    "os.sched_setaffinity(0, {0})\n"
    "end = time.monotonic() + 3\n"
    "while time.monotonic() < end: pass\n"
)


@pytest.mark.timeout(30)
def test_processes_sharing_one_cpu_are_seen_waiting_for_it() -> None:
    pair = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(2)]
    try:
        time.sleep(1.5)
        waited = [run_queue_s([proc.pid]) for proc in pair]
    finally:
        for proc in pair:
            proc.kill()
            proc.wait()

    assert all(wait > 0.2 for wait in waited), waited


def test_a_process_that_is_gone_has_waited_nothing() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()

    assert run_queue_s([proc.pid]) == 0.0
