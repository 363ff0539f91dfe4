"""Resolution rules on hand-made model spans: no model needed."""

from __future__ import annotations

import re

from services.enrich.identifiers import PlaceIndex
from services.enrich.knowledge import KnowledgeBase, KnowledgeEntry
from services.enrich.resolution import Candidate, Resolved, resolve
from shared.events import EntityType


def spans_of(text: str, *labelled: tuple[str, str]) -> list[Candidate]:
    """Candidates for the first occurrence (after the previous one) of each (surface, label)."""
    out: list[Candidate] = []
    cursor = 0
    for surface, label in labelled:
        start = text.index(surface, cursor)
        out.append(Candidate(start, start + len(surface), label))
        cursor = start + 1
    return out


def by_name(entities: list[Resolved], name: str) -> Resolved:
    found = [e for e in entities if e.name == name]
    assert len(found) == 1, f"{name}: {[(e.name, e.type) for e in entities]}"
    return found[0]


def texts(text: str, entity: Resolved) -> list[str]:
    return [text[s:e] for s, e in entity.mentions]


def test_leading_the_possessive_and_trailing_punctuation_are_cut(places: PlaceIndex) -> None:
    text = "Talks with the Federal Reserve's chief. Alexander Lebed 's plan."
    entities = resolve(
        text,
        spans_of(text, ("the Federal Reserve's", "ORG"), ("Alexander Lebed 's", "PERSON")),
        places=places,
        find_missed=False,
    )
    assert texts(text, by_name(entities, "Federal Reserve")) == ["Federal Reserve"]
    assert texts(text, by_name(entities, "Alexander Lebed")) == ["Alexander Lebed"]


def test_name_with_open_bracket_is_split_into_name_and_acronym(places: PlaceIndex) -> None:
    text = "Members of the Shanghai Cooperation Organisation (SCO) met."
    entities = resolve(
        text, spans_of(text, ("the Shanghai Cooperation Organisation (SCO", "ORG")), places=places
    )
    assert len(entities) == 1
    assert texts(text, entities[0]) == ["Shanghai Cooperation Organisation", "SCO"]
    assert entities[0].aliases == ["SCO"]


def test_acronym_spelt_by_the_end_of_a_longer_name_joins_that_end(places: PlaceIndex) -> None:
    text = "Forces of the Islamic Revolutionary Guards Corps (IRGC) parade. The IRGC said so."
    entities = resolve(
        text,
        spans_of(
            text,
            ("Forces of the Islamic Revolutionary Guards Corps", "ORG"),
            ("IRGC", "GPE"),
            ("IRGC", "ORG"),
        ),
        places=places,
    )
    irgc = by_name(entities, "Islamic Revolutionary Guards Corps")
    assert irgc.type is EntityType.ORGANISATION
    assert texts(text, irgc).count("IRGC") == 2


def test_acronym_without_brackets_joins_the_one_expansion_in_the_text(places: PlaceIndex) -> None:
    text = "The Organisation for Security and Cooperation in Europe met. OSCE envoys left."
    entities = resolve(
        text,
        spans_of(text, ("Organisation for Security and Cooperation in Europe", "ORG"), ("OSCE", "ORG")),
        places=places,
    )
    assert [e.name for e in entities] == ["Organisation for Security and Cooperation in Europe"]


def test_surname_and_first_word_join_the_one_full_name(places: PlaceIndex) -> None:
    text = "Police held Wang Donghai. Wang was freed. Ashtiani met Mohammad Reza Ashtiani's aide."
    entities = resolve(
        text,
        spans_of(
            text,
            ("Wang Donghai", "PERSON"),
            ("Wang", "ORG"),
            ("Ashtiani", "ORG"),
            ("Mohammad Reza Ashtiani", "PERSON"),
        ),
        places=places,
    )
    assert sorted((e.name, e.type.value) for e in entities) == [
        ("Mohammad Reza Ashtiani", "person"),
        ("Wang Donghai", "person"),
    ]


def test_ambiguous_surname_stays_apart(places: PlaceIndex) -> None:
    text = "Bill Clinton and Hillary Clinton spoke. Clinton left."
    entities = resolve(
        text,
        spans_of(text, ("Bill Clinton", "PERSON"), ("Hillary Clinton", "PERSON"), ("Clinton", "PERSON")),
        places=places,
    )
    assert sorted(e.name for e in entities) == ["Bill Clinton", "Clinton", "Hillary Clinton"]


