"""Related links for an article: its own inline links, earlier articles sharing entities, and
reference pages for entities with an identifier.

The earlier-articles index lives in Redis as plain hashes and sorted sets (no modules), kept by
`RelatedIndex`; ranking is the pure function `rank_related`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence, Sized
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

import orjson

from shared import streams
from shared.events import (
    Entity,
    PublishedArticle,
    PubStatus,
    RawArticle,
    RelatedKind,
    RelatedLink,
)
from shared.runtime.consumer import MAX_STALE_RETRIES, Op, Read, Writes, commit_fresh, writes_of
from shared.wire import as_text

if TYPE_CHECKING:
    from redis.asyncio import Redis

# --- keys (each under the index's prefix) ------------------------------------------------------
# Root of every key below; a test or a second index passes its own.
DEFAULT_PREFIX: Final = streams.RELATED_PREFIX
# Hash per indexed article (title, url, published_at, entities JSON): what a candidate shows, and
# the entity memberships to undo when the article is re-indexed or withdrawn.
ARTICLE_KEY: Final = "{prefix}:article:{article_id}"
# Sorted set per entity: member article_id, score published_at in epoch seconds. The posting list
# (newest first for candidates); its ZCARD is the entity's document frequency.
ENTITY_KEY: Final = "{prefix}:entity:{entity_id}"
# Sorted set of every indexed article_id, score published_at in epoch seconds: ZCARD is the number
# of indexed articles (N for IDF); by its scores, articles older than the retention are removed.
ARTICLES_KEY: Final = "{prefix}:articles"

# Newest posting-list entries read per entity for candidates (the enrich setting's default).
DEFAULT_PER_ENTITY: Final = 50
# Candidates per article at most (the enrich setting's default): what ranking reads and scores.
DEFAULT_MAX_CANDIDATES: Final = 100
# A frequent entity still gives this many of its newest articles (its IDF quota is smaller).
MIN_PER_ENTITY: Final = 8
# Expired articles removed per batch beyond twice the batch size.
TRIM_SLACK: Final = 100

# Shared entity names spelt out in a reason before it says "and N more".
REASON_NAMES: Final = 3

_INLINE_REASON: Final = "linked in the article text"
_SECONDS_PER_DAY: Final = 86_400.0


@dataclass(frozen=True)
class IndexedArticle:
    """A published article as the related index stores it."""

    article_id: str
    title: str
    url: str | None
    published_at: datetime
    entities: tuple[tuple[str, str, float], ...]  # (entity_id, name, salience 0..1)


@dataclass(frozen=True)
class SharedEntity:
    """One entity a candidate shares with the article being enriched."""

    entity_id: str
    salience: float  # in the candidate, 0..1
    doc_freq: int  # indexed articles mentioning the entity


@dataclass(frozen=True)
class Candidate:
    article_id: str
    title: str
    url: str | None
    published_at: datetime
    shared: tuple[SharedEntity, ...]


def _utc(moment: datetime) -> datetime:
    # A zone-less datetime is taken as UTC rather than the machine's local zone.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _ninjs_title(ninjs: dict[str, object], fallback: str) -> str:
    headlines = ninjs.get("headlines")
    if isinstance(headlines, list):
        values = [h for h in headlines if isinstance(h, dict) and isinstance(h.get("value"), str)]
        main = [h for h in values if h.get("role") == "main"]
        for h in main or values:
            if str(h["value"]).strip():
                return str(h["value"]).strip()
    headline = ninjs.get("headline")  # ninjs 1.x
    if isinstance(headline, str) and headline.strip():
        return headline.strip()
    return fallback


def indexed_from_published(p: PublishedArticle, *, base_url: str) -> IndexedArticle:
    """The index record of a usable published article.

    `url` is the ninjs `uri` when it is a web address, else `<base_url>/articles/<id>` (ninjs allows
    a `uri` that is only an identifier, e.g. a URN, which is no link).
    """
    if p.pubstatus is PubStatus.WITHDRAWN:
        raise ValueError(f"article {p.article_id} is withdrawn: remove it from the index instead")
    uri = p.ninjs.get("uri")
    if isinstance(uri, str) and urlsplit(uri).scheme in {"http", "https"}:
        url = uri
    else:
        url = f"{base_url.rstrip('/')}/articles/{p.article_id}"
    return IndexedArticle(
        article_id=p.article_id,
        title=_ninjs_title(p.ninjs, fallback=p.article_id),
        url=url,
        published_at=_utc(p.published_at),
        entities=tuple((e.entity_id or e.id, e.name, e.salience) for e in p.enrichment.entities.all()),
    )


def _best_salience(entities: Iterable[tuple[str, float]]) -> dict[str, float]:
    # An entity id listed twice keeps its highest salience.
    best: dict[str, float] = {}
    for entity_id, salience in entities:
        best[entity_id] = max(salience, best.get(entity_id, 0.0))
    return best


class RelatedIndex:
    """Published articles by entity, in Redis; see the key constants above for the layout."""

    def __init__(
        self, redis: Redis, *, prefix: str = DEFAULT_PREFIX, retention_days: float | None = None
    ) -> None:
        if not prefix:
            raise ValueError("prefix must not be empty")
        if retention_days is not None and retention_days <= 0:
            raise ValueError("retention_days must be positive")
        self._redis = redis
        self._prefix = prefix
        self._articles_key = ARTICLES_KEY.format(prefix=prefix)
        self._retention_s = retention_days * _SECONDS_PER_DAY if retention_days is not None else None

    def _article_key(self, article_id: str) -> str:
        return ARTICLE_KEY.format(prefix=self._prefix, article_id=article_id)

    def _entity_key(self, entity_id: str) -> str:
        return ENTITY_KEY.format(prefix=self._prefix, entity_id=entity_id)

    async def upsert(self, article: IndexedArticle) -> None:
        """Index (or re-index) an article now, outside a stage: its old memberships are replaced."""
        await self._commit([(article.article_id, article)])

    async def remove(self, article_id: str) -> None:
        """Drop a withdrawn article now: no longer a candidate, no longer counted in frequencies."""
        await self._commit([(article_id, None)])

    async def _commit(self, changes: Sequence[tuple[str, IndexedArticle | None]]) -> None:
        async def plan() -> Writes:
            ops, reads = await self.plan(changes)
            return writes_of([op for planned in ops for op in planned], reads)

        if not await commit_fresh(self._redis, plan):
            raise RuntimeError(f"related index: articles changed under us {MAX_STALE_RETRIES} times")

    async def plan(
        self, changes: Sequence[tuple[str, IndexedArticle | None]]
    ) -> tuple[list[list[Op]], list[Read]]:
        """The commands that apply `changes` (an article to index, or None to drop it), in order,
        one list per change, and the reads they rest on.

        The runner commits them only while each article's stored entities are still the ones read
        here (WATCH), so a concurrent re-index of the same article cannot leave stale memberships.
        """
        keys = list(dict.fromkeys(self._article_key(article_id) for article_id, _ in changes))
        cutoff = self._cutoff(changes)
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hget(key, "entities")
            if cutoff is not None:
                # Bounded per batch, and more than the batch adds, so trimming keeps pace.
                oldest = (self._articles_key, "-inf", f"({cutoff}")
                pipe.zrange(*oldest, byscore=True, offset=0, num=trim_limit(changes))
            replies = await pipe.execute()
        stored = dict(zip(keys, replies[: len(keys)], strict=True))
        reads = [Read(key, "hget", (key, "entities"), stored[key]) for key in keys]
        current = {key: {e_id for e_id, _, _ in _decode_entities(raw)} for key, raw in stored.items()}
        ops: list[list[Op]] = []
        for article_id, article in changes:
            key = self._article_key(article_id)
            ops.append(self._ops(article_id, current[key], article))
            current[key] = {e_id for e_id, _, _ in article.entities} if article else set()
        if cutoff is not None and ops:
            changing = {article_id for article_id, _ in changes}
            expired = [a for a in (as_text(m) for m in replies[-1]) if a not in changing]
            expiry, expiry_reads = await self._expire(expired)
            ops[0] += expiry  # the runner commits every change's ops in one transaction
            reads += expiry_reads
        return ops, reads

    def _cutoff(self, changes: Sequence[tuple[str, IndexedArticle | None]]) -> float | None:
        """Epoch seconds: articles published before it leave the index (None: kept for ever).

        Counted back from the newest article of the batch, not from the clock, so an archive
        replayed in order trims as it would have live, and a late old article trims nothing new.
        """
        times = [_utc(a.published_at).timestamp() for _, a in changes if a is not None]
        if self._retention_s is None or not times:
            return None
        return max(times) - self._retention_s

    async def _expire(self, article_ids: Sequence[str]) -> tuple[list[Op], list[Read]]:
        # Each expired article is removed the way a withdrawal removes it: record, memberships, N.
        if not article_ids:
            return [], []
        keys = [self._article_key(a) for a in article_ids]
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hget(key, "entities")
            stored = await pipe.execute()
        ops: list[Op] = []
        for article_id, raw in zip(article_ids, stored, strict=True):
            ops += self._ops(article_id, {e_id for e_id, _, _ in _decode_entities(raw)}, None)
        reads = [Read(key, "hget", (key, "entities"), raw) for key, raw in zip(keys, stored, strict=True)]
        return ops, reads

    def _ops(self, article_id: str, old_entities: set[str], article: IndexedArticle | None) -> list[Op]:
        key = self._article_key(article_id)
        new = _best_salience((e_id, sal) for e_id, _, sal in article.entities) if article else {}
        ops = [Op(key, "delete", (key,))]
        for entity_id in sorted(old_entities - new.keys()):
            entity_key = self._entity_key(entity_id)
            ops.append(Op(entity_key, "zrem", (entity_key, article_id)))
        if article is None:
            ops.append(Op(self._articles_key, "zrem", (self._articles_key, article_id)))
            return ops
        published = _utc(article.published_at)
        fields: dict[str, str | bytes] = {
            "title": article.title,
            "published_at": published.isoformat(),
            "entities": orjson.dumps([list(entity) for entity in article.entities]),
        }
        if article.url is not None:
            fields["url"] = article.url
        ops.append(Op(key, "hset", (key, None, None, fields)))
        for entity_id in sorted(new):
            entity_key = self._entity_key(entity_id)
            ops.append(Op(entity_key, "zadd", (entity_key, {article_id: published.timestamp()})))
        ops.append(Op(self._articles_key, "zadd", (self._articles_key, {article_id: published.timestamp()})))
        return ops

    async def total_docs(self) -> int:
        """How many articles are indexed (N of the IDF in `rank_related`)."""
        return int(await self._redis.zcard(self._articles_key))

    async def candidates(
        self,
        batch: Sequence[tuple[str, Sequence[Entity]]],
        *,
        per_entity: int = DEFAULT_PER_ENTITY,
        max_candidates: int = DEFAULT_MAX_CANDIDATES,
    ) -> list[list[Candidate]]:
        """Earlier articles sharing entities with each (article_id, entities) of the batch.

        Two pipelined round trips for the whole batch, whatever its size: the newest `per_entity`
        articles and the document frequency of every distinct entity, then the records of every
        distinct candidate. A frequent entity gives fewer than `per_entity` (`entity_quota`): it
        weighs little in `rank_related`, so its posting list is sampled, never scanned, and the
        cost of a lookup does not grow with the archive. At most `max_candidates` per article,
        taken from its entities in the order of what they can add to a score (IDF weight times
        salience), so a busy article's budget goes to its rare entities first. An article is
        never its own candidate. Candidates come newest first.
        """
        if per_entity < 1 or max_candidates < 1:
            raise ValueError("per_entity and max_candidates must be at least 1")
        # The registry id when linked (the same entity across spellings), else the article-level id.
        wanted = [
            _best_salience((e.entity_id or e.id, e.salience) for e in entities) for _, entities in batch
        ]
        entity_ids = sorted({entity_id for query in wanted for entity_id in query})
        if not entity_ids:
            return [[] for _ in batch]

        async with self._redis.pipeline(transaction=False) as pipe:
            for entity_id in entity_ids:
                # One more than asked, so excluding the article itself still leaves per_entity.
                pipe.zrevrange(self._entity_key(entity_id), 0, per_entity)
                pipe.zcard(self._entity_key(entity_id))
            pipe.zcard(self._articles_key)
            *replies, total = await pipe.execute()
        members = {e_id: [as_text(m) for m in replies[2 * i]] for i, e_id in enumerate(entity_ids)}
        doc_freq = {e_id: int(replies[2 * i + 1]) for i, e_id in enumerate(entity_ids)}
        quota = {e_id: entity_quota(per_entity, doc_freq[e_id], int(total)) for e_id in entity_ids}
        weight = {e_id: idf_weight(doc_freq[e_id], int(total)) for e_id in entity_ids}

        per_article: list[set[str]] = []
        for (article_id, _), query in zip(batch, wanted, strict=True):
            found: dict[str, None] = {}
            for e_id in sorted(query, key=lambda e: (-weight[e] * query[e], e)):
                newest = [m for m in members[e_id] if m != article_id][: quota[e_id]]
                found.update(dict.fromkeys(newest[: max_candidates - len(found)]))
            per_article.append(set(found))
        candidate_ids = sorted({c_id for found in per_article for c_id in found})
        if not candidate_ids:
            return [[] for _ in batch]

        async with self._redis.pipeline(transaction=False) as pipe:
            for candidate_id in candidate_ids:
                pipe.hmget(self._article_key(candidate_id), ["title", "url", "published_at", "entities"])
            records = await pipe.execute()
        stored = {
            c_id: record
            for c_id, record in zip(candidate_ids, records, strict=True)
            if record[2] is not None  # withdrawn between the two round trips
        }

        return [
            _candidates_from(found, query, stored, doc_freq)
            for query, found in zip(wanted, per_article, strict=True)
        ]


def idf_weight(doc_freq: int, total_docs: int) -> float:
    """ln(1 + N / df) / ln(1 + N): 1 for an entity on one article, near 0 for one on all."""
    n = max(total_docs, doc_freq, 1)  # a stale N must not push the weight above 1
    return math.log1p(n / max(doc_freq, 1)) / math.log1p(n)


def entity_quota(per_entity: int, doc_freq: int, total_docs: int) -> int:
    """Candidates an entity gives: `per_entity` scaled by its IDF weight, at least `MIN_PER_ENTITY`
    (or `per_entity` when smaller). "United States" on a third of a million articles gives 8 of
    50; an entity on a handful gives all 50."""
    floor = min(per_entity, MIN_PER_ENTITY)
    return max(floor, math.ceil(per_entity * idf_weight(doc_freq, total_docs)))


def trim_limit(changes: Sized) -> int:
    """Expired articles removed per planned batch at most: twice what the batch adds, plus room."""
    return 2 * len(changes) + TRIM_SLACK


def _candidates_from(
    found: set[str],
    query: dict[str, float],
    stored: dict[str, list[bytes | str | None]],
    doc_freq: dict[str, int],
) -> list[Candidate]:
    out: list[Candidate] = []
    for c_id in found:
        record = stored.get(c_id)
        if record is None:
            continue
        title, url, published_at, entities = record
        saliences = _best_salience((e_id, sal) for e_id, _, sal in _decode_entities(entities))
        shared = tuple(
            SharedEntity(e_id, saliences[e_id], doc_freq[e_id]) for e_id in sorted(query) if e_id in saliences
        )
        if not shared or published_at is None:
            continue
        out.append(
            Candidate(
                article_id=c_id,
                title=as_text(title) if title is not None else c_id,
                url=as_text(url) if url is not None else None,
                published_at=_utc(datetime.fromisoformat(as_text(published_at))),
                shared=shared,
            )
        )
    out.sort(key=lambda c: (-c.published_at.timestamp(), c.article_id))
    return out


def _decode_entities(raw: bytes | str | None) -> list[tuple[str, str, float]]:
    if raw is None:
        return []
    return [(str(e_id), str(name), float(sal)) for e_id, name, sal in orjson.loads(raw)]


def rank_related(
    entities: Sequence[Entity],
    candidates: Sequence[Candidate],
    *,
    now: datetime,
    top_k: int,
    min_score: float,
    half_life_days: float,
    total_docs: int,
) -> list[RelatedLink]:
    """The best `top_k` earlier articles scoring at least `min_score`, best first.

    For the article's entities e (salience s(e) in the article, s_c(e) in candidate c, both 0..1):

        score(c) = decay(c) · Σ_{e shared} w(e) · s(e) · s_c(e)  /  Σ_{e} s(e)

        w(e)     = ln(1 + N / df(e)) / ln(1 + N)     IDF scaled into (0, 1]: 1 when only one
                                                     indexed article has e, small when most do
        decay(c) = 0.5 ** (age_days / half_life_days),  age_days = (now − published_at) in days

    N = total_docs, df(e) = indexed articles mentioning e (both counts of articles). The
    denominator is the best score this article's entities can reach (every entity shared, each
    w = 1 and s_c = 1, age 0), so scores lie in [0, 1]. `now` is the reference time (the article's
    own publication time or the clock): candidates published after it are not earlier and are
    skipped. Ties go to the newer article, then the smaller article_id.
    """
    if half_life_days <= 0:
        raise ValueError("half_life_days must be positive")
    if top_k <= 0:
        return []
    now = _utc(now)
    query: dict[str, tuple[str, float]] = {}
    for e in entities:
        key = e.entity_id or e.id  # the registry id when linked: one entity across spellings
        if key not in query or e.salience > query[key][1]:
            query[key] = (e.name, e.salience)
    best_possible = sum(sal for _, sal in query.values())
    if best_possible <= 0:
        return []

    scored: list[tuple[float, float, str, Candidate, list[str], list[str]]] = []
    for c in candidates:
        published = _utc(c.published_at)
        age_days = (now - published).total_seconds() / _SECONDS_PER_DAY
        if age_days < 0:
            continue
        contributions: list[tuple[float, str]] = []
        ids: dict[str, str] = {}
        for shared in c.shared:
            if shared.entity_id not in query:
                continue
            name, salience = query[shared.entity_id]
            weight = idf_weight(shared.doc_freq, total_docs)
            contributions.append((weight * salience * shared.salience, name))
            ids.setdefault(name, shared.entity_id)
        if not contributions:
            continue
        decay = 0.5 ** (age_days / half_life_days)
        # Rounded once, so the threshold and the order apply to the score clients see.
        score = round(min(1.0, decay * sum(p for p, _ in contributions) / best_possible), 6)
        if score < min_score:
            continue
        contributions.sort(key=lambda part_name: (-part_name[0], part_name[1]))
        names = list(dict.fromkeys(name for _, name in contributions))
        scored.append((score, published.timestamp(), c.article_id, c, names, [ids[n] for n in names]))

    scored.sort(key=lambda item: (-item[0], -item[1], item[2]))
    return [
        RelatedLink(
            kind=RelatedKind.ARTICLE,
            title=c.title,
            url=c.url,
            article_id=c.article_id,
            score=score,
            reason=_shares_reason(names, entity_ids),
            shared_entities=names,
            shared_entity_ids=entity_ids,
        )
        for score, _, _, c, names, entity_ids in scored[:top_k]
    ]


def _shares_reason(names: Sequence[str], entity_ids: Sequence[str] = ()) -> str:
    # Registry ids (never a name slug: those are the article-level ids) follow their names.
    labelled = [
        f"{n} ({i})" if i and ":" not in i else n
        for n, i in zip(names, [*entity_ids, *[""] * len(names)], strict=False)
    ]
    shown = ", ".join(labelled[:REASON_NAMES])
    more = len(names) - REASON_NAMES
    return f"shares {shown} and {more} more" if more > 0 else f"shares {shown}"


def reference_links(entities: Sequence[Entity], *, limit: int = 10) -> list[RelatedLink]:
    """Reference pages of the entities that carry an identifier URI, most salient first.

    The score is the entity's salience; one link per URI.
    """
    best: dict[str, Entity] = {}
    for e in entities:
        uri = (e.identifiers.uri or "").strip()
        if uri and (uri not in best or e.salience > best[uri].salience):
            best[uri] = e
    ranked = sorted(best.items(), key=lambda item: (-item[1].salience, item[1].name, item[0]))
    return [
        RelatedLink(
            kind=RelatedKind.REFERENCE,
            title=e.name,
            url=uri,
            score=e.salience,
            reason=f"reference page for {e.name} ({_reference_source(e, uri)})",
        )
        for uri, e in ranked[: max(limit, 0)]
    ]


def _reference_source(e: Entity, uri: str) -> str:
    if e.identifiers.geonames_id is not None:
        return f"GeoNames {e.identifiers.geonames_id}"
    return urlsplit(uri).netloc or uri


def inline_links(article: RawArticle) -> list[RelatedLink]:
    """The article's own related links (e.g. `READ: <title>` lines), in order, without repeats."""
    seen: set[tuple[str, str | None]] = set()
    links: list[RelatedLink] = []
    for link in article.inline_links:
        url = link.url.strip() if link.url and link.url.strip() else None
        title = link.title.strip() or url or ""
        if not title or (title, url) in seen:
            continue
        seen.add((title, url))
        links.append(
            RelatedLink(kind=RelatedKind.INLINE, title=title, url=url, score=1.0, reason=_INLINE_REASON)
        )
    return links
