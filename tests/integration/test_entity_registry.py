"""The entity registry on a real redis-server: races between replicas, merges, splits, restarts."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis

from services.enrich.registry import EntityRegistry
from shared.events import Entities, Entity, Mention
from tests.utils.published import organisation, person

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]
BASE = "http://news.example"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def mentioned(e: Entity, *texts: str) -> Entity:
    return e.model_copy(
        update={"mentions": [Mention(text=t, start=0, end=len(t)) for t in texts or [e.name]]}
    )


def article(*entities: Entity) -> Entities:
    return Entities(
        people=[e for e in entities if e.type.value == "person"],
        organisations=[e for e in entities if e.type.value == "organisation"],
    )


def ids(entities: Entities) -> list[str]:
    return [e.entity_id or "" for e in entities.all()]


async def _registry(redis_url: str) -> tuple[aioredis.Redis, EntityRegistry]:
    client: aioredis.Redis = aioredis.Redis.from_url(redis_url)
    return client, EntityRegistry(client, base_url=BASE)


async def test_two_replicas_racing_on_the_same_new_names_make_one_entity_each(
    redis_client: aioredis.Redis, redis_url: str
) -> None:
    (c1, one), (c2, two) = await _registry(redis_url), await _registry(redis_url)
    try:
        names = [f"Zorblax Holdings {i}" for i in range(20)]
        results = await asyncio.gather(
            *(
                registry.link(f"{side}-{i}", T0, article(mentioned(organisation(name))))
                for i, name in enumerate(names)
                for side, registry in (("a", one), ("b", two))
            )
        )
        pairs = [results[k : k + 2] for k in range(0, len(results), 2)]
        for a, b in pairs:
            assert ids(a) == ids(b)
        for name, (a, _) in zip(names, pairs, strict=True):
            card = await one.get(ids(a)[0])
            assert card is not None
            assert card.name == name
            assert card.article_count == 2
        assert await redis_client.hlen("newsflow:entities:{entities}:doc") == len(names)
    finally:
        await c1.aclose()
        await c2.aclose()


async def test_a_redelivered_article_changes_nothing(redis_client: aioredis.Redis) -> None:
    registry = EntityRegistry(redis_client, base_url=BASE)
    first = await registry.link("a1", T0, article(mentioned(person("Sergei Shoigu"))))
    again = await registry.link("a1", T0, article(mentioned(person("Sergei Shoigu"))))
    assert ids(first) == ids(again)
    card = await registry.get(ids(first)[0])
    assert card is not None
    assert card.article_count == 1
    assert card.names[0].count == 1


async def test_variants_across_articles_link_to_one_entity_with_reasons(redis_client: aioredis.Redis) -> None:
    registry = EntityRegistry(redis_client, base_url=BASE)
    first = await registry.link(
        "a1",
        T0,
        article(mentioned(person("Sergei Shoigu")), mentioned(organisation("New York Stock Exchange"))),
    )
    second = await registry.link(
        "a2",
        T0 + timedelta(hours=1),
        article(mentioned(person("Sergey Shoygu")), mentioned(organisation("NYSE"))),
    )
    assert ids(first) == ids(second)
    links = {e.name: e.link for e in second.all()}
    assert links["Sergey Shoygu"] is not None
    assert links["Sergey Shoygu"].method == "similar"
    assert links["NYSE"] is not None
    assert links["NYSE"].method == "acronym"
    assert all(e.entity_uri == f"{BASE}/v1/entities/{e.entity_id}" for e in second.all())
    card = await registry.get(ids(first)[0])
    assert card is not None
    assert {n.name for n in card.names} == {"Sergei Shoigu", "Sergey Shoygu"}
    assert card.article_count == 2
    assert card.last_seen == T0 + timedelta(hours=1)
    found = await registry.search("shoy")
    assert [c.id for c in found] == [card.id]
    assert (await registry.articles(card.id)) == (["a2", "a1"], 2)


async def test_a_merge_redirects_the_old_id_and_new_articles(redis_client: aioredis.Redis) -> None:
    registry = EntityRegistry(redis_client, base_url=BASE)
    (old,) = ids(await registry.link("a1", T0, article(mentioned(organisation("Gazprom Neft")))))
    (new,) = ids(await registry.link("a2", T0, article(mentioned(organisation("Gazpromneft PJSC")))))
    assert old != new
    merged = await registry.merge(old, new)
    assert merged.id == new
    assert merged.merged_from == [old]
    assert merged.article_count == 2
    via_old = await registry.get(old)
    assert via_old is not None
    assert via_old.id == new
    assert via_old.resolved_from == old
    assert [h.action for h in via_old.history][-1] == "merged"
    (later,) = ids(await registry.link("a3", T0, article(mentioned(organisation("Gazprom Neft")))))
    assert later == new
    assert (await registry.articles(old))[1] == 3


async def test_a_split_moves_the_articles_that_used_the_alias(redis_client: aioredis.Redis) -> None:
    registry = EntityRegistry(redis_client, base_url=BASE)
    (inc,) = ids(await registry.link("a1", T0, article(mentioned(organisation("Apple Inc")))))
    (records,) = ids(await registry.link("a2", T0, article(mentioned(organisation("Apple Records")))))
    both = await registry.link(
        "a3", T0, article(mentioned(organisation("Apple Inc"), "Apple Inc", "Apple Records"))
    )
    await registry.merge(records, inc)  # the wrong merge a newsroom later undoes
    split = await registry.split(inc, "Apple Records")
    assert split.id not in (inc, records)
    assert [n.name for n in split.names] == ["Apple Records"]
    assert sorted((await registry.articles(split.id))[0]) == ["a2", "a3"]
    assert sorted((await registry.articles(inc))[0]) == ["a1", "a3"]  # a2 used only the alias
    assert (await registry.article_entities("a3")) == {inc: ["apple inc"], split.id: ["apple records"]}
    assert ids(both) == [inc]
    (later,) = ids(await registry.link("a4", T0, article(mentioned(organisation("Apple Records")))))
    assert later == split.id


async def test_rename_and_identifier_edits_show_on_the_card(redis_client: aioredis.Redis) -> None:
    registry = EntityRegistry(redis_client, base_url=BASE)
    (entity_id,) = ids(await registry.link("a1", T0, article(mentioned(person("Sergei Shoigu")))))
    card = await registry.rename(entity_id, "Sergei Kuzhugetovich Shoigu")
    assert card.name == "Sergei Kuzhugetovich Shoigu"
    card = await registry.add_identifier(entity_id, "wikidata", "Q313553")
    assert card.identifiers["wikidata"] == "Q313553"
    assert [h.action for h in card.history] == ["created", "renamed", "identifier"]


async def test_ids_survive_a_new_process_and_client(redis_client: aioredis.Redis, redis_url: str) -> None:
    before: Sequence[str]
    client, registry = await _registry(redis_url)
    try:
        before = ids(await registry.link("a1", T0, article(mentioned(person("Ada Lovelace")))))
    finally:
        await client.aclose()
    client, registry = await _registry(redis_url)
    try:
        after = ids(await registry.link("a2", T0, article(mentioned(person("Ada Lovelace")))))
    finally:
        await client.aclose()
    assert before == after


async def test_a_new_version_or_a_kill_takes_the_article_off_entities_it_no_longer_names(
    redis_client: aioredis.Redis,
) -> None:
    registry = EntityRegistry(redis_client, base_url=BASE)
    (ada, babbage) = ids(
        await registry.link(
            "a1", T0, article(mentioned(person("Ada Lovelace")), mentioned(person("Charles Babbage")))
        )
    )
    await registry.link("a1", T0, article(mentioned(person("Ada Lovelace"))))  # version 2
    assert (await registry.articles(babbage)) == ([], 0)
    card = await registry.get(babbage)
    assert card is not None
    assert card.article_count == 0
    assert await registry.withdraw("a1") == 1
    assert (await registry.articles(ada)) == ([], 0)
