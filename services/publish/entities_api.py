"""The entity registry on the publish API: search, cards, an entity's articles, and editing.

- `GET /v1/entities?q=&type=&limit=`: name or alias prefix (any word of the name), most articles first;
- `GET /v1/entities/{id}`: the card (names, type, identifiers, counts, merge history); a merged id
  answers with the surviving entity's card, `resolved_from` set and `Content-Location` naming it;
- `GET /v1/entities/{id}/articles?offset=&limit=`: published articles newest first, paginated;
- `POST /v1/entities/{id}/merge {"into"}`, `/split {"alias"}`, `/rename {"name"}`,
  `/identifiers {"field", "value"}`: edits, refused unless API tokens are configured.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlencode

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from services.enrich.registry import EntityCard, EntityRegistry, RegistryError
from services.publish.api import _unavailable_on_redis_error, parse_entity_type, parse_limit
from services.publish.settings import PublishSettings
from shared import streams
from shared.runtime.http import Handler, HttpContext, guarded, problem, read_body

SEARCH_DEFAULT_LIMIT: Final = 20
SEARCH_MAX_LIMIT: Final = 100
ARTICLES_DEFAULT_LIMIT: Final = 20
ARTICLES_MAX_LIMIT: Final = 100
# Request bodies of edits are tiny: larger ones are refused unread past this many bytes.
MAX_EDIT_BODY: Final = 4096


class _Edit(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MergeBody(_Edit):
    into: str = Field(min_length=1)


class SplitBody(_Edit):
    alias: str = Field(min_length=1)


class RenameBody(_Edit):
    name: str = Field(min_length=1)


class IdentifierBody(_Edit):
    field: str = Field(min_length=1, pattern=r"^[a-z][a-z0-9_]*$")
    value: str = Field(min_length=1)


def _card(card: EntityCard, status: int = 200) -> Response:
    headers = {"Content-Location": f"/v1/entities/{card.id}"} if card.resolved_from else {}
    return Response(
        orjson.dumps(card.model_dump(mode="json")), status, media_type="application/json", headers=headers
    )


def _offset(value: str | None) -> int:
    if value is None or value == "":
        return 0
    if not value.isdigit():
        raise ValueError(f"offset must be a non-negative integer, not {value!r}")
    return int(value)


@dataclass(frozen=True, slots=True)
class EntityArticles:
    entity_id: str  # the surviving id when the one asked for was merged
    total: int
    items: list[dict[str, Any]]
    more: bool


async def entity_articles(
    registry: EntityRegistry, entity_id: str, *, offset: int, limit: int
) -> EntityArticles | None:
    """A page of the entity's articles, newest first, each with what publish holds of its latest
    version (None when there is no such entity). What `GET /v1/entities/{id}/articles` and
    `newsflow bench --archive` read."""
    card = await registry.get(entity_id)
    if card is None:
        return None
    ids, total = await registry.articles(card.id, offset=offset, limit=limit)
    stored = await registry.client.hmget(streams.PUBLISH_LATEST, ids) if ids else []  # type: ignore[misc]
    items: list[dict[str, Any]] = []
    for article_id, raw in zip(ids, stored, strict=True):
        item: dict[str, Any] = {"article_id": article_id, "published": raw is not None}
        if raw is not None:
            data = orjson.loads(raw)["data"]
            item |= {
                "version": data["version"],
                "title": data.get("title", ""),
                "url": data.get("url"),
                "pubstatus": data["pubstatus"],
                "published_at": data["published_at"],
            }
        items.append(item)
    return EntityArticles(card.id, total, items, offset + len(ids) < total)


def make_entity_routes(ctx: HttpContext, settings: PublishSettings) -> list[BaseRoute]:
    registry = EntityRegistry(ctx.client, base_url=settings.public_base_url)

    async def search(request: Request) -> Response:
        params = request.query_params
        try:
            type_ = parse_entity_type(params.get("type"))
            limit = parse_limit(params.get("limit"), default=SEARCH_DEFAULT_LIMIT, maximum=SEARCH_MAX_LIMIT)
        except ValueError as exc:
            return problem(400, "Bad Request", str(exc))
        q = (params.get("q") or "").strip()
        if not q:
            return problem(400, "Bad Request", "q (a name or alias prefix) is required")
        cards = await registry.search(q, type_=type_, limit=limit)
        body = {"items": [c.model_dump(mode="json") for c in cards]}
        return Response(orjson.dumps(body), media_type="application/json")

    async def show(request: Request) -> Response:
        card = await registry.get(request.path_params["entity_id"])
        if card is None:
            return problem(404, "Not Found", f"no entity {request.path_params['entity_id']!r}")
        return _card(card)

    async def articles(request: Request) -> Response:
        entity_id = request.path_params["entity_id"]
        params = request.query_params
        try:
            offset = _offset(params.get("offset"))
            limit = parse_limit(
                params.get("limit"), default=ARTICLES_DEFAULT_LIMIT, maximum=ARTICLES_MAX_LIMIT
            )
        except ValueError as exc:
            return problem(400, "Bad Request", str(exc))
        page = await entity_articles(registry, entity_id, offset=offset, limit=limit)
        if page is None:
            return problem(404, "Not Found", f"no entity {entity_id!r}")
        kept = [(k, v) for k, v in params.multi_items() if k != "offset"]
        next_link = (
            f"{request.url.path}?{urlencode([*kept, ('offset', offset + len(page.items))])}"
            if page.more
            else None
        )
        body = {"entity_id": page.entity_id, "total": page.total, "items": page.items, "next": next_link}
        return Response(orjson.dumps(body), media_type="application/json")

    def edit(model: type[_Edit], action: str) -> Handler:
        async def handler(request: Request) -> Response:
            if not ctx.tokens:
                return problem(403, "Forbidden", "editing entities needs NEWSFLOW_PUBLISH_API_TOKENS set")
            raw = await read_body(request, MAX_EDIT_BODY)
            if raw.over:
                return problem(413, "Payload Too Large", f"an edit is at most {MAX_EDIT_BODY} bytes")
            try:
                body: Any = model.model_validate_json(raw.data)
            except ValidationError as exc:
                return problem(422, "Unprocessable Entity", str(exc.errors(include_url=False)))
            entity_id = request.path_params["entity_id"]
            try:
                if action == "merge":
                    return _card(await registry.merge(entity_id, body.into))
                if action == "split":
                    return _card(await registry.split(entity_id, body.alias), 201)
                if action == "rename":
                    return _card(await registry.rename(entity_id, body.name))
                return _card(await registry.add_identifier(entity_id, body.field, body.value))
            except RegistryError as exc:
                missing = str(exc).startswith("no entity") or "no entity" in str(exc)
                return problem(404 if missing else 409, "Not Found" if missing else "Conflict", str(exc))

        return handler

    def public(handler: Handler) -> Handler:
        return guarded(ctx, _unavailable_on_redis_error(handler))

    gets: Sequence[tuple[str, Handler]] = (
        ("/v1/entities", search),
        ("/v1/entities/{entity_id}", show),
        ("/v1/entities/{entity_id}/articles", articles),
    )
    posts: Sequence[tuple[str, Handler]] = (
        ("/v1/entities/{entity_id}/merge", edit(MergeBody, "merge")),
        ("/v1/entities/{entity_id}/split", edit(SplitBody, "split")),
        ("/v1/entities/{entity_id}/rename", edit(RenameBody, "rename")),
        ("/v1/entities/{entity_id}/identifiers", edit(IdentifierBody, "identifier")),
    )
    return [
        *(Route(path, public(h), methods=["GET"]) for path, h in gets),
        *(Route(path, public(h), methods=["POST"]) for path, h in posts),
    ]
