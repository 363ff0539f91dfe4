"""Sample articles bundled with newsflow for the demo and tests, in every input format.

They are original, fictional news texts that share people (Rafael Quintas, Ilse Vandermeer), an
organisation (the Atlantic Ports Council) and places (Lisbon, Rotterdam), so related links show.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

SAMPLE_SUFFIXES: Final = frozenset({".txt", ".json", ".ndjson", ".html"})


def sample_paths() -> list[Path]:
    """The sample files, sorted by name (their numeric prefix is the order the demo sends them)."""
    here = Path(__file__).resolve().parent
    return sorted(p for p in here.iterdir() if p.is_file() and p.suffix in SAMPLE_SUFFIXES)