def test_titles_before_and_inside_a_name_move_to_titles(places: PlaceIndex) -> None:
    text = "Iran's Supreme Leader, Ayatollah Ali Khamenei, met Prime Minister Mr. John Major."
    entities = resolve(
        text,
        spans_of(text, ("Ayatollah Ali Khamenei", "PERSON"), ("Mr. John Major", "PERSON")),
        places=places,
    )
    assert by_name(entities, "Ali Khamenei").titles == ["Supreme Leader", "Ayatollah"]
    assert by_name(entities, "John Major").titles == ["Prime Minister", "Mr."]


def test_country_aliases_are_one_place_named_by_its_short_name(places: PlaceIndex) -> None:
    text = "The US and the United States of America and U.S. officials; the Islamic Republic of Iran."
    entities = resolve(
        text,
        spans_of(
            text,
            ("US", "GPE"),
            ("the United States of America", "GPE"),
            ("U.S.", "GPE"),
            ("the Islamic Republic of Iran", "GPE"),
        ),
        places=places,
    )
    usa = by_name(entities, "United States")
    assert texts(text, usa) == ["US", "United States of America", "U.S."]
    assert usa.place is not None
    assert usa.place.iso3166_alpha2 == "US"
    assert by_name(entities, "Iran").aliases == ["Islamic Republic of Iran"]


def test_known_names_override_the_model_type(places: PlaceIndex) -> None:
    text = "BRICS grew. Benin voted. Nouakchott is hot. NATO met in the Caucasus region."
    entities = resolve(
        text,
        spans_of(
            text,
            ("BRICS", "GPE"),
            ("Benin", "PERSON"),
            ("Nouakchott", "ORG"),
            ("NATO", "GPE"),
            ("Caucasus", "NORP"),
        ),
        places=places,
    )
    types = {e.name: e.type for e in entities}
    assert types == {
        "BRICS": EntityType.ORGANISATION,
        "Benin": EntityType.PLACE,
        "Nouakchott": EntityType.PLACE,
        "NATO": EntityType.ORGANISATION,
        "Caucasus": EntityType.PLACE,
    }


def test_a_city_name_the_model_reads_as_a_person_is_a_place_without_person_evidence(
    places: PlaceIndex,
) -> None:
    text = "Rotterdam said so. Later Rotterdam would aim higher."
    entities = resolve(text, spans_of(text, ("Rotterdam", "PERSON"), ("Rotterdam", "PERSON")), places=places)
    assert [(e.name, e.type) for e in entities] == [("Rotterdam", EntityType.PLACE)]


def test_a_city_name_with_a_title_or_a_first_name_stays_a_person(places: PlaceIndex) -> None:
    text = "Queen Victoria sang. Later Victoria left. Nelson Mandela spoke and Mandela left."
    entities = resolve(
        text,
        spans_of(text, ("Queen Victoria", "PERSON"), ("Victoria", "PERSON"), ("Nelson Mandela", "PERSON")),
        places=places,
    )
    assert [(e.name, e.type) for e in entities] == [
        ("Victoria", EntityType.PERSON),
        ("Nelson Mandela", EntityType.PERSON),
    ]


def test_country_acronym_and_full_name_stay_a_place_whatever_the_model_said(places: PlaceIndex) -> None:
    text = "The US said so. US envoys and the United States agreed."
    entities = resolve(
        text, spans_of(text, ("US", "ORG"), ("US", "ORG"), ("the United States", "GPE")), places=places
    )
    assert [(e.name, e.type) for e in entities] == [("United States", EntityType.PLACE)]


def test_generic_words_lower_case_spans_and_photo_credits_are_dropped(places: PlaceIndex) -> None:
    text = "[KREMLIN PRESS OFFICE/Anadolu Agency] The Ministry said the Defence unit and congress met."
    entities = resolve(
        text,
        spans_of(
            text,
            ("KREMLIN PRESS OFFICE/Anadolu Agency", "ORG"),
            ("Ministry", "ORG"),
            ("Defence", "ORG"),
            ("congress", "ORG"),
        ),
        places=places,
    )
    assert [(e.name, texts(text, e)) for e in entities] == [("Anadolu Agency", ["Anadolu Agency"])]


def test_names_are_cut_at_scores_separators_and_commas(places: PlaceIndex) -> None:
    text = "Result: Durham 114 and 81-3 .\nLithuania - Danius Gleveckas , Grace Road , Leicestershire"
    entities = resolve(
        text,
        spans_of(
            text,
            ("Durham 114", "PERSON"),
            ("Lithuania - Danius Gleveckas", "ORG"),
            ("Grace Road , Leicestershire", "FAC"),
        ),
        places=places,
        find_missed=False,
    )
    assert sorted(text[s:e] for entity in entities for s, e in entity.mentions) == [
        "Danius Gleveckas",
        "Durham",
        "Grace Road",
        "Leicestershire",
        "Lithuania",
    ]


