"""`newsflow ingest`: files into a running system, with a progress bar and a final count."""

from __future__ import annotations

import contextlib
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from newsflow.pipeline import expand_paths, push_file
from newsflow.settings import redis_client
from services.ingest.logic import split_file
from services.ingest.settings import IngestSettings
from services.ingest.stages import Submission, commit_direct, decide
from shared.runtime.consumer import Emit, Reject

BATCH = 100


async def run_ingest(paths: Sequence[Path], *, redis_url: str, via_stream: bool, source: str) -> int:
    files = expand_paths(paths)
    counts: Counter[str] = Counter()
    client = redis_client(redis_url)
    settings = IngestSettings(redis_url=redis_url)
    try:
        with _progress(len(files)) as advance:
            for path in files:
                if via_stream:
                    pushed = await push_file(client, path, source=source)
                    counts["queued"] += len(pushed)
                else:
                    submissions = [
                        Submission(payload, ctype, f"{source}:{path.name}", filename=path.name)
                        for payload, ctype in split_file(path)
                    ]
                    for start in range(0, len(submissions), BATCH):
                        decisions = await decide(client, submissions[start : start + BATCH], settings)
                        await commit_direct(client, decisions)
                        for d in decisions:
                            if isinstance(d.outcome, Emit):
                                counts["accepted"] += 1
                            elif isinstance(d.outcome, Reject):
                                counts["rejected"] += 1
                                print(
                                    f"{path}: rejected ({d.outcome.code}): {d.outcome.reason}",
                                    file=sys.stderr,
                                )
                            else:
                                counts["duplicate"] += 1
                advance()
    finally:
        await client.aclose()
    if via_stream:
        print(f"{counts['queued']} queued on articles.inbound from {len(files)} file(s)")
        return 0
    print(f"accepted {counts['accepted']} · duplicate {counts['duplicate']} · rejected {counts['rejected']}")
    return 1 if counts["rejected"] else 0


@contextlib.contextmanager
def _progress(total: int) -> Iterator[Callable[[], None]]:
    """A progress bar on a terminal when `rich` (the `tools` group) is installed, else none: the
    production image carries only what the services import."""
    try:
        from rich.progress import Progress
    except ImportError:
        yield lambda: None
        return
    with Progress(transient=False, disable=not sys.stderr.isatty()) as progress:
        task = progress.add_task("ingesting", total=total)
        yield lambda: progress.advance(task)
