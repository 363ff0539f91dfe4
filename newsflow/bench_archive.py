"""`newsflow bench --archive N`: how lookups and Redis memory grow with the archive.

For each N, a private redis-server is preloaded with N published articles through the indexes'
own planning code (`EntityRegistry` for the entity article lists, `RelatedIndex.plan`,
`PublishIndex.plan`), their commands sent in pipelined batches instead of one commit per article,
and then the reads the services make are timed one at a time (1,000 of each, in three rounds;
the round with the lowest p99 is kept):

- related: `RelatedIndex.candidates` + `total_docs` + `rank_related` for one new article, as
  enrich calls them;
- listing: `PublishIndex.page` for a mix of what readers ask (first page, an entity, a type, an
  urgency filter, the second page);
- entity: `entity_articles`, the page of `GET /v1/entities/{id}/articles`;
- memory: `INFO memory` used_memory after each index minus before it, per million articles.

Articles are generated for a seed: 3 to 9 entities each, drawn Zipf-like from a vocabulary that
grows with the archive (Heaps' law), so a few entities such as "United States" are on a large
share of all articles and a long tail is on one or two. Articles are dated `ARTICLES_PER_DAY`
apart, so even a million fit inside every retention default: nothing is trimmed, and the memory
is that of N retained articles.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import numpy as np
import redis.asyncio as aioredis
from rich.console import Console
from rich.table import Table

from newsflow.bench import percentile
from newsflow.redis_server import RedisServer
from services.enrich.linking import Query
from services.enrich.registry import EntityRegistry
from services.enrich.related import IndexedArticle, RelatedIndex, rank_related
from services.enrich.settings import EnrichSettings
from services.publish.entities_api import entity_articles
from services.publish.listing import ListingQuery, PublishIndex
from shared import events
from shared.events import (
    Enrichment,
    Entities,
    Entity,
    EntityType,
    EventType,
    PublishedArticle,
    PublishedEvent,
    PubStatus,
)
from shared.runtime.consumer import Op

SCALE_SIZES: Final = (10_000, 100_000, 1_000_000)  # `make bench-scale`
SEED: Final = 20_261_202
ARTICLES_PER_DAY: Final = 12_000  # a million articles span 83 days, inside every retention
START: Final = datetime(2026, 1, 1, tzinfo=UTC)
ENTITIES_PER_ARTICLE: Final = (3, 9)  # inclusive range
ZIPF_EXPONENT: Final = 1.0
# Vocabulary = HEAPS_K * N ** HEAPS_BETA distinct entities: about 10,000 at 10k, 159,000 at 1M.
HEAPS_K: Final = 40.0
HEAPS_BETA: Final = 0.6
CHUNK: Final = 1_000  # articles planned and sent per pipelined batch
REGISTRY_CONCURRENCY: Final = 64  # registry updates (one script call each) in flight at once
SAMPLES: Final = 1_000  # timed lookups per figure and round
ROUNDS: Final = 3  # the quietest round's figures are kept
WARM_UP: Final = 20  # untimed lookups first (connections, script cache)
BASE_URL: Final = "https://news.example.org"
SALIENCE: Final = (0.9, 0.7, 0.55, 0.4, 0.3, 0.2, 0.15, 0.1, 0.1)  # by position in the article

HEAD: Final = (
    ("United States", EntityType.PLACE),
    ("China", EntityType.PLACE),
    ("European Union", EntityType.ORGANISATION),
    ("United Nations", EntityType.ORGANISATION),
    ("Russia", EntityType.PLACE),
    ("United Kingdom", EntityType.PLACE),
    ("Germany", EntityType.PLACE),
    ("NATO", EntityType.ORGANISATION),
    ("World Bank", EntityType.ORGANISATION),
    ("Ukraine", EntityType.PLACE),
)
_FIRST: Final = ("Ana", "Bram", "Chen", "Dara", "Emil", "Farah", "Goran", "Hana", "Ivo", "Jana")
_SYLLABLES: Final = ("ka", "lo", "mi", "ren", "sa", "tu", "vel", "do", "ri", "na", "bo", "ze")
_TYPES: Final = (EntityType.PERSON, EntityType.ORGANISATION, EntityType.PLACE, EntityType.OTHER)


@dataclass(frozen=True)
class ArchiveFigures:
    """One archive size; the first five fields are the bench JSON's `archive[N]` keys."""

    related_p50_ms: float
    related_p99_ms: float
    listing_p99_ms: float
    entity_p99_ms: float
    redis_mb_per_million: float
    listing_p50_ms: float
    entity_p50_ms: float
    mb_per_million: dict[str, float]  # by index: registry, related, listing
    preload_s: float
    vocabulary: int
    retained: dict[str, int]  # articles each index holds after the preload

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def vocabulary_size(n: int) -> int:
    return max(len(HEAD), int(HEAPS_K * n**HEAPS_BETA))


