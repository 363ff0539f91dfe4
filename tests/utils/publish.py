"""Builders for publish tests (plain functions; import them, never from a conftest)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from shared.events import (
    Entities,
    EntityType,
    InlineLink,
    PubStatus,
    RawArticle,
    RelatedKind,
    RelatedLink,
    TaggedArticle,
)

# One set of entity builders and constants for all tests: tests/utils/published.py.
from tests.utils.published import BASE_URL as BASE_URL
from tests.utils.published import TAGGER as TAGGER
from tests.utils.published import entity as entity
from tests.utils.published import organisation as organisation
from tests.utils.published import person as person
from tests.utils.published import place as place

RECEIVED = datetime(2025, 6, 10, 12, 0, 5, 250_000, tzinfo=UTC)


def raw_article(**overrides: Any) -> RawArticle:
    fields: dict[str, Any] = {
        "article_id": "cms-1001",
        "version": 1,
        "content_hash": "sha256:00ff",
        "source": "cms",
        "source_id": "1001",
        "url": "https://www.example-times.com/world/2025/06/10/story.html",
        "site": "The Example Times",
        "title": "Ministers meet in Zürich",
        "body": "ZÜRICH — Ministers met on Tuesday.\n\nTalks continue.",
        "published_at": datetime(2025, 6, 10, 9, 30, tzinfo=UTC),
        "published_at_has_timezone": True,
        "authors": ["Anna Müller", "José Álvarez"],
        "language": "en",
        "received_at": RECEIVED,
    }
    fields.update(overrides)
    return RawArticle(**fields)


def related(
    kind: RelatedKind,
    title: str,
    *,
    url: str | None = None,
    article_id: str | None = None,
    score: float = 0.5,
) -> RelatedLink:
    return RelatedLink(kind=kind, title=title, url=url, article_id=article_id, score=score, reason="test")


def tagged(
    article: RawArticle | None = None,
    *,
    entities: Entities | None = None,
    links: list[RelatedLink] | None = None,
) -> TaggedArticle:
    return TaggedArticle(
        article=article or raw_article(),
        entities=entities or Entities(),
        related=links or [],
        tagger=TAGGER,
    )


def rich_entities() -> Entities:
    """People, organisations and places with and without identifiers, non-ASCII names."""
    return Entities(
        people=[
            person("Anna Müller", in_headline=True, uri="http://www.wikidata.org/entity/Q1"),
            person("Łukasz Żółć"),
            person("山田 太郎", uri="https://example.org/people/山田 太郎"),  # an IRI with a space
        ],
        organisations=[
            organisation("Société Générale", uri="http://www.wikidata.org/entity/Q270363"),
            organisation("Ministry of Finance"),
            organisation("Bad URI Ltd", uri="not a uri"),
        ],
        places=[
            place(
                "Zürich",
                in_headline=True,
                geonames_id=2657896,
                latitude=47.36667,
                longitude=8.55,
            ),
            place("Italy", iso3166_alpha2="IT", iso3166_alpha3="ITA"),
            place("Tōkyō", uri="https://sws.geonames.org/1850147/", latitude=35.6895),
            place("Nowhere", latitude=float("nan"), longitude=float("inf")),
            place("Atlantis"),
        ],
        other=[entity("Olympics", EntityType.OTHER)],
    )


def all_kinds_of_links() -> list[RelatedLink]:
    return [
        related(RelatedKind.ARTICLE, "Earlier: talks begin", article_id="cms-0999", score=0.9),
        related(RelatedKind.ARTICLE, "From another feed", url="https://wire.example.net/a/77"),
        related(RelatedKind.ARTICLE, "Duplicate of the first", article_id="cms-0999"),
        related(RelatedKind.ARTICLE, "Itself", article_id="cms-1001"),
        related(RelatedKind.INLINE, "READ: Zürich’s budget", url="/world/zürich budget.html"),
        related(RelatedKind.INLINE, "READ: absolute", url="https://www.example-times.com/x?a=1&b=2"),
        related(RelatedKind.INLINE, "READ: no link at all"),
        related(RelatedKind.INLINE, "READ: script", url="javascript:alert(1)"),
        related(RelatedKind.INLINE, "READ: stray percent", url="https://e.example/100%25%/#a#b"),
        related(RelatedKind.REFERENCE, "Zürich", url="https://en.wikipedia.org/wiki/Z%C3%BCrich"),
    ]


def full_tagged() -> TaggedArticle:
    article = raw_article(
        title="Ministers meet in Zürich; Łódź and 東京 send envoys 🌍",
        body="ZÜRICH — Ministers met on Tuesday.\n\n«Talks continue», said Anna Müller.",
        image_caption="Anna Müller arrives in Zürich. ",
        image_credit="Photo: Ørjan Ødegård",
        subjects=["Politics", "Économie", "Politics", "  "],
        inline_links=[InlineLink(title="Zürich’s budget", url="/world/zürich budget.html")],
    )
    return tagged(article, entities=rich_entities(), links=all_kinds_of_links())


def withdrawn_tagged(**overrides: Any) -> TaggedArticle:
    fields: dict[str, Any] = {
        "version": 2,
        "pubstatus": PubStatus.WITHDRAWN,
        "title": "",
        "body": "",
        "withdrawal_reason": "Legal: the source retracted the story.",
    }
    fields.update(overrides)
    return tagged(raw_article(**fields), entities=rich_entities(), links=all_kinds_of_links())


def scenarios() -> dict[str, TaggedArticle]:
    """Named articles that between them use every branch of the mapping."""
    return {
        "full-non-ascii": full_tagged(),
        "minimal": tagged(
            raw_article(
                source_id=None,
                url=None,
                site=None,
                published_at=None,
                published_at_has_timezone=None,
                authors=[],
                language=None,
            )
        ),
        "zone-less-date": tagged(
            raw_article(published_at=datetime(2025, 6, 10, 9, 30), published_at_has_timezone=False)
        ),
        "zone-flagged-missing-but-parsed-as-utc": tagged(raw_article(published_at_has_timezone=False)),
        "offset-plus-0530": tagged(
            raw_article(published_at=datetime(2025, 6, 10, 9, 30, tzinfo=timezone(timedelta(hours=5.5))))
        ),
        "offset-with-seconds": tagged(
            raw_article(
                published_at=datetime(1900, 1, 1, 12, tzinfo=timezone(timedelta(minutes=19, seconds=32)))
            )
        ),
        "later-version": tagged(raw_article(version=7), entities=rich_entities()),
        "withdrawn": withdrawn_tagged(),
        "withdrawn-with-title": withdrawn_tagged(title="Ministers meet", withdrawal_reason=None),
    }
