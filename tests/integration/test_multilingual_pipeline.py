"""Articles in English, French, Spanish and German through the real services over a real redis-server."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import redis.asyncio as aioredis

from newsflow.pipeline import push_file, run_pipeline, wait_settled
from shared.events import Entity, PublishedArticle

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

ARTICLES = [
    {
        "id": "ml-en",
        "title": "Prime minister meets French president in London",
        "language": "en",
        "body": (
            "Prime Minister Keir Starmer welcomed President Emmanuel Macron to London on Tuesday for "
            "talks on defence and trade.\n\nStarmer said the two leaders had agreed to deepen "
            "cooperation on energy. Macron later travelled on to Edinburgh."
        ),
    },
    {
        "id": "ml-fr",
        "title": "Emmanuel Macron reçoit le Premier ministre britannique",
        "body": (
            "Le président Emmanuel Macron a reçu mardi à l'Élysée le Premier ministre britannique "
            "Keir Starmer, avant un déplacement commun à Londres la semaine prochaine.\n\n"
            "Selon l'entourage du chef de l'État, les deux dirigeants ont évoqué la situation en "
            "Ukraine et la coopération militaire. Macron se rendra ensuite à Marseille."
        ),
    },
    {
        "id": "ml-es",
        "title": "Pedro Sánchez viaja a Bruselas",
        "language": "es",
        "body": (
            "El presidente del Gobierno, Pedro Sánchez, viajó este lunes a Bruselas para reunirse "
            "con la presidenta de la Comisión Europea, Ursula von der Leyen.\n\nSánchez defendió "
            "ante los periodistas el plan de inversiones y anunció que visitará Sevilla el viernes."
        ),
    },
    {
        "id": "ml-de",
        "title": "Merkel empfängt Macron in Berlin",
        "language": "de",
        "body": (
            "Bundeskanzlerin Angela Merkel hat am Montag den französischen Präsidenten Emmanuel Macron "
            "in Berlin empfangen.\n\nNach dem Treffen sagte Merkel, beide Länder wollten enger "
            "zusammenarbeiten. Macron reist am Dienstag weiter nach Hamburg."
        ),
    },
]


def by_name(entities: list[Entity], name: str) -> Entity:
    found = [e for e in entities if e.name == name]
    assert len(found) == 1, f"{name}: {[e.name for e in entities]}"
    return found[0]


async def test_an_article_in_each_language_is_published_with_its_people_and_places(
    redis_client: aioredis.Redis, redis_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "multilingual.ndjson"
    path.write_bytes(b"\n".join(orjson.dumps(a) for a in ARTICLES) + b"\n")
    async with run_pipeline(redis_url):
        pushed = await push_file(redis_client, path, source="e2e")
        settled = await wait_settled(redis_client, [p.correlation_id for p in pushed], timeout_s=240)
    published: dict[str, PublishedArticle] = {}
    for item in pushed:
        event = settled[item.correlation_id].published
        assert event is not None, settled[item.correlation_id].dead_letter
        published[event.data.ninjs["language"]] = event.data
    assert sorted(published) == ["de", "en", "es", "fr"]  # French detected, the others sent

    expected = {
        "en": ({"Keir Starmer", "Emmanuel Macron"}, {"London", "Edinburgh"}),
        "fr": ({"Emmanuel Macron", "Keir Starmer"}, {"Londres", "Marseille"}),
        "es": ({"Pedro Sánchez", "Ursula von der Leyen"}, {"Bruselas", "Sevilla"}),
        "de": ({"Angela Merkel", "Emmanuel Macron"}, {"Berlin", "Hamburg"}),
    }
    for language, (people, places) in expected.items():
        enrichment = published[language].enrichment
        assert people <= {e.name for e in enrichment.entities.people}, language
        assert places <= {e.name for e in enrichment.entities.places}, language
        # The enrichment says which pipeline tagged the article.
        assert enrichment.tagger.startswith(
            {"en": "en_core_web_sm", "fr": "fr_core_news_md", "es": "es_core_news_sm", "de": "de_newsflow"}[
                language
            ]
        ), enrichment.tagger

    # Titles stay out of the names, in each language's own words.
    macron = by_name(published["fr"].enrichment.entities.people, "Emmanuel Macron")
    assert [t.casefold() for t in macron.titles] == ["le président"]
    merkel = by_name(published["de"].enrichment.entities.people, "Angela Merkel")
    assert merkel.titles == ["Bundeskanzlerin"]

    # One place named in two languages is one GeoNames place ...
    london = by_name(published["en"].enrichment.entities.places, "London")
    londres = by_name(published["fr"].enrichment.entities.places, "Londres")
    assert london.identifiers.geonames_id == londres.identifiers.geonames_id == 2643743
    # ... and one entity of the registry, whatever the language of its name.
    assert london.entity_id is not None
    assert london.entity_id == londres.entity_id