def _word(number: int) -> str:
    out = ""
    while True:
        number, digit = divmod(number, len(_SYLLABLES))
        out += _SYLLABLES[digit]
        if number == 0:
            return out if len(out) > 3 else out + "ra"


def entity_name(rank: int) -> tuple[str, EntityType]:
    """The rank-th most frequent entity: the head by name, the tail generated (unique per rank)."""
    if rank < len(HEAD):
        return HEAD[rank]
    kind = _TYPES[rank % len(_TYPES)]
    word = _word(rank).capitalize()
    if kind is EntityType.PERSON:
        return f"{_FIRST[rank % len(_FIRST)]} {word}", kind
    if kind is EntityType.ORGANISATION:
        return f"{word} Holdings", kind
    if kind is EntityType.PLACE:
        return f"Port {word}", kind
    return f"{word} Accord", kind


@dataclass(frozen=True)
class Archive:
    """N generated articles: article i names the entity ranks `ranks[offsets[i]:offsets[i+1]]`."""

    n: int
    vocabulary: int
    offsets: np.ndarray
    ranks: np.ndarray
    urgency: np.ndarray

    def entities_of(self, i: int) -> list[int]:
        return [int(r) for r in self.ranks[self.offsets[i] : self.offsets[i + 1]]]

    @staticmethod
    def published_at(i: int) -> datetime:
        return START + timedelta(seconds=i * 86_400 / ARTICLES_PER_DAY)


def generate(n: int, *, seed: int = SEED) -> Archive:
    rng = np.random.default_rng(seed)
    vocabulary = vocabulary_size(n)
    weights = 1.0 / np.arange(1, vocabulary + 1) ** ZIPF_EXPONENT
    low, high = ENTITIES_PER_ARTICLE
    counts = rng.integers(low, high + 1, size=n)
    draws = rng.choice(vocabulary, size=int(counts.sum()), p=weights / weights.sum())
    offsets = np.zeros(n + 1, dtype=np.int64)
    ranks: list[int] = []
    at = 0
    for i, count in enumerate(counts):
        # A repeat draw in one article is one entity, as the tagger resolves it.
        ranks += dict.fromkeys(int(r) for r in draws[at : at + count])
        at += int(count)
        offsets[i + 1] = len(ranks)
    urgency = rng.choice(np.arange(1, 9), size=n, p=[0.01, 0.04, 0.15, 0.3, 0.3, 0.1, 0.05, 0.05])
    return Archive(n, vocabulary, offsets, np.asarray(ranks, dtype=np.int64), urgency)


class Vocabulary:
    """Entity values per rank, built once and shared by every article naming them."""

    def __init__(self, size: int) -> None:
        self.entities: list[Entity] = []
        for rank in range(size):
            name, kind = entity_name(rank)
            self.entities.append(
                Entity(id=events.entity_id(kind, name), name=name, type=kind, count=1, salience=0.5)
            )
        self.queries = [Query.of(e) for e in self.entities]
        self.registry_ids: list[str] = []

    async def register(self, registry: EntityRegistry) -> None:
        """Every entity gets its registry id the way enrich creates a new one."""
        ids: list[str] = []
        for start in range(0, len(self.entities), CHUNK):
            batch = range(start, min(start + CHUNK, len(self.entities)))
            made = await registry._create_all([(self.entities[r], self.queries[r], []) for r in batch])
            ids += [entity_id for entity_id, _ in made]
        self.registry_ids = ids
        self.entities = [
            e.model_copy(update={"entity_id": i}) for e, i in zip(self.entities, ids, strict=True)
        ]

    def linked(self, ranks: Sequence[int]) -> list[Entity]:
        return [
            self.entities[r].model_copy(update={"salience": SALIENCE[min(k, len(SALIENCE) - 1)]})
            for k, r in enumerate(ranks)
        ]


