"""`newsflow bench-compare REF`: the bench of an earlier commit and of this checkout, one after the
other on the same machine, side by side with the ratio of each figure.

Figures from two separate runs of `make bench` on a shared two-core machine differ by more than
most changes do; run back to back, in one command, the comparison says whether a change regressed.
The earlier commit is checked out into a temporary git worktree and gets its own virtualenv from
its own lock file (`make install` there), so each side runs the code and dependencies it shipped.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import orjson
from rich.console import Console
from rich.table import Table

from newsflow.harness import NEWSFLOW_BIN

REPO_ROOT: Final = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Figure:
    label: str
    path: tuple[str, ...]  # keys into the bench JSON
    higher_is_better: bool


FIGURES: Final = (
    Figure("in-process tagging, articles/s", ("baseline_per_s",), True),
    Figure("pipeline, 1 enrich replica, articles/s", ("pipeline_per_s",), True),
    Figure("pipeline vs in-process tagging", ("pipeline_ratio",), True),
    Figure("enrich CPU ms per article (pipeline)", ("cpu_ms_per_article", "pipeline", "enrich"), False),
    Figure("2 enrich replicas vs 1 (wall)", ("scaling_ratio",), True),
    Figure("ingest alone, articles/s", ("ingest_per_s",), True),
    Figure("ingest vs raw loop", ("ingest_ratio",), True),
    Figure("ingest CPU ms per article", ("cpu_ms_per_article", "ingest"), False),
    Figure("publish alone, articles/s", ("publish_per_s",), True),
    Figure("publish vs raw loop", ("publish_ratio",), True),
    Figure("publish CPU ms per article", ("cpu_ms_per_article", "publish"), False),
    Figure("raw redis loop (inbound entries), /s", ("raw_redis_per_s",), True),
    Figure("latency p50, ms", ("p50_ms",), False),
    Figure("latency p99, ms", ("p99_ms",), False),
    Figure("peak RSS ingest, MB", ("rss_mb", "ingest"), False),
    Figure("peak RSS enrich, MB", ("rss_mb", "enrich"), False),
    Figure("peak RSS publish, MB", ("rss_mb", "publish"), False),
)


class CompareError(RuntimeError):
    """The earlier commit could not be checked out, installed or benched."""


def figure_of(result: Mapping[str, Any], path: Sequence[str]) -> float | None:
    value: Any = result
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            return None
        value = value[key]
    return float(value) if isinstance(value, int | float) else None


def comparison_rows(base: Mapping[str, Any], head: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per figure both runs have: its two values and head/base."""
    rows = []
    for figure in FIGURES:
        before, after = figure_of(base, figure.path), figure_of(head, figure.path)
        if before is None or after is None:
            continue
        rows.append(
            {
                "figure": figure.label,
                "key": ".".join(figure.path),
                "base": before,
                "head": after,
                "ratio": round(after / before, 3) if before else None,
                "higher_is_better": figure.higher_is_better,
            }
        )
    return rows


def render(rows: Sequence[Mapping[str, Any]], base_ref: str) -> Table:
    table = Table(
        title=f"newsflow bench: {base_ref} then this checkout, same machine, back to back",
        title_justify="left",
        caption="ratio = this checkout / earlier commit; ↑ or ↓ marks which way is better.",
        caption_justify="left",
    )
    for column in ("figure", base_ref, "this checkout", "ratio"):
        table.add_column(column, justify="left" if column == "figure" else "right")
    for row in rows:
        arrow = "↑" if row["higher_is_better"] else "↓"
        ratio = "" if row["ratio"] is None else f"{row['ratio']:.2f}×"
        table.add_row(f"{row['figure']} {arrow}", f"{row['base']:,.3g}", f"{row['head']:,.3g}", ratio)
    return table


@contextlib.contextmanager
def checked_out(ref: str, console: Console) -> Iterator[Path]:
    """A detached worktree of `ref` with its own `make install`, removed afterwards."""
    parent = Path(tempfile.mkdtemp(prefix="newsflow-bench-base-"))
    tree = parent / "repo"
    _run(["git", "-C", str(REPO_ROOT), "worktree", "add", "--detach", str(tree), ref], console)
    try:
        # The earlier checkout finds ../shared where this one does.
        shared = REPO_ROOT.parent / "shared"
        if shared.exists():
            (parent / "shared").symlink_to(shared)
        console.log(f"installing {ref}'s locked dependencies into {tree}/.venv")
        _run(["make", "-C", str(tree), "install"], console)
        yield tree
    finally:
        with contextlib.suppress(CompareError):
            _run(["git", "-C", str(REPO_ROOT), "worktree", "remove", "--force", str(tree)], console)
        shutil.rmtree(parent, ignore_errors=True)


def _run(command: Sequence[str], console: Console) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        console.print(done.stdout[-2000:], done.stderr[-2000:])
        raise CompareError(f"{' '.join(command)} exited with {done.returncode}")


def bench_json(newsflow_bin: Path, tree: Path, quick: bool, console: Console) -> dict[str, Any]:
    """Run `newsflow bench --json` with that executable, in its own tree; progress to our stderr.

    The working directory matters: services started with `python -m` import from it first, so
    the earlier commit's bench run from this checkout would time this checkout's services.
    """
    command = [str(newsflow_bin), "bench", "--json", *(["--quick"] if quick else [])]
    console.log(f"running {' '.join(command)} in {tree}")
    done = subprocess.run(  # noqa: S603
        command, stdout=subprocess.PIPE, stderr=sys.stderr, check=False, cwd=tree
    )
    lines = done.stdout.decode().strip().splitlines()
    if done.returncode != 0 or not lines:
        raise CompareError(f"{newsflow_bin} bench exited with {done.returncode}")
    result = orjson.loads(lines[-1])
    if not isinstance(result, dict):
        raise CompareError(f"{newsflow_bin} bench printed no JSON object")
    return result


def compare_command(ref: str, *, quick: bool, as_json: bool) -> int:
    err = Console(stderr=True)
    try:
        with checked_out(ref, err) as tree:
            base = bench_json(tree / ".venv" / "bin" / "newsflow", tree, quick, err)
        head = bench_json(NEWSFLOW_BIN, REPO_ROOT, quick, err)
    except CompareError as exc:
        err.print(f"[red]newsflow bench-compare failed:[/] {exc}")
        return 1
    rows = comparison_rows(base, head)
    if as_json:
        print(orjson.dumps({"base_ref": ref, "rows": rows, "base": base, "head": head}).decode())
    else:
        Console(width=None if sys.stdout.isatty() else 120).print(render(rows, ref))
    return 0


__all__ = ["FIGURES", "compare_command", "comparison_rows", "figure_of"]
