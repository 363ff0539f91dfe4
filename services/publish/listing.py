"""The subscribers' listing index: published articles newest first, by entity, entity name and type.

`PublishIndexStage` (stages.py) reads `articles.published` (its own group) and keeps plain Redis keys:
one JSON record per article and one sorted set per filter the read API offers, each scored by the
article's listing time, so that every listing query is a single `ZRANGE ... BYSCORE REV` on one
sorted set. Deciding what to write (`plan_update`) is a pure function; `PublishIndex` does the I/O.

Listing time: the article's own publication time when the source gave one with a zone, else when
newsflow first published it (kept across updates, so a corrected article does not jump the queue).
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import orjson
from pydantic import BaseModel, ConfigDict
from redis.asyncio.cluster import RedisCluster

from services.publish.views import IndexedArticleView, IndexedEntityView, IndexedEvent
from shared import streams
from shared.events import Entity, EntityType, EventType, PublishedArticle, PublishedEvent, PubStatus
from shared.logging import get_logger
from shared.runtime import functions
from shared.runtime.consumer import (
    MAX_STALE_RETRIES,
    Op,
    Read,
    Writes,
    commit_fresh,
    writes_of,
)
from shared.wire import as_text

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = get_logger(__name__)

# --- keys (each under the index's prefix) ------------------------------------------------------
# Root of every key below; a test or a second index passes its own.
INDEX_PREFIX: Final = streams.PUBLISH_INDEX_PREFIX
# String per article: its JSON `IndexRecord` (what a listing item and a feed entry show, and the
# exact sorted sets it is in, so a re-index or withdrawal removes exactly those). A withdrawn
# article keeps its record as a tombstone, so a redelivered older version cannot list it again.
RECORD_KEY: Final = "{prefix}:article:{article_id}"
# Sorted set of every listed article id, score = listing time in epoch milliseconds (an integer,
# exact in a double; equal scores are ordered by article id).
ALL_KEY: Final = "{prefix}:all"
# Sorted set per entity type: the articles with at least one entity of that type.
TYPE_KEY: Final = "{prefix}:type:{type}"
# Sorted set per entity id (`person:sergey-shoygu`), for `?entity=<id>`.
ENTITY_KEY: Final = "{prefix}:entity:{entity_id}"
# Sorted set per case-folded entity name or alias (`sergey shoygu`), for `?entity=Sergey Shoygu`.
NAME_KEY: Final = "{prefix}:name:{name}"
# The two above once more per entity type, so `?entity=Georgia&type=place` is one sorted set too.
TYPED_ENTITY_KEY: Final = "{prefix}:type:{type}:entity:{entity_id}"
TYPED_NAME_KEY: Final = "{prefix}:type:{type}:name:{name}"

# Sorted-set rows read per ZRANGE while paging: the page plus room for rows tied with the cursor.
RANGE_SLACK: Final = 8
# Expired articles removed per planned batch beyond twice the batch size.
TRIM_SLACK: Final = 100
MS_PER_DAY: Final = 86_400_000
# Rows read per round when a filter (urgency, story collapse) is applied after the sorted set.
FILTER_CHUNK: Final = 100
# A feed summary longer than this (characters) is cut at a word boundary and ends with "…".
SUMMARY_MAX_CHARS: Final = 600

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


def _has_hash_tag(prefix: str) -> bool:
    """Whether keys starting with `prefix` hash by a tag in it (`a:{listing}`), hence to one slot."""
    start = prefix.find("{")
    return start != -1 and prefix.find("}", start + 1) > start + 1


def fold_name(name: str) -> str:
    """The form names are matched in: NFKC, case-folded, runs of white space as one space."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def _ms(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1000)


def ms_to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def rfc3339(ms: int) -> str:
    """UTC, written with `Z` as the published events write their dates."""
    return ms_to_datetime(ms).isoformat().replace("+00:00", "Z")


# --------------------------------------------------------------------------------------------
# What the index stores, and what one event changes (pure)
# --------------------------------------------------------------------------------------------