def article_id(i: int) -> str:
    return f"arc-{i:07d}"


def published_event(archive: Archive, vocab: Vocabulary, i: int) -> PublishedEvent:
    ranks = archive.entities_of(i)
    grouped: dict[EntityType, list[Entity]] = {t: [] for t in EntityType}
    for r in ranks:
        grouped[vocab.entities[r].type].append(vocab.entities[r])
    aid, when = article_id(i), archive.published_at(i)
    title = f"{vocab.entities[ranks[0]].name}: report {i}"
    ninjs = {
        "uri": f"{BASE_URL}/articles/{aid}",
        "headlines": [{"role": "main", "value": title}],
        "bodies": [{"role": "main", "value": f"{title}. The first paragraph of the story.\n\nMore."}],
    }
    data = PublishedArticle(
        article_id=aid,
        version=1,
        pubstatus=PubStatus.USABLE,
        title=title,
        url=f"{BASE_URL}/articles/{aid}",
        article_published_at=when,
        article_published_at_has_timezone=True,
        ninjs=ninjs,
        enrichment=Enrichment(
            entities=Entities(
                people=grouped[EntityType.PERSON],
                organisations=grouped[EntityType.ORGANISATION],
                places=grouped[EntityType.PLACE],
                other=grouped[EntityType.OTHER],
            ),
            related=[],
            tagger="bench",
            story_id=aid,
        ),
        published_at=when,
        urgency=int(archive.urgency[i]),
    )
    return PublishedEvent(
        event_type=EventType.PUBLISHED,
        occurred_at=when,
        article_id=aid,
        article_version=1,
        correlation_id=f"bench-{aid}",
        data=data,
    )


def indexed_article(archive: Archive, vocab: Vocabulary, i: int) -> IndexedArticle:
    aid = article_id(i)
    return IndexedArticle(
        article_id=aid,
        title=f"report {i}",
        url=f"{BASE_URL}/articles/{aid}",
        published_at=archive.published_at(i),
        entities=tuple(
            (vocab.registry_ids[r], vocab.entities[r].name, SALIENCE[min(k, len(SALIENCE) - 1)])
            for k, r in enumerate(archive.entities_of(i))
        ),
    )


async def _send(client: aioredis.Redis, ops: Sequence[Sequence[Op]]) -> None:
    # One writer and no concurrent change: the plan's reads need no WATCH here.
    async with client.pipeline(transaction=False) as pipe:
        for planned in ops:
            for op in planned:
                getattr(pipe, op.method)(*op.args)
        await pipe.execute()


async def _used_mb(client: aioredis.Redis) -> float:
    info = await client.info("memory")
    return float(info["used_memory"]) / 1e6


