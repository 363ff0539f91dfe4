"""`newsflow entities`: show, search and edit the entity registry (REDIS_URL's)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import orjson
import typer

from newsflow.settings import CliSettings
from services.enrich.registry import EntityCard, EntityRegistry, RegistryError
from services.enrich.settings import EnrichSettings
from shared.events import EntityType
from shared.runtime.redis_client import make_client

entities_app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
T = TypeVar("T")


def _run(action: Callable[[EntityRegistry], Awaitable[T]]) -> T:
    settings = CliSettings()
    if settings.redis_url is None:
        typer.echo("newsflow entities: set REDIS_URL to the pipeline's Redis", err=True)
        raise typer.Exit(2)

    async def go() -> T:
        # Edits FCALL the registry's functions: an admin's client loads the library when missing.
        client = make_client(settings, ensure_functions=True)
        try:
            return await action(EntityRegistry(client, base_url=EnrichSettings().public_base_url))
        finally:
            await client.aclose()

    try:
        return asyncio.run(go())
    except RegistryError as exc:
        typer.echo(f"newsflow entities: {exc}", err=True)
        raise typer.Exit(1) from exc


def _print(card: EntityCard, as_json: bool) -> None:
    if as_json:
        typer.echo(orjson.dumps(card.model_dump(mode="json")).decode())
        return
    names = ", ".join(f"{n.name} ({n.count})" for n in card.names)
    idents = ", ".join(f"{k}={v}" for k, v in card.identifiers.items()) or "none"
    moved = f" (asked for {card.resolved_from}, merged into this)" if card.resolved_from else ""
    typer.echo(f"{card.id}{moved}: {card.name} [{card.type.value}] in {card.article_count} articles")
    typer.echo(f"  names: {names}\n  identifiers: {idents}")
    if card.merged_from:
        typer.echo(f"  merged from: {', '.join(card.merged_from)}")


AsJson = Annotated[bool, typer.Option("--json", help="The card as JSON.")]


@entities_app.command()
def show(entity_id: str, as_json: AsJson = False) -> None:
    """An entity's card; a merged id shows the entity it was merged into."""
    card = _run(lambda r: r.get(entity_id))
    if card is None:
        typer.echo(f"newsflow entities: no entity {entity_id}", err=True)
        raise typer.Exit(1)
    _print(card, as_json)


@entities_app.command()
def search(
    query: str,
    type_: Annotated[EntityType | None, typer.Option("--type", help="Only this type.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
    as_json: AsJson = False,
) -> None:
    """Entities with a name or alias starting with QUERY, most articles first."""
    for card in _run(lambda r: r.search(query, type_=type_, limit=limit)):
        _print(card, as_json)


@entities_app.command()
def merge(source: str, target: str, as_json: AsJson = False) -> None:
    """Merge SOURCE into TARGET; SOURCE's id keeps resolving to TARGET."""
    _print(_run(lambda r: r.merge(source, target)), as_json)


@entities_app.command()
def split(entity_id: str, alias: str, as_json: AsJson = False) -> None:
    """Split ALIAS off ENTITY_ID into a new entity, with the mentions that used it."""
    _print(_run(lambda r: r.split(entity_id, alias)), as_json)


@entities_app.command()
def rename(entity_id: str, name: str, as_json: AsJson = False) -> None:
    """Give the entity a new canonical name (the old one stays an alias)."""
    _print(_run(lambda r: r.rename(entity_id, name)), as_json)


@entities_app.command()
def identify(entity_id: str, field: str, value: str, as_json: AsJson = False) -> None:
    """Add an identifier (e.g. `wikidata Q90`, `geonames_id 2988507`) to the entity."""
    _print(_run(lambda r: r.add_identifier(entity_id, field, value)), as_json)
