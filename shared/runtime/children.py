"""Child Python processes that start clean: a fresh interpreter running a short program.

multiprocessing's spawn re-imports the parent's `__main__` in the child (for `newsflow run` that is
the whole CLI, about 60 MB before the child's own work), and fork copies threads and sockets.
A child started here imports only what its program names, with the parent's import path.
"""

from __future__ import annotations

import os
import sys


def python_command(program: str, *args: str) -> list[str]:
    """argv for this interpreter running `program` (a constant of ours, never outside input)."""
    return [sys.executable, "-c", program, *args]


def child_environment() -> dict[str, str]:
    """The parent's environment, with its import path, so the child finds the same packages."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(path for path in sys.path if path)}