async def preload(
    client: aioredis.Redis, archive: Archive, vocab: Vocabulary, console: Console
) -> dict[str, float]:
    """Every index filled with the archive, one after the other; MB each one added."""
    settings = EnrichSettings()
    registry = EntityRegistry(client, base_url=BASE_URL)
    related = RelatedIndex(client, retention_days=settings.related_retention_days)
    listing = PublishIndex(client, retention_days=365.0)
    added: dict[str, float] = {}

    before = await _used_mb(client)
    await vocab.register(registry)
    limit = asyncio.Semaphore(REGISTRY_CONCURRENCY)

    async def link(i: int) -> None:
        ranks = archive.entities_of(i)
        async with limit:
            # The update `link` makes, without its candidate lookups (every id is known here).
            await registry._apply_article(
                article_id(i),
                archive.published_at(i),
                [vocab.entities[r] for r in ranks],
                [vocab.queries[r] for r in ranks],
                [vocab.registry_ids[r] for r in ranks],
            )

    async def fill(name: str, step: Callable[[range], Awaitable[None]]) -> None:
        nonlocal before
        started = time.monotonic()
        with console.status(f"archive {archive.n:,}: {name}") as status:
            for start in range(0, archive.n, CHUNK):
                await step(range(start, min(start + CHUNK, archive.n)))
                status.update(f"archive {archive.n:,}: {name} {start + CHUNK:,}")
        after = await _used_mb(client)
        added[name], before = after - before, after
        console.log(f"archive {archive.n:,}: {name} preloaded in {time.monotonic() - started:.1f} s")

    async def registry_step(chunk: range) -> None:
        await asyncio.gather(*(link(i) for i in chunk))

    async def related_step(chunk: range) -> None:
        ops, _ = await related.plan([(article_id(i), indexed_article(archive, vocab, i)) for i in chunk])
        await _send(client, ops)

    async def listing_step(chunk: range) -> None:
        ops, _ = await listing.plan([published_event(archive, vocab, i) for i in chunk])
        await _send(client, ops)

    await fill("registry", registry_step)
    await fill("related", related_step)
    await fill("listing", listing_step)
    return added


async def _timed(calls: Sequence[Callable[[], Awaitable[object]]]) -> list[float]:
    for call in calls[:WARM_UP]:
        await call()
    out: list[float] = []
    for call in calls:
        started = time.perf_counter()
        await call()
        out.append((time.perf_counter() - started) * 1000)
    return out


async def measure(client: aioredis.Redis, archive: Archive, vocab: Vocabulary) -> dict[str, list[float]]:
    settings = EnrichSettings()
    related = RelatedIndex(client)
    listing = PublishIndex(client)
    registry = EntityRegistry(client, base_url=BASE_URL)
    queries = generate(SAMPLES, seed=SEED + archive.n)  # new articles, the same distribution
    now = archive.published_at(archive.n)

    def related_call(q: int) -> Callable[[], Awaitable[object]]:
        entities = vocab.linked([r % archive.vocabulary for r in queries.entities_of(q)])

        async def call() -> object:
            [candidates] = await related.candidates(
                [(f"query-{q}", entities)],
                per_entity=settings.related_candidates_per_entity,
                max_candidates=settings.related_max_candidates,
            )
            return rank_related(
                entities,
                candidates,
                now=now,
                top_k=settings.related_top_k,
                min_score=settings.related_min_score,
                half_life_days=settings.related_half_life_days,
                total_docs=await related.total_docs(),
            )

        return call

    first = await listing.page(ListingQuery())
    asked = [
        ListingQuery(),
        ListingQuery(after=first.next_cursor),
        ListingQuery(entity=HEAD[0][0]),
        ListingQuery(entity_type=EntityType.PERSON),
        ListingQuery(urgency_max=2),
    ]

    def listing_call(k: int) -> Callable[[], Awaitable[object]]:
        if k % 6 == 5:  # a tail entity by its id, as a link from an article page asks
            tail = vocab.entities[int(queries.ranks[k % len(queries.ranks)]) % archive.vocabulary]
            query = ListingQuery(entity=tail.id)
        else:
            query = asked[k % 6]
        return lambda: listing.page(query)

    def entity_call(k: int) -> Callable[[], Awaitable[object]]:
        # Half as readers click (by popularity), half any entity of the vocabulary.
        rank = int(queries.ranks[k]) if k % 2 == 0 else (k * 7919) % archive.vocabulary
        entity_id = vocab.registry_ids[rank % archive.vocabulary]
        return lambda: entity_articles(registry, entity_id, offset=0, limit=20)

    calls = {
        "related": [related_call(q) for q in range(SAMPLES)],
        "listing": [listing_call(k) for k in range(SAMPLES)],
        "entity": [entity_call(k) for k in range(SAMPLES)],
    }
    # Best of ROUNDS (by p99), rounds interleaved: other work on a shared machine only ever adds
    # to a latency, so the quietest round is the closest to what the code costs.
    rounds: dict[str, list[list[float]]] = {name: [] for name in calls}
    for _ in range(ROUNDS):
        for name, timed in calls.items():
            rounds[name].append(await _timed(timed))
    return {name: min(runs, key=lambda run: percentile(run, 99)) for name, runs in rounds.items()}


