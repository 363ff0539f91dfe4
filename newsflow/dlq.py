"""`newsflow dlq`: list, show, replay and purge dead letters (see services/publish/deadletters.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Final, TypeVar

import orjson
import redis.asyncio as aioredis
import typer

from newsflow.settings import redis_client
from services.publish.deadletters import (
    DeadLetterError,
    ReplaySummary,
    WebhookTargets,
    dead_letter_streams,
    describe,
    get_dead_letter,
    is_dead_letter_stream,
    list_dead_letters,
    purge,
    replay,
)
from services.publish.settings import PublishSettings
from services.publish.webhooks import WEBHOOK_DLQ_PREFIX, new_http_client
from shared import streams
from shared.logging import configure_logging

# Longest reason shown by `list` (characters); `show` has the whole of it.
REASON_WIDTH: Final = 80

# --- command line -------------------------------------------------------------------------------

dlq_app = typer.Typer(
    name="dlq",
    help=(
        "Inspect, replay and purge dead letters: articles.dlq, and one "
        "articles.webhooks.dlq:<subscriber> stream per webhook subscriber. Uses REDIS_URL."
    ),
    no_args_is_help=True,
    add_completion=False,
)

_T = TypeVar("_T")


def _stream_option(value: str) -> str:
    if not is_dead_letter_stream(value):
        raise typer.BadParameter(f"{value!r} is not {streams.DLQ} or {WEBHOOK_DLQ_PREFIX}<subscriber>")
    return value


StreamOption = Annotated[
    str,
    typer.Option(
        "--stream",
        "-s",
        callback=_stream_option,
        help=f"{streams.DLQ}, or {WEBHOOK_DLQ_PREFIX}<subscriber> for a webhook subscriber.",
    ),
]


def _run(work: Callable[[aioredis.Redis], Awaitable[_T]]) -> _T:
    configure_logging("WARNING")  # to stderr: stdout is the command's own output

    async def main() -> _T:
        client = redis_client(ensure_functions=True)  # replay FCALLs the library
        try:
            return await work(client)
        finally:
            await client.aclose()

    return asyncio.run(main())


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]]).rstrip()
        for row in rows
    )


@dlq_app.command("list")
def list_command(
    stream: StreamOption = streams.DLQ,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many, newest first.")] = 20,
    code: Annotated[str | None, typer.Option(help="Only dead letters with this code.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List dead letters, newest first: id, time, stage, code, source, article id and reason."""
    entries = _run(lambda client: list_dead_letters(client, stream, limit=limit, code=code))
    if as_json:
        for entry in entries:
            typer.echo(orjson.dumps(entry.summary()).decode())
        return
    if not entries:
        typer.echo(f"no dead letters in {stream}")
        return
    rows = [["ID", "FAILED AT (UTC)", "STAGE", "CODE", "SOURCE", "ARTICLE", "REASON"]]
    for entry in entries:
        f = entry.fields
        reason = f.get("reason", "").replace("\n", " ")
        rows.append(
            [
                entry.entry_id,
                entry.failed_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
                f.get("stage", "-"),
                f.get("code", "-"),
                f.get("source", "-"),
                f.get("article_id", "-"),
                reason if len(reason) <= REASON_WIDTH else reason[: REASON_WIDTH - 1] + "…",
            ]
        )
    typer.echo(_table(rows))


@dlq_app.command()
def show(
    entry_id: Annotated[str, typer.Argument(help="The dead letter's stream entry id.")],
    stream: StreamOption = streams.DLQ,
) -> None:
    """Show one dead letter in full, as JSON, with its original payload decoded."""
    entry = _run(lambda client: get_dead_letter(client, stream, entry_id))
    if entry is None:
        typer.echo(f"no dead letter {entry_id} in {stream}", err=True)
        raise typer.Exit(1)
    typer.echo(orjson.dumps(describe(entry), option=orjson.OPT_INDENT_2).decode())


@dlq_app.command(name="replay")
def replay_command(
    entry_id: Annotated[str | None, typer.Argument(help="The dead letter to replay.")] = None,
    replay_all: Annotated[
        bool, typer.Option("--all", help="Replay every dead letter in the stream.")
    ] = False,
    stream: StreamOption = streams.DLQ,
    code: Annotated[str | None, typer.Option(help="With --all: only dead letters with this code.")] = None,
    webhooks: Annotated[
        Path | None,
        typer.Option(help="Webhook subscribers file (default: NEWSFLOW_PUBLISH_WEBHOOKS_PATH)."),
    ] = None,
) -> None:
    """Re-submit dead letters: onto their source stream, or re-deliver to their webhook subscriber.

    A replayed dead letter is deleted; one that fails again stays. Exits 1 unless all replayed.
    """
    if (entry_id is None) == (not replay_all):
        raise typer.BadParameter("give one dead-letter ID or --all")
    if code is not None and not replay_all:
        raise typer.BadParameter("--code goes with --all")
    config_path = webhooks or PublishSettings().webhooks_path

    async def work(client: aioredis.Redis) -> ReplaySummary:
        async with new_http_client() as http:
            targets = WebhookTargets(config_path, http)
            return await replay(client, stream, entry_id=entry_id, code=code, deliverer_for=targets)

    try:
        summary = _run(work)
    except DeadLetterError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    for result in summary.results:
        typer.echo(f"{result.outcome:<8}  {result.entry_id}  {result.detail}")
    typer.echo(summary.line())
    raise typer.Exit(0 if summary.count("replayed") == len(summary.results) else 1)


@dlq_app.command(name="purge")
def purge_command(
    older_than: Annotated[
        float, typer.Option("--older-than", min=0, help="Delete dead letters older than this many days.")
    ],
    stream: StreamOption = streams.DLQ,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete dead letters older than a number of days (by the time they were dead-lettered)."""
    if not yes:
        typer.confirm(f"Delete dead letters older than {older_than:g} days from {stream}?", abort=True)
    removed = _run(lambda client: purge(client, stream, older_than_days=older_than, now=datetime.now(UTC)))
    typer.echo(f"purged {removed} from {stream}")


@dlq_app.command(name="streams")
def streams_command() -> None:
    """The dead-letter streams and how many entries each holds."""
    for name, length in _run(dead_letter_streams):
        typer.echo(f"{length:>8}  {name}")