def test_an_organisation_may_end_in_a_digit_in_prose(places: PlaceIndex) -> None:
    text = "Channel 4 reported it first."
    entities = resolve(text, spans_of(text, ("Channel 4", "ORG")), places=places)
    assert [e.name for e in entities] == ["Channel 4"]


def test_place_followed_by_scores_is_a_team(places: PlaceIndex) -> None:
    text = "Atlanta beat Florida.\nAtlanta 4 Florida 2\nFlorida is sunny."
    entities = resolve(
        text,
        spans_of(text, ("Atlanta", "GPE"), ("Florida", "GPE"), ("Atlanta", "GPE"), ("Florida", "GPE")),
        places=places,
    )
    assert {e.name: e.type for e in entities} == {
        "Atlanta": EntityType.ORGANISATION,
        "Florida": EntityType.ORGANISATION,
    }


def test_dateline_place_is_a_place_even_when_a_team_shares_its_name(places: PlaceIndex) -> None:
    text = "BASEBALL - RESULTS .\nNEW YORK 1996-08-30\nNew York 5 Boston 3\n"
    entities = resolve(
        text, spans_of(text, ("New York", "GPE"), ("Boston", "GPE")), places=places, cased=text
    )
    kinds = sorted((e.name, e.type.value) for e in entities)
    assert kinds == [("Boston", "organisation"), ("New York", "organisation"), ("New York", "place")]


def test_results_listing_names_are_people(places: PlaceIndex) -> None:
    text = "1. Natalia Karimova ( Russia ) 3:45.061\n2. Lindsay Davenport ( U.S. ) beat X"
    entities = resolve(
        text,
        spans_of(text, ("Natalia", "GPE"), ("Karimova", "GPE"), ("Russia", "GPE"), ("U.S.", "GPE")),
        places=places,
    )
    people = sorted(e.name for e in entities if e.type is EntityType.PERSON)
    assert people == ["Lindsay Davenport", "Natalia Karimova"]


def test_missed_occurrences_of_a_name_are_added_but_not_ordinary_words(places: PlaceIndex) -> None:
    text = "Alexander Lebed spoke. Later Lebed left. Peter Such bowled; such is life. Such stayed."
    entities = resolve(
        text, spans_of(text, ("Alexander Lebed", "PERSON"), ("Peter Such", "PERSON")), places=places
    )
    assert texts(text, by_name(entities, "Alexander Lebed")) == ["Alexander Lebed", "Lebed"]
    assert texts(text, by_name(entities, "Peter Such")) == ["Peter Such"]


def test_gazetteer_entry_forces_name_type_and_survives_noise_rules(places: PlaceIndex) -> None:
    gazetteer = KnowledgeBase(
        [KnowledgeEntry(name="Unmanned aerial vehicle", type=EntityType.OTHER, aliases=("UAV",))]
    )
    text = "A UAV crashed."
    start = text.index("UAV")
    entities = resolve(
        text,
        [Candidate(start, start + 3, "MISC", gazetteer.entries[0].id)],
        places=places,
        gazetteer=gazetteer,
    )
    assert [(e.name, e.type, e.entry) for e in entities] == [
        ("Unmanned aerial vehicle", EntityType.OTHER, gazetteer.entries[0])
    ]


def test_mentions_always_point_at_their_text(places: PlaceIndex) -> None:
    text = '“The Bank of England’s” (BoE) view: "Mr. Smith", the U.S. and NATO ( North Atlantic ).'
    candidates = [
        Candidate(m.start(), m.end(), "ORG") for m in re.finditer(r"[A-Z][\w.’]*(?: [A-Z][\w.’]*)*", text)
    ]
    for entity in resolve(text, candidates, places=places):
        for start, end in entity.mentions:
            surface = text[start:end]
            assert surface == surface.strip(), surface
            assert surface[0].isalnum(), surface


def test_a_large_citys_name_read_as_a_person_is_one_where_people_of_that_surname_are_named(
    places: PlaceIndex,
) -> None:
    # Two Darwins: which one "Darwin" is stays open (no link), that it is a person does not.
    text = "Erasmus Darwin wrote poems. Robert Darwin was a doctor. Later Darwin observed the coral."
    entities = resolve(
        text,
        spans_of(text, ("Erasmus Darwin", "PERSON"), ("Robert Darwin", "PERSON"), ("Darwin", "PERSON")),
        places=places,
        find_missed=False,
    )
    # Without such a person in the text, the city stays a place ("Rotterdam said so", above).
    alone = "The grandson sailed later, and Darwin observed the coral."
    city = resolve(alone, spans_of(alone, ("Darwin", "PERSON")), places=places, find_missed=False)

    assert {e.type for e in entities} == {EntityType.PERSON}
    assert [(e.name, e.type) for e in city] == [("Darwin", EntityType.PLACE)]
