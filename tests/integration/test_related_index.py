import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection

from services.enrich.related import Candidate, RelatedIndex, rank_related
from shared.events import Entity, RelatedLink
from tests.utils.related import NOW, entity, entity_id, indexed

pytestmark = pytest.mark.integration

# (article_id, days before NOW, {entity name: salience})
CORPUS = [
    ("a1", 1, {"Sergey Shoygu": 0.9, "Tehran": 0.6, "Russia": 0.5}),
    ("a2", 2, {"Tehran": 0.8, "Iran": 0.7}),
    ("a3", 1, {"Russia": 0.9}),
    ("a4", 3, {"Russia": 0.6, "Iran": 0.6}),
    ("a5", 5, {"Russia": 0.8, "Vladimir Putin": 0.7}),
    ("a6", 60, {"Sergey Shoygu": 0.9}),
]
QUERY = [entity("Sergey Shoygu", 0.8), entity("Tehran", 0.6), entity("Russia", 0.3)]


@pytest.fixture
def prefix() -> str:
    return f"test:related:{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def index(redis_client: aioredis.Redis, prefix: str) -> RelatedIndex:
    index = RelatedIndex(redis_client, prefix=prefix)
    for article_id, days_old, entities in CORPUS:
        await index.upsert(indexed(article_id, entities, days_old=days_old))
    return index


@pytest.fixture
def round_trips(monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    """Counts writes to Redis connections: a pipeline is one write, as is a single command."""
    count = 0
    original = AbstractConnection.send_packed_command

    async def counting(self: AbstractConnection, *args: Any, **kwargs: Any) -> None:
        nonlocal count
        count += 1
        await original(self, *args, **kwargs)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counting)
    return lambda: count


async def related_for(
    index: RelatedIndex, article_id: str, entities: list[Entity], *, min_score: float = 0.05
) -> list[RelatedLink]:
    [candidates] = await index.candidates([(article_id, entities)])
    return rank_related(
        entities,
        candidates,
        now=NOW,
        top_k=5,
        min_score=min_score,
        half_life_days=14,
        total_docs=await index.total_docs(),
    )


def by_id(candidates: list[Candidate]) -> dict[str, Candidate]:
    return {c.article_id: c for c in candidates}


async def test_related_articles_rank_rare_recent_overlap_first_with_reasons(
    index: RelatedIndex,
) -> None:
    links = await related_for(index, "new", QUERY)

    assert [(link.article_id, link.reason) for link in links] == [
        ("a1", "shares Sergey Shoygu, Tehran, Russia"),
        ("a2", "shares Tehran"),
        ("a3", "shares Russia"),
        ("a5", "shares Russia"),
    ]
    assert links[0].title == "Title of a1"
    assert links[0].url == "https://news.example.org/articles/a1"
    assert links[0].shared_entities == ["Sergey Shoygu", "Tehran", "Russia"]
    assert [link.score for link in links] == sorted((link.score for link in links), reverse=True)


async def test_candidates_carry_candidate_salience_and_document_frequency(
    index: RelatedIndex,
) -> None:
    [candidates] = await index.candidates([("new", QUERY)])

    found = by_id(candidates)
    assert set(found) == {"a1", "a2", "a3", "a4", "a5", "a6"}
    shared = {s.entity_id: (s.salience, s.doc_freq) for s in found["a1"].shared}
    assert shared == {
        entity_id("Sergey Shoygu"): (0.9, 2),
        entity_id("Tehran"): (0.6, 2),
        entity_id("Russia"): (0.5, 4),
    }
    assert found["a6"].published_at < found["a1"].published_at
    assert await index.total_docs() == 6


async def test_an_article_is_not_its_own_candidate(index: RelatedIndex) -> None:
    [candidates] = await index.candidates([("a1", QUERY)])

    assert "a1" not in by_id(candidates)


async def test_per_entity_keeps_the_newest_articles_of_each_entity(index: RelatedIndex) -> None:
    [candidates] = await index.candidates([("new", [entity("Russia")])], per_entity=2)

    assert [c.article_id for c in candidates] == ["a1", "a3"]


async def test_reindexing_an_updated_article_drops_its_old_entities(
    index: RelatedIndex, redis_client: aioredis.Redis, prefix: str
) -> None:
    await index.upsert(indexed("a2", {"Iran": 0.9, "Baku": 0.4}, days_old=2))

    [candidates] = await index.candidates([("new", QUERY)])
    assert "a2" not in by_id(candidates)
    [via_baku] = await index.candidates([("new", [entity("Baku")])])
    assert [c.article_id for c in via_baku] == ["a2"]
    assert await redis_client.zscore(f"{prefix}:entity:{entity_id('Tehran')}", "a2") is None
    assert await index.total_docs() == 6
    links = await related_for(index, "new", QUERY)
    assert [link.article_id for link in links] == ["a1", "a3", "a5"]