class IndexedEntity(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    name: str
    type: EntityType


class IndexRecord(BaseModel):
    """One article as the listing and the Atom feed show it; stored as JSON under `RECORD_KEY`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    article_id: str
    version: int
    event_id: str
    event_type: EventType
    withdrawn: bool
    listed_ms: int  # listing time (sorted-set score), epoch milliseconds
    updated_ms: int  # when newsflow published this version, epoch milliseconds
    title: str
    url: str | None = None
    uri: str | None = None  # the ninjs `uri`
    summary: str | None = None
    by: str | None = None
    entities: tuple[IndexedEntity, ...] = ()
    keys: tuple[str, ...] = ()  # the sorted sets the article is in (none once withdrawn)
    urgency: int | None = None  # ninjs urgency, 1 most urgent
    story_id: str | None = None  # shared by the copies of one story: the first copy's article id

    def entity_names(self) -> list[str]:
        return list(dict.fromkeys(e.name for e in self.entities))


@dataclass(frozen=True, slots=True)
class IndexUpdate:
    record: IndexRecord
    remove: tuple[str, ...]  # sorted sets to take the article out of
    add: tuple[str, ...]  # sorted sets to put it in (or re-score it in), score `record.listed_ms`


# (entity type, entity id, names and aliases) -> that entity's sorted sets. One per batch: the
# articles of a batch share most of their entities, and folding names and formatting keys was a
# third of planning (~45 keys per article).
KeyCache = dict[tuple[str, str, tuple[str, ...]], tuple[str, ...]]


def _entity_keys(prefix: str, kind: str, entity_id: str, names: Sequence[str]) -> tuple[str, ...]:
    keys = [
        TYPE_KEY.format(prefix=prefix, type=kind),
        ENTITY_KEY.format(prefix=prefix, entity_id=entity_id),
        TYPED_ENTITY_KEY.format(prefix=prefix, type=kind, entity_id=entity_id),
    ]
    for name in {fold_name(n) for n in names} - {""}:
        keys.append(NAME_KEY.format(prefix=prefix, name=name))
        keys.append(TYPED_NAME_KEY.format(prefix=prefix, type=kind, name=name))
    return tuple(keys)


def memberships(
    prefix: str,
    entities: Iterable[tuple[IndexedEntity, Sequence[str]]],
    cache: KeyCache | None = None,
) -> tuple[str, ...]:
    """Every sorted set an article with these (entity, names and aliases) belongs in, sorted."""
    cache = {} if cache is None else cache
    keys = {ALL_KEY.format(prefix=prefix)}
    for entity, names in entities:
        kind = entity.type.value
        memo = (kind, entity.id, tuple(names))
        found = cache.get(memo)
        if found is None:
            found = cache[memo] = _entity_keys(prefix, kind, entity.id, names)
        keys.update(found)
    return tuple(sorted(keys))


def plan_update(
    prefix: str,
    event: PublishedEvent | IndexedEvent,
    previous: IndexRecord | None,
    cache: KeyCache | None = None,
) -> IndexUpdate | None:
    """What indexing `event` changes, or None when the index already has this or a later version.

    `cache` may be shared by the events of one batch (see `KeyCache`)."""
    if previous is not None and event.article_version <= previous.version:
        return None
    data = event.data
    ninjs = data.ninjs if isinstance(data.ninjs, dict) else data.ninjs.as_dict()
    withdrawn = data.pubstatus is PubStatus.WITHDRAWN or event.event_type is EventType.WITHDRAWN
    entities: Sequence[Entity | IndexedEntityView] = data.enrichment.entities.all()
    # Built, not validated: each field comes from a validated event (a third of planning's CPU).
    indexed = tuple(IndexedEntity.model_construct(id=e.id, name=e.name, type=e.type) for e in entities)
    named = ((i, [e.name, *e.aliases]) for i, e in zip(indexed, entities, strict=True))
    keys = () if withdrawn else memberships(prefix, named, cache)
    record = IndexRecord(
        article_id=event.article_id,
        version=event.article_version,
        event_id=event.event_id,
        event_type=event.event_type,
        withdrawn=withdrawn,
        listed_ms=listing_time(data, previous, ninjs),
        updated_ms=_ms(data.published_at),
        title=data.title or _ninjs_title(ninjs),
        url=data.url or _ninjs_url(ninjs),
        uri=_str_or_none(ninjs.get("uri")),
        summary=summary(ninjs),
        by=_str_or_none(ninjs.get("by")),
        entities=indexed,
        keys=keys,
        urgency=data.urgency,
        story_id=data.enrichment.story_id,
    )
    old = set(previous.keys) if previous is not None else set()
    return IndexUpdate(record=record, remove=tuple(sorted(old - set(keys))), add=keys)


def listing_time(
    data: PublishedArticle | IndexedArticleView, previous: IndexRecord | None, ninjs: dict[str, Any]
) -> int:
    """Epoch ms: the source's zone-aware publication time, else when newsflow first published it
    (`ninjs` is the event's ninjs document, as far as it was read)."""
    source = data.article_published_at
    if source is None:
        source = _ninjs_date(ninjs.get("firstcreated"))
    elif data.article_published_at_has_timezone is False or source.utcoffset() is None:
        source = None  # a zone-less date cannot be placed on the timeline; it is not guessed
    if source is not None:
        return _ms(source)
    if previous is not None:
        return previous.listed_ms
    return _ms(data.published_at)


def summary(ninjs: dict[str, Any]) -> str | None:
    """The first paragraph of the main body (ninjs 2.x `bodies`, 1.x `body_text`), else a
    description (a summary-like role first, never the credit line), cut to `SUMMARY_MAX_CHARS`."""
    texts: list[str] = []
    bodies = ninjs.get("bodies")
    if isinstance(bodies, list):
        mains = [b for b in bodies if isinstance(b, dict) and b.get("role") in (None, "main")]
        texts += [
            b["value"] for b in mains or bodies if isinstance(b, dict) and isinstance(b.get("value"), str)
        ]
    if isinstance(ninjs.get("body_text"), str):
        texts.append(ninjs["body_text"])
    descriptions = ninjs.get("descriptions")
    if isinstance(descriptions, list):
        usable = [d for d in descriptions if isinstance(d, dict) and isinstance(d.get("value"), str)]
        usable.sort(key=lambda d: d.get("role") not in ("summary", "abstract", "description"))
        texts += [d["value"] for d in usable if d.get("role") != "creditline"]
    if isinstance(ninjs.get("description_text"), str):
        texts.append(ninjs["description_text"])
    for text in texts:
        paragraph = next((p.strip() for p in _PARAGRAPH_BREAK.split(text) if p.strip()), "")
        if paragraph:
            return _shorten(" ".join(paragraph.split()))
    return None


def _shorten(text: str) -> str:
    if len(text) <= SUMMARY_MAX_CHARS:
        return text
    cut = text[: SUMMARY_MAX_CHARS - 1]
    head, space, _ = cut.rpartition(" ")
    return (head if space and head else cut).rstrip() + "…"


def _str_or_none(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _ninjs_title(ninjs: dict[str, Any]) -> str:
    title = _str_or_none(ninjs.get("title"))
    if title is None and isinstance(ninjs.get("headlines"), list):
        title = next((_str_or_none(h.get("value")) for h in ninjs["headlines"] if isinstance(h, dict)), None)
    return title or ""


def _ninjs_url(ninjs: dict[str, Any]) -> str | None:
    altids = ninjs.get("altids")
    if isinstance(altids, list):
        for altid in altids:
            if isinstance(altid, dict) and altid.get("role") == "url":
                return _str_or_none(altid.get("value"))
    return None


def _ninjs_date(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.utcoffset() is not None else None


# --------------------------------------------------------------------------------------------
# Paging
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cursor:
    """The last row of a page: the next page starts strictly after it in (score, id) order."""

    listed_ms: int
    article_id: str

    def encode(self) -> str:
        raw = orjson.dumps([self.listed_ms, self.article_id])
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """Raises ValueError for anything `encode` did not make."""
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            value = orjson.loads(raw)
        except (binascii.Error, orjson.JSONDecodeError, ValueError) as exc:
            raise ValueError("not a listing cursor") from exc
        if (
            not isinstance(value, list)
            or len(value) != 2
            or type(value[0]) is not int
            or not isinstance(value[1], str)
        ):
            raise ValueError("not a listing cursor")
        return cls(value[0], value[1])


@dataclass(frozen=True, slots=True)
class ListingQuery:
    entity: str | None = None  # an entity id, else a name or alias (case-insensitive)
    entity_type: EntityType | None = None
    since_ms: int | None = None  # inclusive, epoch milliseconds
    limit: int = 20
    after: Cursor | None = None
    urgency_max: int | None = None  # only articles this urgent or more (urgency 1..urgency_max)
    collapse_story: bool = False  # one row per story: its first copy

    def keeps(self, record: IndexRecord) -> bool:
        if self.urgency_max is not None and (record.urgency is None or record.urgency > self.urgency_max):
            return False
        return not (self.collapse_story and record.story_id not in (None, record.article_id))


@dataclass(frozen=True, slots=True)
class ListingPage:
    records: list[IndexRecord]
    next_cursor: Cursor | None


class PublishIndex:
    """Reads and writes the listing index (see the key constants above)."""

    def __init__(
        self, client: Redis, *, prefix: str = INDEX_PREFIX, retention_days: float | None = None
    ) -> None:
        if retention_days is not None and retention_days <= 0:
            raise ValueError("retention_days must be positive")
        self._redis = client
        self.prefix = prefix
        self._retention_ms = round(retention_days * MS_PER_DAY) if retention_days is not None else None
        # Whether every key of the index is in one hash slot, so one function call may write them.
        self._one_slot = not isinstance(client, RedisCluster) or _has_hash_tag(prefix)

    def record_key(self, article_id: str) -> str:
        return RECORD_KEY.format(prefix=self.prefix, article_id=article_id)

    async def apply(self, events: Sequence[PublishedEvent]) -> int:
        """Index the events now, outside a stage (at most one per article); how many changed it."""
        changed = 0

        async def plan() -> Writes:
            nonlocal changed
            ops, reads = await self.plan(events)
            changed = sum(1 for planned in ops if planned)
            return writes_of([op for planned in ops for op in planned], reads)

        if not await commit_fresh(self._redis, plan):
            raise RuntimeError(f"listing index: batch changed under us {MAX_STALE_RETRIES} times")
        return changed

    async def plan(
        self, events: Sequence[PublishedEvent | IndexedEvent]
    ) -> tuple[list[list[Op]], list[Read]]:
        """The commands that index each event (none when it changes nothing, as for a redelivered
        or older version), and the reads they rest on: the batch's stored records, which the
        runner WATCHes, so a replica indexing one of the same articles makes us plan again
        instead of leaving stale memberships.
        """
        updates, expiry, reads = await self._updates(events)
        ops = [self._ops(update) if update is not None else [] for update in updates]
        if expiry:
            # On the first event that writes anything: the runner commits all of them together.
            next(planned for planned in ops if planned).extend(expiry)
        return ops, reads

    async def plan_batch(
        self, events: Sequence[PublishedEvent | IndexedEvent]
    ) -> tuple[list[bool], tuple[Op, ...], list[Read]]:
        """What `plan` writes, for one commit of the whole batch: whether each event changes the
        index, and the commands: the expiry first, then every article's record and memberships in
        one `INDEX_APPLY` call (else one ZREM and one ZADD per sorted set).

        An article is in about 45 sorted sets (all, types, entities, names); a batch of 100 articles
        sharing entities wrote ~4,500 single-member ZADDs, each a command to encode, send and answer.
        Each article is planned once per batch and never both added to and removed from one key, and
        expired articles are never ones being indexed, so merging by key changes no result.
        """
        updates, expiry, reads = await self._updates(events)
        kept: list[Op] = []
        removes: dict[str, list[str]] = {}
        for op in expiry:
            if op.method == "zrem":
                removes.setdefault(op.key, []).extend(op.args[1:])
            else:
                kept.append(op)
        merged = (*kept, *(Op(k, "zrem", (k, *members)) for k, members in removes.items()))
        written = [update for update in updates if update is not None]
        if written and self._one_slot:
            merged += (self._apply_op(written),)
        elif written:
            merged += self._merged_ops(written)
        return [update is not None for update in updates], merged, reads

    def _apply_op(self, updates: Sequence[IndexUpdate]) -> Op:
        """The updates as one `INDEX_APPLY` call: each key named once, articles by key number (a
        batch's ~4,500 memberships were as many ZADD arguments to encode, here ~100 short strings)."""
        numbers: dict[str, str] = {}  # key -> its KEYS index, as text
        argv: list[str | int] = []
        for update in updates:
            record = update.record
            argv += (
                numbers.setdefault(self.record_key(record.article_id), str(len(numbers) + 1)),
                record.article_id,
                record.listed_ms,
                record.model_dump_json(),
                ",".join([numbers.setdefault(k, str(len(numbers) + 1)) for k in update.remove]),
                ",".join([numbers.setdefault(k, str(len(numbers) + 1)) for k in update.add]),
            )
        keys = list(numbers)
        return Op(keys[0], "fcall", (functions.INDEX_APPLY, len(keys), *keys, *argv))

    def _merged_ops(self, updates: Sequence[IndexUpdate]) -> tuple[Op, ...]:
        """The updates as plain commands, one ZREM and one ZADD per sorted set (a cluster with an
        index prefix without a hash tag spreads the keys over slots, which one call cannot span)."""
        records: list[Op] = []
        removes: dict[str, list[str]] = {}
        adds: dict[str, dict[str, int]] = {}
        for update in updates:
            record = update.record
            article_id = record.article_id
            key = self.record_key(article_id)
            records.append(Op(key, "set", (key, record.model_dump_json())))
            for k in update.remove:
                removes.setdefault(k, []).append(article_id)
            for k in update.add:
                adds.setdefault(k, {})[article_id] = record.listed_ms
        return (
            *records,
            *(Op(k, "zrem", (k, *members)) for k, members in removes.items()),
            *(Op(k, "zadd", (k, scores)) for k, scores in adds.items()),
        )

    async def _updates(
        self, events: Sequence[PublishedEvent | IndexedEvent]
    ) -> tuple[list[IndexUpdate | None], list[Op], list[Read]]:
        """Each event's update (None when it changes nothing), the expiry ops, and the reads."""
        ids = [e.article_id for e in events]
        if len(set(ids)) != len(ids):
            raise ValueError("plan takes at most one event per article")
        if not events:
            return [], [], []
        keys = [self.record_key(i) for i in ids]
        stored = await self._get_all(keys)
        updates: list[IndexUpdate | None] = []
        newest: int | None = None
        cache: KeyCache = {}
        for event, raw in zip(events, stored, strict=True):
            previous = IndexRecord.model_validate_json(raw) if raw is not None else None
            update = plan_update(self.prefix, event, previous, cache)
            updates.append(update)
            if update is not None and update.add:
                listed = update.record.listed_ms
                newest = listed if newest is None else max(newest, listed)
        reads = [Read(key, "get", (key,), raw) for key, raw in zip(keys, stored, strict=True)]
        expiry: list[Op] = []
        if newest is not None and self._retention_ms is not None:
            expiry, expiry_reads = await self._expire(newest - self._retention_ms, set(ids), len(events))
            reads += expiry_reads
        return updates, expiry, reads

    async def _get_all(self, keys: Sequence[str]) -> list[bytes | None]:
        if not isinstance(self._redis, RedisCluster):
            return list(await self._redis.mget(keys)) if keys else []  # one command, not one per key
        # One GET per key, not MGET: redis-py refuses multi-key commands in a cluster pipeline.
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.get(key)
            return list(await pipe.execute())

    async def _expire(self, before_ms: int, changing: set[str], batch: int) -> tuple[list[Op], list[Read]]:
        """Removal of up to a bounded number of articles listed before `before_ms`, oldest first:
        out of every sorted set their record names, and the record itself.

        Counted back from the newest article being indexed rather than the clock, so replaying an
        archive in order trims it as live indexing would have. More than the batch adds is removed
        per batch, so trimming keeps pace.
        """
        all_key = ALL_KEY.format(prefix=self.prefix)
        members = await self._redis.zrange(
            all_key, "-inf", f"({before_ms}", byscore=True, offset=0, num=2 * batch + TRIM_SLACK
        )
        expired = [a for a in (as_text(m) for m in members) if a not in changing]
        if not expired:
            return [], []
        keys = [self.record_key(a) for a in expired]
        stored = await self._get_all(keys)
        ops: list[Op] = []
        for article_id, key, raw in zip(expired, keys, stored, strict=True):
            held = IndexRecord.model_validate_json(raw).keys if raw is not None else ()
            ops += [Op(k, "zrem", (k, article_id)) for k in {*held, all_key}]
            # GETDEL, not DEL: the publish ACL user has the string commands, not DEL.
            ops.append(Op(key, "getdel", (key,)))
        return ops, [Read(key, "get", (key,), raw) for key, raw in zip(keys, stored, strict=True)]

    def _ops(self, update: IndexUpdate) -> list[Op]:
        record = update.record
        key = self.record_key(record.article_id)
        return [
            Op(key, "set", (key, record.model_dump_json())),
            *(Op(k, "zrem", (k, record.article_id)) for k in update.remove),
            *(Op(k, "zadd", (k, {record.article_id: record.listed_ms})) for k in update.add),
        ]

    async def listing_key(self, entity: str | None, entity_type: EntityType | None) -> str:
        """The one sorted set answering the filter: an exact entity id wins, else a name."""
        p = self.prefix
        if entity is None:
            if entity_type is None:
                return ALL_KEY.format(prefix=p)
            return TYPE_KEY.format(prefix=p, type=entity_type.value)
        if await self._redis.exists(ENTITY_KEY.format(prefix=p, entity_id=entity)):
            if entity_type is None:
                return ENTITY_KEY.format(prefix=p, entity_id=entity)
            return TYPED_ENTITY_KEY.format(prefix=p, type=entity_type.value, entity_id=entity)
        name = fold_name(entity)
        if entity_type is None:
            return NAME_KEY.format(prefix=p, name=name)
        return TYPED_NAME_KEY.format(prefix=p, type=entity_type.value, name=name)

    async def page(self, query: ListingQuery) -> ListingPage:
        """Newest first; `next_cursor` is set when more rows follow this page."""
        key = await self.listing_key(query.entity, query.entity_type)
        if query.urgency_max is not None or query.collapse_story:
            return await self._filtered_page(key, query)
        rows = await self._rows(key, query)
        page_rows = rows[: query.limit]
        next_cursor = None
        if len(rows) > query.limit:
            last_id, last_ms = page_rows[-1]
            next_cursor = Cursor(last_ms, last_id)
        records: list[IndexRecord] = []
        if page_rows:
            stored = await self._redis.mget([self.record_key(i) for i, _ in page_rows])
            for raw in stored:
                if raw is None:
                    continue  # withdrawn or re-indexed between the two reads
                record = IndexRecord.model_validate_json(raw)
                if not record.withdrawn:
                    records.append(record)
        return ListingPage(records, next_cursor)

    async def _filtered_page(self, key: str, query: ListingQuery) -> ListingPage:
        """A page of records passing `query.keeps`, scanning the sorted set chunk by chunk."""
        kept: list[tuple[IndexRecord, int]] = []
        after = query.after
        while len(kept) <= query.limit:
            chunk = replace(query, after=after, limit=FILTER_CHUNK)
            rows = await self._rows(key, chunk)
            scanned = rows[:FILTER_CHUNK]
            if not scanned:
                break
            stored = await self._redis.mget([self.record_key(i) for i, _ in scanned])
            for (_, score), raw in zip(scanned, stored, strict=True):
                if raw is None:
                    continue
                record = IndexRecord.model_validate_json(raw)
                if not record.withdrawn and query.keeps(record):
                    kept.append((record, score))
            if len(rows) <= FILTER_CHUNK:
                break
            last_id, last_ms = scanned[-1]
            after = Cursor(last_ms, last_id)
        page = kept[: query.limit]
        more = len(kept) > query.limit
        next_cursor = Cursor(page[-1][1], page[-1][0].article_id) if more and page else None
        return ListingPage([r for r, _ in page], next_cursor)

    async def _rows(self, key: str, query: ListingQuery) -> list[tuple[str, int]]:
        """Up to limit + 1 (article id, score) rows after the cursor, newest first.

        Rows with the cursor's score are in descending id order (Redis orders ties by member,
        bytewise), so "after the cursor" is a lower score, or the same score and a lower id.
        """
        after = query.after
        high: int | str = after.listed_ms if after is not None else "+inf"
        low: int | str = query.since_ms if query.since_ms is not None else "-inf"
        after_id = after.article_id.encode() if after is not None else b""
        want = query.limit + 1
        chunk = want + RANGE_SLACK
        rows: list[tuple[str, int]] = []
        offset = 0
        while len(rows) < want:
            batch = await self._redis.zrange(
                key, high, low, desc=True, byscore=True, withscores=True, offset=offset, num=chunk
            )
            for member, score in batch:
                member_bytes = member if isinstance(member, bytes) else str(member).encode()
                if after is not None and int(score) == after.listed_ms and member_bytes >= after_id:
                    continue
                rows.append((as_text(member), int(score)))
            if len(batch) < chunk:
                break
            offset += chunk
        return rows[:want]
