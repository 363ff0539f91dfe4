import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.enrich.related import Candidate, rank_related
from shared.events import Entity, RelatedKind, RelatedLink
from tests.utils.related import NOW, candidate, entity


def rank(
    entities: list[Entity],
    candidates: list[Candidate],
    *,
    top_k: int = 10,
    min_score: float = 0.0,
    total_docs: int = 100,
    half_life_days: float = 14.0,
) -> list[RelatedLink]:
    return rank_related(
        entities,
        candidates,
        now=NOW,
        top_k=top_k,
        min_score=min_score,
        half_life_days=half_life_days,
        total_docs=total_docs,
    )


def ids(links: list[RelatedLink]) -> list[str | None]:
    return [link.article_id for link in links]


def test_rarer_shared_entity_outranks_a_common_one() -> None:
    query = [entity("Tehran", 0.6), entity("Russia", 0.6)]
    common = candidate("common", {"Russia": (0.8, 60)})
    rare = candidate("rare", {"Tehran": (0.8, 3)})

    assert ids(rank(query, [common, rare])) == ["rare", "common"]


def test_higher_salience_in_the_candidate_wins() -> None:
    query = [entity("Tehran", 0.6)]
    passing = candidate("passing", {"Tehran": (0.2, 5)})
    central = candidate("central", {"Tehran": (0.9, 5)})

    assert ids(rank(query, [passing, central])) == ["central", "passing"]


def test_higher_salience_in_the_article_wins() -> None:
    query = [entity("Tehran", 0.9), entity("Baku", 0.1)]
    via_minor = candidate("via-minor", {"Baku": (0.7, 5)})
    via_main = candidate("via-main", {"Tehran": (0.7, 5)})

    assert ids(rank(query, [via_minor, via_main])) == ["via-main", "via-minor"]


def test_older_candidate_with_the_same_overlap_ranks_lower_by_half_life() -> None:
    query = [entity("Tehran", 0.6)]
    fresh = candidate("fresh", {"Tehran": (0.8, 5)}, days_old=0)
    old = candidate("old", {"Tehran": (0.8, 5)}, days_old=14)

    links = rank(query, [old, fresh], half_life_days=14)

    assert ids(links) == ["fresh", "old"]
    assert links[1].score == pytest.approx(links[0].score / 2, rel=1e-5)


def test_candidate_published_after_now_is_not_an_earlier_article() -> None:
    later = candidate("later", {"Tehran": (0.8, 5)}, days_old=-0.5)

    assert rank([entity("Tehran", 0.6)], [later]) == []


def test_min_score_drops_weak_candidates_and_top_k_caps_the_list() -> None:
    query = [entity("Tehran", 0.5)]
    candidates = [candidate(f"c{i}", {"Tehran": (0.9, 5)}, days_old=i * 10) for i in range(6)]
    all_links = rank(query, candidates)
    threshold = all_links[2].score

    assert ids(rank(query, candidates, min_score=threshold)) == ["c0", "c1", "c2"]
    assert ids(rank(query, candidates, top_k=2)) == ["c0", "c1"]
    assert rank(query, candidates, top_k=0) == []
    assert all(link.score >= threshold for link in rank(query, candidates, min_score=threshold))


def test_reason_lists_the_shared_entity_names_most_weighty_first() -> None:
    query = [entity("Tehran", 0.4), entity("Sergey Shoygu", 0.9), entity("Russia", 0.3)]
    both = candidate("both", {"Tehran": (0.5, 4), "Sergey Shoygu": (0.8, 4)})

    [link] = rank(query, [both])

    assert link.kind is RelatedKind.ARTICLE
    assert link.reason == "shares Sergey Shoygu, Tehran"
    assert link.shared_entities == ["Sergey Shoygu", "Tehran"]
    assert link.title == "Title of both"
    assert link.url == "https://news.example.org/articles/both"


def test_reason_shortens_a_long_list_of_shared_names() -> None:
    names = ["A", "B", "C", "D", "E"]
    query = [entity(n, 0.9 - i * 0.1) for i, n in enumerate(names)]
    many = candidate("many", {n: (0.5, 4) for n in names})

    [link] = rank(query, [many])

    assert link.reason == "shares A, B, C and 2 more"
    assert link.shared_entities == names


def test_candidate_sharing_every_entity_fully_scores_one() -> None:
    query = [entity("Tehran", 0.7), entity("Baku", 0.2)]
    perfect = candidate("perfect", {"Tehran": (1.0, 1), "Baku": (1.0, 1)}, days_old=0)

    [link] = rank(query, [perfect], total_docs=500)

    assert link.score == pytest.approx(1.0)


def test_score_follows_the_documented_formula() -> None:
    query = [entity("Tehran", 0.6), entity("Russia", 0.4)]
    c = candidate("c", {"Tehran": (0.5, 10)}, days_old=7)

    [link] = rank(query, [c], total_docs=100, half_life_days=14)

    weight = math.log1p(100 / 10) / math.log1p(100)
    expected = 0.5 ** (7 / 14) * weight * 0.6 * 0.5 / (0.6 + 0.4)
    assert link.score == pytest.approx(expected, abs=1e-6)


def test_ties_break_on_newer_then_article_id_whatever_the_input_order() -> None:
    query = [entity("Tehran", 0.6)]
    twins = [candidate(name, {"Tehran": (0.5, 5)}, days_old=2) for name in ("b", "c", "a")]

    assert ids(rank(query, twins)) == ["a", "b", "c"]
    assert ids(rank(query, list(reversed(twins)))) == ["a", "b", "c"]


def test_article_without_salient_entities_has_no_related_articles() -> None:
    c = candidate("c", {"Tehran": (0.5, 5)})

    assert rank([entity("Tehran", 0.0)], [c]) == []
    assert rank([], [c]) == []


def test_non_positive_half_life_is_rejected() -> None:
    with pytest.raises(ValueError, match="half_life_days"):
        rank([entity("Tehran")], [], half_life_days=0)


def test_zone_less_now_is_taken_as_utc() -> None:
    c = candidate("c", {"Tehran": (0.5, 5)}, days_old=1)
    naive_now = NOW.replace(tzinfo=None)

    links = rank_related(
        [entity("Tehran")],
        [c],
        now=naive_now,
        top_k=5,
        min_score=0,
        half_life_days=14,
        total_docs=10,
    )

    assert ids(links) == ["c"]


@given(
    query=st.lists(st.tuples(st.sampled_from("ABCDEF"), st.floats(0, 1)), min_size=1, max_size=6),
    shared=st.lists(
        st.tuples(st.sampled_from("ABCDEFG"), st.floats(0, 1), st.integers(0, 1000)),
        max_size=7,
    ),
    days_old=st.floats(0, 3650),
    total_docs=st.integers(0, 1000),
)
def test_scores_stay_within_zero_and_one(
    query: list[tuple[str, float]],
    shared: list[tuple[str, float, int]],
    days_old: float,
    total_docs: int,
) -> None:
    c = candidate("c", {n: (s, df) for n, s, df in shared}, days_old=days_old)

    for link in rank([entity(n, s) for n, s in query], [c], total_docs=total_docs):
        assert 0.0 <= link.score <= 1.0
