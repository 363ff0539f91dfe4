"""Each language's pipeline and rules: the models load and tag, titles and particles are handled."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from services.enrich.identifiers import place_index
from services.enrich.languages import FRENCH, GERMAN, PIPELINES, SPANISH, language_code, parse_languages
from services.enrich.multilingual import KNOWLEDGE_BASE_TAGGER, MultilingualTagger
from services.enrich.resolution import Candidate, club_name_candidates
from shared.events import Entities, RawArticle


def article(body: str, language: str | None, title: str = "Une dépêche") -> RawArticle:
    return RawArticle(
        article_id=f"a-{hashlib.sha256(body.encode()).hexdigest()[:8]}",
        version=1,
        content_hash=hashlib.sha256(body.encode()).hexdigest(),
        source="test",
        title=title,
        body=body,
        language=language,
        received_at=datetime(2026, 1, 5, 9, 0, tzinfo=UTC),
    )


def names(entities: Entities) -> dict[str, list[str]]:
    return {
        "people": sorted(e.name for e in entities.people),
        "organisations": sorted(e.name for e in entities.organisations),
        "places": sorted(e.name for e in entities.places),
    }


def test_language_tags_and_settings_reduce_to_iso_codes() -> None:
    assert language_code("fr-FR") == "fr"
    assert language_code(" ES ") == "es"
    assert language_code("") is None
    assert parse_languages("en, fr,de,,fr") == ("en", "fr", "de")


def test_french_and_spanish_models_load_and_tag_people_and_places(multilingual: MultilingualTagger) -> None:
    spans = multilingual.tag_texts(
        [
            "Emmanuel Macron a rencontré Olaf Scholz à Marseille mardi .",
            "Pedro Sánchez viajó a Sevilla con Ursula von der Leyen .",
        ],
        languages=["fr", "es"],
        raw=True,
    )
    french = {label for _, _, label in spans[0]}
    spanish = {label for _, _, label in spans[1]}
    assert {"PER", "LOC"} <= french
    assert {"PER", "LOC"} <= spanish


def test_french_titles_move_out_of_names(multilingual: MultilingualTagger) -> None:
    (entities,) = multilingual.tag(
        [article("Le président Emmanuel Macron a reçu Mme Christine Lagarde à l'Élysée lundi.", "fr")]
    )
    people = {e.name: e.titles for e in entities.people}
    assert "Emmanuel Macron" in people
    assert "Christine Lagarde" in people
    assert people["Emmanuel Macron"] == ["Le président"]


def test_spanish_article_and_title_are_not_part_of_the_name(multilingual: MultilingualTagger) -> None:
    (entities,) = multilingual.tag(
        [article("El ministro Pedro Sánchez viajó a Londres. Además, el Gobierno aprobó el plan.", "es")]
    )
    assert "Pedro Sánchez" in names(entities)["people"]
    assert "Londres" in names(entities)["places"]
    assert not any(e.name in {"El", "Además"} for e in entities.all())


def test_german_pipeline_is_ours_and_tags_people_and_places(multilingual: MultilingualTagger) -> None:
    (entities,) = multilingual.tag(
        [
            article(
                "Bundeskanzlerin Angela Merkel traf am Montag in Berlin den französischen Präsidenten "
                "Emmanuel Macron.",
                "de",
            )
        ]
    )
    assert multilingual.name_for("de").startswith("de_newsflow_ner-")
    people = {e.name: e.titles for e in entities.people}
    assert "Angela Merkel" in people
    assert "Berlin" in names(entities)["places"]


def test_rules_trim_articles_and_prepositions_but_keep_particles() -> None:
    text = "en Estados Unidos"
    assert SPANISH.trim(text, 0, len(text), "LOC") == (3, len(text))
    text = "provincia de Buenos Aires"
    assert text[slice(*SPANISH.trim(text, 0, len(text), "LOC"))] == "Buenos Aires"
    text = "l'Élysée"
    assert text[slice(*FRENCH.trim(text, 0, len(text), "LOC"))] == "Élysée"
    text = "von der Leyen"
    assert GERMAN.trim(text, 0, len(text), "PERSON") == (0, len(text))


def test_rules_call_function_words_and_sentence_verbs_noise() -> None:
    assert FRENCH.is_noise("Le", 0, 2)
    assert GERMAN.is_noise("Danach", 0, 6)
    text = "Hubo goles. Añadió que no."
    start = text.index("Añadió")
    assert SPANISH.is_noise(text, start, start + len("Añadió"))
    assert not SPANISH.is_noise(text, 0, len("Hubo goles"))


def test_news_agencies_are_organisations_in_every_language() -> None:
    assert SPANISH.label("LOC", "EFE") == "ORG"
    assert FRENCH.label("PER", "AFP") == "ORG"
    assert GERMAN.label("PER", "Merkel") == "PERSON"


def test_a_language_without_pipeline_is_published_with_knowledge_base_places_only() -> None:
    tagger = MultilingualTagger(["en"])
    (entities,) = tagger.tag(
        [article("Il primo ministro è arrivato a Roma e poi è partito per il Brasile e Berlino.", "it")]
    )
    assert tagger.loaded_languages == ()  # nothing loaded: no model for Italian here
    assert names(entities)["places"] == ["Berlino", "Roma"]
    assert {e.identifiers.geonames_id for e in entities.places} == {3169070, 2950159}  # Rome, Berlin
    assert entities.people == []
    note = tagger.name_for("it")
    assert note.startswith(KNOWLEDGE_BASE_TAGGER)
    assert "no 'it' pipeline" in note


def test_a_language_without_pipeline_finds_the_house_knowledge_base_places_too() -> None:
    tagger = MultilingualTagger(["en"])
    (entities,) = tagger.tag([article("La nave è entrata nel Baltic Sea ed è arrivata a Roma.", "it")])
    places = {e.name: e.identifiers for e in entities.places}
    assert places["Baltic Sea"].kb_id == "place:baltic-sea"
    assert places["Baltic Sea"].feature == "sea"
    assert places["Roma"].geonames_id == 3169070


def test_models_load_only_for_languages_seen_and_served() -> None:
    tagger = MultilingualTagger(["en", "es"])
    tagger.tag([article("Pedro Sánchez viajó a Sevilla.", "es")])
    assert tagger.loaded_languages == ("es",)
    assert tagger.tagger("fr") is None  # not served by this replica


SENTENCES = {
    "en": "The minister flew from London to Madrid on Monday.",
    "fr": "Le ministre est parti de Paris pour Madrid lundi.",
    "es": "El ministro viajó de Madrid a Barcelona el lunes.",
    "de": "Der Minister flog am Montag von Berlin nach Madrid.",
}


@pytest.mark.parametrize("language", sorted(PIPELINES))
def test_every_pipeline_tags_places_of_its_language(multilingual: MultilingualTagger, language: str) -> None:
    (entities,) = multilingual.tag([article(SENTENCES[language], language)])
    assert "Madrid" in names(entities)["places"]
    assert multilingual.name_for(language) != multilingual.name_for("it")


def test_french_club_names_are_one_organisation_not_a_nickname_and_a_town() -> None:
    places = place_index()
    text = "Les Canadiens de Montréal ont battu les Sharks de San José et la province de Québec vote ."
    nickname, town = text.index("Canadiens"), text.index("Montréal")
    whole = text.index("Sharks")
    province = text.index("province de Québec")
    candidates = [
        Candidate(nickname, nickname + len("Canadiens"), "LOC"),
        Candidate(town, town + len("Montréal"), "LOC"),
        Candidate(whole, whole + len("Sharks de San José"), "MISC"),
        Candidate(province, province + len("province de Québec"), "LOC"),
    ]

    merged = club_name_candidates(text, candidates, places, FRENCH)

    assert [(text[c.start : c.end], c.label) for c in merged] == [
        ("Canadiens de Montréal", "ORG"),
        ("Sharks de San José", "ORG"),
        ("province de Québec", "LOC"),  # lower case: not a club's nickname
    ]
    # English and Spanish name their clubs otherwise: the spans stay as the model read them.
    assert club_name_candidates(text, candidates, places, SPANISH) == candidates


def test_french_place_nouns_and_places_are_never_a_club_nickname() -> None:
    places = place_index()
    text = "Le Royaume de France et Paris de Londres ."
    candidates = [
        Candidate(3, 3 + len("Royaume"), "LOC"),
        Candidate(text.index("France"), text.index("France") + 6, "LOC"),
        Candidate(text.index("Paris"), text.index("Paris") + 5, "LOC"),
        Candidate(text.index("Londres"), text.index("Londres") + 7, "LOC"),
    ]

    assert club_name_candidates(text, candidates, places, FRENCH) == candidates