async def test_withdrawn_article_disappears_from_later_related_links(
    index: RelatedIndex, redis_client: aioredis.Redis, prefix: str
) -> None:
    await index.remove("a1")

    links = await related_for(index, "new", QUERY)
    assert "a1" not in [link.article_id for link in links]
    assert [link.article_id for link in links] == ["a2", "a3", "a5"]
    assert await index.total_docs() == 5
    assert not await redis_client.exists(f"{prefix}:article:a1")
    for name in ("Sergey Shoygu", "Tehran", "Russia"):
        assert await redis_client.zscore(f"{prefix}:entity:{entity_id(name)}", "a1") is None


async def test_withdrawing_the_last_article_of_an_entity_leaves_no_key(
    index: RelatedIndex, redis_client: aioredis.Redis, prefix: str
) -> None:
    await index.remove("a5")
    await index.remove("never-indexed")

    assert not await redis_client.exists(f"{prefix}:entity:{entity_id('Vladimir Putin')}")
    assert await index.total_docs() == 5


async def test_concurrent_upserts_of_one_article_leave_consistent_memberships(
    index: RelatedIndex, redis_client: aioredis.Redis, prefix: str
) -> None:
    versions = [{f"Topic {i}": 0.5, "Tehran": 0.5} for i in range(8)]

    await asyncio.gather(*(index.upsert(indexed("a2", v, days_old=2)) for v in versions))

    [candidates] = await index.candidates([("new", [entity(f"Topic {i}") for i in range(8)])])
    assert [c.article_id for c in candidates] == ["a2"]
    assert len(candidates[0].shared) == 1
    topic_keys = [k async for k in redis_client.scan_iter(match=f"{prefix}:entity:{entity_id('Topic')}-*")]
    assert len(topic_keys) == 1


async def test_candidates_for_a_batch_of_50_take_two_round_trips(
    index: RelatedIndex, redis_client: aioredis.Redis, round_trips: Callable[[], int]
) -> None:
    small = [(f"new{i}", QUERY) for i in range(5)]
    large = [(f"new{i}", [*QUERY, entity(f"Topic {i}")]) for i in range(50)]
    await redis_client.dbsize()  # the connection is open before counting

    before = round_trips()
    small_result = await index.candidates(small)
    small_trips = round_trips() - before
    before = round_trips()
    large_result = await index.candidates(large)
    large_trips = round_trips() - before

    assert small_trips == large_trips == 2
    assert len(large_result) == 50
    assert all(len(candidates) == 6 for candidates in [*small_result, *large_result])


async def test_batch_without_candidates_takes_at_most_one_round_trip(
    redis_client: aioredis.Redis, prefix: str, round_trips: Callable[[], int]
) -> None:
    index = RelatedIndex(redis_client, prefix=prefix)
    await redis_client.dbsize()  # the connection is open before counting
    before = round_trips()

    result = await index.candidates([("x", QUERY), ("y", [])])

    assert result == [[], []]
    assert round_trips() - before == 1


async def test_index_works_with_a_decoding_client(redis_url: str, prefix: str) -> None:
    client: aioredis.Redis = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        index = RelatedIndex(client, prefix=prefix)
        await index.upsert(indexed("a1", {"Tehran": 0.6}))

        links = await related_for(index, "new", [entity("Tehran", 0.6)])

        assert [(link.article_id, link.reason) for link in links] == [("a1", "shares Tehran")]
    finally:
        await client.aclose()


async def index_many(index: RelatedIndex, stem: str, name: str, count: int, *, days_old: float = 0) -> None:
    """`count` articles naming only `name`, `<stem>00` the newest, a few hours apart."""
    for i in range(count):
        await index.upsert(indexed(f"{stem}{i:02d}", {name: 0.5}, days_old=days_old + i / 10))


async def test_a_frequent_entity_gives_fewer_candidates_than_a_rare_one(
    redis_client: aioredis.Redis, prefix: str
) -> None:
    index = RelatedIndex(redis_client, prefix=prefix)
    await index_many(index, "us", "United States", 40)
    await index_many(index, "rare", "Rare Accord", 12)

    [frequent] = await index.candidates([("new", [entity("United States")])], per_entity=30)
    [rare] = await index.candidates([("new", [entity("Rare Accord")])], per_entity=30)

    # df 40 of N 52: weight ln(1 + 52/40) / ln(53) = 0.21, so 30 newest become ceil(30 * 0.21) = 7,
    # under the floor of 8; the rare entity (weight 0.42, quota 13) gives all 12 it has.
    assert [c.article_id for c in frequent] == [f"us{i:02d}" for i in range(8)]
    assert len(rare) == 12


async def test_the_candidate_budget_goes_to_the_rarest_entities_first(
    redis_client: aioredis.Redis, prefix: str
) -> None:
    index = RelatedIndex(redis_client, prefix=prefix)
    await index_many(index, "us", "United States", 30)
    await index_many(index, "rare", "Rare Accord", 3, days_old=5)

    [found] = await index.candidates(
        [("new", [entity("United States", 0.9), entity("Rare Accord", 0.5)])], max_candidates=5
    )

    ids = [c.article_id for c in found]
    assert len(ids) == 5
    assert {"rare00", "rare01", "rare02"} <= set(ids)
    assert ids[:2] == ["us00", "us01"]  # the rest of the budget: the frequent entity's newest