async def _run_one(url: str, n: int, console: Console) -> ArchiveFigures:
    client: aioredis.Redis = aioredis.Redis.from_url(url)
    try:
        started = time.monotonic()
        archive = generate(n)
        vocab = Vocabulary(archive.vocabulary)
        added = await preload(client, archive, vocab, console)
        preload_s = time.monotonic() - started
        # The generated archive is this process's, not a service's: keep the collector from
        # walking it (its pauses grow with N) while the lookups are timed.
        gc.collect()
        gc.freeze()
        try:
            with console.status(f"archive {n:,}: lookups"):
                times = await measure(client, archive, vocab)
        finally:
            gc.unfreeze()
        retained = {
            "related": await RelatedIndex(client).total_docs(),
            "listing": int(await client.zcard(f"{PublishIndex(client).prefix}:all")),
        }
    finally:
        await client.aclose()
    per_million = {name: round(mb / n * 1e6, 1) for name, mb in added.items()}
    return ArchiveFigures(
        related_p50_ms=round(percentile(times["related"], 50), 3),
        related_p99_ms=round(percentile(times["related"], 99), 3),
        listing_p99_ms=round(percentile(times["listing"], 99), 3),
        entity_p99_ms=round(percentile(times["entity"], 99), 3),
        redis_mb_per_million=round(sum(added.values()) / n * 1e6, 1),
        listing_p50_ms=round(percentile(times["listing"], 50), 3),
        entity_p50_ms=round(percentile(times["entity"], 50), 3),
        mb_per_million=per_million,
        preload_s=round(preload_s, 1),
        vocabulary=archive.vocabulary,
        retained=retained,
    )


def run_archive(
    sizes: Sequence[int], *, console: Console | None = None, redis_url: str | None = None
) -> dict[str, ArchiveFigures]:
    """Figures per archive size, keyed by the size as a string. Each size gets a fresh private
    redis-server (so its memory starts from nothing), unless `redis_url` is given (flushed)."""
    console = console or Console(stderr=True)
    out: dict[str, ArchiveFigures] = {}
    for n in sizes:
        if n < 1:
            raise ValueError("an archive size must be at least 1")
        with contextlib.ExitStack() as stack:
            url = redis_url or stack.enter_context(RedisServer()).url
            if redis_url is not None:
                asyncio.run(_flush(url))
            out[str(n)] = asyncio.run(_run_one(url, n, console))
        console.log(f"archive {n:,}: {out[str(n)]}")
    return out


async def _flush(url: str) -> None:
    client: aioredis.Redis = aioredis.Redis.from_url(url)
    try:
        await client.flushdb()
    finally:
        await client.aclose()


def parse_sizes(values: Sequence[str]) -> list[int]:
    """`--archive 10000 --archive 100000,1000000` (underscores allowed) -> [10000, 100000, 1000000]."""
    sizes = [int(part.replace("_", "")) for value in values for part in value.split(",") if part.strip()]
    if any(n < 1 for n in sizes):
        raise ValueError("an archive size must be at least 1")
    return sizes


def render_table(figures: dict[str, ArchiveFigures]) -> Table:
    table = Table(title="archive scale (ms per lookup, MB of Redis per million articles)")
    for column in (
        "articles",
        "related p50",
        "related p99",
        "listing p50",
        "listing p99",
        "entity p50",
        "entity p99",
        "MB / million",
        "preload s",
    ):
        table.add_column(column, justify="right")
    for n, f in figures.items():
        table.add_row(
            f"{int(n):,}",
            f"{f.related_p50_ms:.2f}",
            f"{f.related_p99_ms:.2f}",
            f"{f.listing_p50_ms:.2f}",
            f"{f.listing_p99_ms:.2f}",
            f"{f.entity_p50_ms:.2f}",
            f"{f.entity_p99_ms:.2f}",
            f"{f.redis_mb_per_million:,.0f}",
            f"{f.preload_s:.0f}",
        )
    return table
