"""The entity registry in Redis: one opaque id per real-world entity, shared by every replica.

Layout (every key under `streams.ENTITY_PREFIX`, one hash tag, so each of the registry's functions
in `shared.runtime.functions` touches one slot of a Redis Cluster):

- `P:doc` hash id -> the entity's card as JSON (name, type, names with article counts, titles,
  identifiers, first/last seen in epoch seconds, article count, history);
- `P:redirect` hash merged id -> surviving id, so ids stored by subscribers never dangle;
- `P:claim` hash "type|name|identifiers" -> id: the first replica to create an entity claims it,
  a replica racing on the same new name gets that id back;
- `P:ident` hash "field:value" (geonames_id:2267057, iso3166_alpha2:PT, …) -> id;
- `P:name:<n>`, `P:acronym:<a>`, `P:surname:<s>`, `P:sound:<k>` sets of ids: candidate indexes;
- `P:names` sorted set of "name\\0id" members (score 0), every name from each of its words,
  for prefix search;
- `P:arts:<id>` sorted set article id -> published time (epoch seconds);
- `P:co:<id>` sorted set other entity id -> articles shared with it (the context for linking);
- `P:art:<article id>` hash entity id -> JSON list of the names it had in that article (split uses
  it to move the right mentions).

Linking runs before the tagged event is emitted, because the event carries the ids: the claim and
the article's update are Redis functions that are idempotent (a redelivered article finds its own
claim and its article already counted), so committing them ahead of the runner's XACK transaction
is safe; the runner's commit stays the single write of the output and the acknowledgement.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import orjson
import redis.asyncio as aioredis
from pydantic import BaseModel, Field

from services.enrich import linking
from services.enrich.linking import Decision, Known, LookupKeys, Query
from shared import streams
from shared.events import Entities, Entity, EntityLink, EntityType
from shared.runtime import functions
from shared.runtime.consumer import Op
from shared.wire import as_text

# Candidates read per article entity at most: plenty for names, a cap for coarse sound keys.
MAX_CANDIDATES: Final = 64
# Redirect hops followed at most (a merge of a merge of …), against a cycle made by hand.
MAX_REDIRECTS: Final = 16
# Prefix-search hits read before filtering by type.
SEARCH_SCAN: Final = 500
_ALPHABET: Final = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford's base32, lower case
_KINDS: Final = ("name", "acronym", "surname", "sound")


class NameCount(BaseModel):
    name: str
    count: int = Field(description="Articles the name was seen in.")


class HistoryItem(BaseModel):
    at: datetime
    action: str = Field(description="created, merged, merged_into, split, split_from, renamed or identifier.")
    detail: str


class EntityCard(BaseModel):
    """What the registry knows of one entity (the read API's `GET /v1/entities/{id}`)."""

    id: str
    name: str
    type: EntityType
    uri: str | None = None
    names: list[NameCount]
    titles: list[str]
    identifiers: dict[str, str]
    type_counts: dict[str, int]
    article_count: int
    first_seen: datetime | None
    last_seen: datetime | None
    merged_from: list[str]
    history: list[HistoryItem]
    # Set when the id asked for was merged into this entity.
    resolved_from: str | None = None


class RegistryError(ValueError):
    """A refused edit (unknown id, merging an entity into itself, an identifier owned elsewhere)."""


def new_entity_id(now_ms: int | None = None) -> str:
    """`e` + 10 base32 characters of milliseconds + 6 random ones: opaque, sortable by creation."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    head = "".join(_ALPHABET[(ms >> shift) & 31] for shift in range(45, -5, -5))
    return "e" + head + "".join(secrets.choice(_ALPHABET) for _ in range(6))


def entity_uri(base_url: str, entity_id: str) -> str:
    return f"{base_url.rstrip('/')}/v1/entities/{entity_id}"


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}  # Lua's cjson writes an empty list as {}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _time(value: Any) -> datetime | None:
    return datetime.fromtimestamp(float(value), UTC) if isinstance(value, int | float) else None


def card_from_doc(doc: Mapping[str, Any], base_url: str | None = None) -> EntityCard:
    names = _as_dict(doc.get("names"))
    return EntityCard(
        id=doc["id"],
        name=doc["name"],
        type=EntityType(doc["type"]),
        uri=entity_uri(base_url, doc["id"]) if base_url else None,
        names=sorted(
            (NameCount(name=v["text"], count=int(v["count"])) for v in names.values()),
            key=lambda n: (-n.count, n.name),
        ),
        titles=[str(t) for t in _as_list(doc.get("titles"))],
        identifiers={k: str(v) for k, v in _as_dict(doc.get("identifiers")).items()},
        type_counts={k: int(v) for k, v in _as_dict(doc.get("type_counts")).items()},
        article_count=int(doc.get("articles", 0)),
        first_seen=_time(doc.get("first_seen")),
        last_seen=_time(doc.get("last_seen")),
        merged_from=[str(m) for m in _as_list(doc.get("merged_from"))],
        history=[HistoryItem.model_validate(h) for h in _as_list(doc.get("history"))],
    )


def _known(doc: Mapping[str, Any], shared: Mapping[str, int]) -> Known:
    names = _as_dict(doc.get("names"))
    return Known(
        id=doc["id"],
        name=doc["name"],
        type=EntityType(doc["type"]),
        names={k: int(v["count"]) for k, v in names.items()},
        identifiers={k: str(v) for k, v in _as_dict(doc.get("identifiers")).items()},
        articles=int(doc.get("articles", 0)),
        shared=shared,
    )


def _search_terms(names: Mapping[str, str]) -> list[str]:
    """Each name from each of its words on: "sergei shoigu" is found by "serg" and by "shoi"."""
    terms: set[str] = set()
    for norm in names:
        words = norm.split()
        terms.update(" ".join(words[i:]) for i in range(len(words)))
    return sorted(terms)


def _history(action: str, detail: str) -> dict[str, str]:
    return {"at": datetime.now(UTC).isoformat(), "action": action, "detail": detail}


@dataclass(frozen=True)
class _Pending:
    entity: Entity
    query: Query
    candidates: list[dict[str, Any]]


class EntityRegistry:
    """Reads and writes the registry; `link` is what enrich calls for each article."""

    def __init__(self, client: aioredis.Redis, *, base_url: str, prefix: str = streams.ENTITY_PREFIX) -> None:
        self.client = client
        self.base_url = base_url
        self.prefix = prefix
        self._doc_key = f"{prefix}:doc"

    # --- linking -------------------------------------------------------------------------------

    async def link(self, article_id: str, published: datetime, entities: Entities) -> Entities:
        """The article's entities with `entity_id`, `entity_uri` and `link` set; registry updated."""
        flat = entities.all()
        if not flat:
            await self.withdraw(article_id)  # a version that names nobody leaves every list
            return entities
        queries = [Query.of(e) for e in flat]
        candidates = await self._candidates([linking.lookup_keys(q) for q in queries])
        # First pass without context, then again with the confident links of the other entities.
        first = [
            linking.decide(q, [_known(d, {}) for d in c]) for q, c in zip(queries, candidates, strict=True)
        ]
        linked_ids = [d.entity_id for d in first if d.entity_id is not None]
        shared = await self._shared(candidates, linked_ids)
        decisions: list[Decision] = []
        for i, (q, cands) in enumerate(zip(queries, candidates, strict=True)):
            context = [d.entity_id for j, d in enumerate(first) if j != i and d.entity_id is not None]
            if not cands or not context:
                decisions.append(first[i])
                continue
            decisions.append(linking.decide(q, [_known(c, shared.get(c["id"], {})) for c in cands], context))
        unlinked = [i for i, d in enumerate(decisions) if d.entity_id is None]
        made = await self._create_all([(flat[i], queries[i], candidates[i]) for i in unlinked])
        created = dict(zip(unlinked, made, strict=True))
        ids = [d.entity_id or created[i][0] for i, d in enumerate(decisions)]
        raced = {i for i, (_, new) in created.items() if not new}
        final = await self._apply_article(article_id, published, flat, queries, ids)
        linked: dict[int, Entity] = {}
        for i, (entity, decision, entity_id) in enumerate(zip(flat, decisions, final, strict=True)):
            link = EntityLink(method=decision.method, confidence=decision.confidence, reason=decision.reason)
            if i in raced:
                link = EntityLink(
                    method="name", confidence=1.0, reason="created meanwhile under the same name"
                )
            linked[id(entity)] = entity.model_copy(
                update={
                    "entity_id": entity_id,
                    "entity_uri": entity_uri(self.base_url, entity_id),
                    "link": link,
                }
            )
        return Entities(
            people=[linked[id(e)] for e in entities.people],
            organisations=[linked[id(e)] for e in entities.organisations],
            places=[linked[id(e)] for e in entities.places],
            other=[linked[id(e)] for e in entities.other],
        )

    async def withdraw(self, article_id: str) -> int:
        """The article leaves the article lists of its entities (a kill); how many it was in."""
        return int(await self._call(functions.REGISTRY_WITHDRAW, self.prefix, article_id))

    async def _call(self, function: str, *args: str | bytes | float) -> Any:
        return await functions.fcall(self.client, function, [self._doc_key], list(args))

    def _key(self, kind: str, value: str) -> str:
        return f"{self.prefix}:{kind}:{value}"

    async def _candidates(self, keys: Sequence[LookupKeys]) -> list[list[dict[str, Any]]]:
        pipe = self.client.pipeline(transaction=False)
        plan: list[list[str]] = []
        for k in keys:
            wanted = [self._key(kind, v) for kind in _KINDS for v in sorted(getattr(k, kind))]
            plan.append(wanted)
            for key in wanted:
                pipe.smembers(key)
            pipe.hmget(f"{self.prefix}:ident", sorted(k.identifier) or ["-"])
        replies = await pipe.execute()
        found: list[list[str]] = []
        at = 0
        for wanted in plan:
            ids: dict[str, None] = {}
            for members in replies[at : at + len(wanted)]:
                ids.update(dict.fromkeys(sorted(m.decode() for m in members)))
            ids.update(dict.fromkeys(v.decode() for v in replies[at + len(wanted)] if v))
            at += len(wanted) + 1
            found.append(list(ids)[:MAX_CANDIDATES])
        resolved = await self.resolve_many({i for ids in found for i in ids})
        docs = await self._docs(set(resolved.values()))
        return [[docs[r] for r in dict.fromkeys(resolved[i] for i in ids) if r in docs] for ids in found]

    async def _shared(
        self, candidates: Sequence[Sequence[Mapping[str, Any]]], context: Sequence[str]
    ) -> dict[str, dict[str, int]]:
        ids = sorted({c["id"] for cands in candidates for c in cands})
        if not ids or not context:
            return {}
        pipe = self.client.pipeline(transaction=False)
        for entity_id in ids:
            pipe.zmscore(self._key("co", entity_id), list(context))
        replies = await pipe.execute()
        return {
            entity_id: {c: int(s) for c, s in zip(context, scores, strict=True) if s}
            for entity_id, scores in zip(ids, replies, strict=True)
        }

    async def _create_all(
        self, new: Sequence[tuple[Entity, Query, Sequence[Mapping[str, Any]]]]
    ) -> list[tuple[str, bool]]:
        """Each new entity's id, True; or, when another replica (or an earlier entity of this
        article) claimed the name first, that id, False. One script call for the whole article."""
        if not new:
            return []
        items = [self._new_entity(entity, query, candidates) for entity, query, candidates in new]
        result = await self._call(functions.REGISTRY_CREATE, self.prefix, orjson.dumps(items))
        got = [r.decode() if isinstance(r, bytes) else str(r) for r in result]
        return [(entity_id, entity_id == item["id"]) for entity_id, item in zip(got, items, strict=True)]

    @staticmethod
    def _new_entity(entity: Entity, query: Query, candidates: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """The create script's item for one entity: its claim, a fresh id, its card, identifiers."""
        norm = linking.normalise(entity.name)
        idents = sorted(f"{k}:{v}" for k, v in linking.decisive_identifiers(query.identifiers).items())
        # A deliberate homonym (a candidate has this very name but was refused) claims nothing, or
        # it would be handed the entity it was told apart from.
        homonym = any(linking.normalise(c["name"]) == norm for c in candidates)
        claim = "" if homonym else "|".join([entity.type.value, norm, *idents])
        entity_id = new_entity_id()
        doc: dict[str, Any] = {
            "id": entity_id,
            "name": entity.name,
            "type": entity.type.value,
            "names": {},
            "titles": [],
            "identifiers": {},
            "type_counts": {},
            "articles": 0,
            "first_seen": None,
            "last_seen": None,
            "merged_from": [],
            "history": [_history("created", f"from {entity.name!r} ({entity.type.value})")],
        }
        return {"claim": claim, "id": entity_id, "doc": orjson.dumps(doc).decode(), "idents": idents}

    async def _apply_article(
        self,
        article_id: str,
        published: datetime,
        entities: Sequence[Entity],
        queries: Sequence[Query],
        ids: Sequence[str],
    ) -> list[str]:
        items = []
        for entity, query, entity_id in zip(entities, queries, ids, strict=True):
            keys = linking.index_keys(entity.name, entity.type, query.surfaces, query.identifiers)
            names = {linking.normalise(s): s for s in query.surfaces if linking.normalise(s)}
            items.append(
                {
                    "id": entity_id,
                    "type": entity.type.value,
                    "names": names,
                    "titles": list(entity.titles),
                    "identifiers": linking.decisive_identifiers(query.identifiers),
                    "keys": {kind: sorted(getattr(keys, kind)) for kind in _KINDS}
                    | {"search": _search_terms(names)},
                }
            )
        result = await self._call(
            functions.REGISTRY_APPLY, self.prefix, article_id, published.timestamp(), orjson.dumps(items)
        )
        return [r.decode() if isinstance(r, bytes) else str(r) for r in result]

    # --- reading -------------------------------------------------------------------------------

    async def resolve_many(self, ids: set[str] | Sequence[str]) -> dict[str, str]:
        """Each id -> the surviving id after merges (itself when never merged)."""
        current = {i: i for i in ids}
        for _ in range(MAX_REDIRECTS):
            pending = sorted(set(current.values()))
            if not pending:
                break
            nxt = await self.client.hmget(f"{self.prefix}:redirect", pending)  # type: ignore[misc]
            moved = {a: b.decode() for a, b in zip(pending, nxt, strict=True) if b}
            if not moved:
                break
            current = {k: moved.get(v, v) for k, v in current.items()}
        return current

    async def _docs(self, ids: set[str] | Sequence[str]) -> dict[str, dict[str, Any]]:
        wanted = sorted(ids)
        if not wanted:
            return {}
        raw = await self.client.hmget(self._doc_key, wanted)  # type: ignore[misc]
        return {i: orjson.loads(r) for i, r in zip(wanted, raw, strict=True) if r}

    async def get(self, entity_id: str) -> EntityCard | None:
        """The card; for a merged id, the surviving entity's card with `resolved_from` set."""
        survivor = (await self.resolve_many([entity_id]))[entity_id]
        docs = await self._docs([survivor])
        if survivor not in docs:
            return None
        card = card_from_doc(docs[survivor], self.base_url)
        return card.model_copy(update={"resolved_from": entity_id}) if survivor != entity_id else card

    async def search(self, q: str, *, type_: EntityType | None = None, limit: int = 20) -> list[EntityCard]:
        """Entities with a name or alias starting with `q` (normalised), most articles first."""
        norm = linking.normalise(q)
        if not norm:
            return []
        members = await self.client.zrangebylex(
            f"{self.prefix}:names",
            b"[" + norm.encode(),
            b"[" + norm.encode() + b"\xff",
            start=0,
            num=SEARCH_SCAN,
        )
        ids = {m.decode().rsplit("\0", 1)[-1] for m in members}
        resolved = await self.resolve_many(ids)
        docs = await self._docs(set(resolved.values()))
        cards = [card_from_doc(d, self.base_url) for d in docs.values()]
        if type_ is not None:
            cards = [c for c in cards if c.type is type_]
        cards.sort(key=lambda c: (-c.article_count, c.name, c.id))
        return cards[:limit]

    async def articles(self, entity_id: str, *, offset: int = 0, limit: int = 20) -> tuple[list[str], int]:
        """Article ids newest first, and how many there are in all."""
        survivor = (await self.resolve_many([entity_id]))[entity_id]
        key = self._key("arts", survivor)
        pipe = self.client.pipeline(transaction=False)
        pipe.zrevrange(key, offset, offset + limit - 1)
        pipe.zcard(key)
        members, total = await pipe.execute()
        return [m.decode() for m in members], int(total)

    async def trim_ops(self, entity_ids: Sequence[str], *, before: float, limit: int) -> list[Op]:
        """The commands that take articles published before `before` (epoch seconds) off these
        entities' article lists, at most `limit` per entity, with their mentions (`P:art:<id>`).

        Returned, not run: the enrich stage hands them to the runner with its commit. Removing an
        article id twice is harmless, so they need no WATCH. `articles` on the card counts the
        list again at the entity's next article.
        """
        keys = [self._key("arts", entity_id) for entity_id in sorted(set(entity_ids))]
        if not keys:
            return []
        async with self.client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.zrange(key, "-inf", f"({before}", byscore=True, offset=0, num=limit)
            replies = await pipe.execute()
        ops: list[Op] = []
        for key, members in zip(keys, replies, strict=True):
            article_ids = [as_text(m) for m in members]
            if not article_ids:
                continue
            entity_id = key.removeprefix(self._key("arts", ""))
            ops.append(Op(key, "zrem", (key, *article_ids)))
            ops += [
                Op(mentions, "hdel", (mentions, entity_id)) for mentions in map(self._art_key, article_ids)
            ]
        return ops

    def _art_key(self, article_id: str) -> str:
        return self._key("art", article_id)

    async def article_entities(self, article_id: str) -> dict[str, list[str]]:
        raw = await self.client.hgetall(self._key("art", article_id))  # type: ignore[misc]
        return {k.decode(): orjson.loads(v) for k, v in raw.items()}

    # --- editing -------------------------------------------------------------------------------

    async def _edit(self, function: str, keys_ids: Sequence[str], *args: str | bytes) -> Any:
        try:
            return await self._call(function, self.prefix, *keys_ids, *args)
        except aioredis.ResponseError as exc:
            raise RegistryError(str(exc)) from exc

    async def merge(self, source: str, target: str) -> EntityCard:
        """`source` joins `target`: names, counts, articles and context; `source` redirects."""
        ids = await self.resolve_many([source, target])
        src, dst = ids[source], ids[target]
        if src == dst:
            raise RegistryError(f"{source} and {target} are already one entity ({dst})")
        now = datetime.now(UTC).isoformat()
        await self._edit(functions.REGISTRY_MERGE, [src, dst], now)
        card = await self.get(dst)
        assert card is not None
        return card

    async def rename(self, entity_id: str, name: str) -> EntityCard:
        survivor = (await self.resolve_many([entity_id]))[entity_id]
        norm = linking.normalise(name)
        if not norm:
            raise RegistryError("a name needs letters or digits")
        await self._edit(functions.REGISTRY_RENAME, [survivor], name, norm, datetime.now(UTC).isoformat())
        card = await self.get(survivor)
        assert card is not None
        return card

    async def add_identifier(self, entity_id: str, field: str, value: str) -> EntityCard:
        survivor = (await self.resolve_many([entity_id]))[entity_id]
        await self._edit(functions.REGISTRY_IDENTIFY, [survivor], field, value, datetime.now(UTC).isoformat())
        card = await self.get(survivor)
        assert card is not None
        return card

    async def split(self, entity_id: str, alias: str) -> EntityCard:
        """A new entity for `alias`: it takes that name, and the articles' mentions of it."""
        survivor = (await self.resolve_many([entity_id]))[entity_id]
        norm = linking.normalise(alias)
        docs = await self._docs([survivor])
        if survivor not in docs:
            raise RegistryError(f"no entity {entity_id}")
        doc = docs[survivor]
        if norm not in _as_dict(doc.get("names")) or len(_as_dict(doc.get("names"))) < 2:
            raise RegistryError(f"{alias!r} is not one of several names of {survivor}")
        new_id = new_entity_id()
        await self._edit(functions.REGISTRY_SPLIT, [survivor, new_id], norm, datetime.now(UTC).isoformat())
        card = await self.get(new_id)
        assert card is not None
        return card
