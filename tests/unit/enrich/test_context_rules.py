"""What the words around a name say it is: organisation shapes, place evidence, sports sides."""

from __future__ import annotations

from services.enrich import context
from services.enrich.identifiers import PlaceIndex
from services.enrich.knowledge import KnowledgeBase
from services.enrich.resolution import Candidate, resolve
from shared.events import EntityType
from tests.unit.enrich.test_resolution_rules import spans_of

KNOWLEDGE = KnowledgeBase.default()


def types(text: str, *labelled: tuple[str, str]) -> dict[str, EntityType]:
    entities = resolve(text, spans_of(text, *labelled), places=KNOWLEDGE.places, gazetteer=KNOWLEDGE)
    return {e.name: e.type for e in entities}


def test_organisation_shaped_names_are_organisations_whatever_the_model_said() -> None:
    text = "The Port of Hamburg and the Baltic Ferries Council met the Interior Ministry."
    assert types(
        text, ("Port of Hamburg", "GPE"), ("Baltic Ferries Council", "PERSON"), ("Interior Ministry", "GPE")
    ) == {
        "Port of Hamburg": EntityType.ORGANISATION,
        "Baltic Ferries Council": EntityType.ORGANISATION,
        "Interior Ministry": EntityType.ORGANISATION,
    }


def test_a_country_shaped_like_an_organisation_stays_a_place() -> None:
    assert types("The Russian Federation said so.", ("Russian Federation", "ORG")) == {
        "Russia": EntityType.PLACE
    }


def test_house_places_are_found_where_the_model_saw_nothing_and_typed_as_places() -> None:
    text = "Ferries to the Azores left from the quay beside the Tagus."
    assert types(text) == {"Azores": EntityType.PLACE, "Tagus": EntityType.PLACE}


def test_a_known_place_the_model_reads_as_a_person_needs_person_evidence() -> None:
    text = "Hamburg said it would wait. Mayor Hamburg disagreed."
    assert types(text, ("Hamburg", "PERSON")) == {"Hamburg": EntityType.PLACE}
    assert types("Mayor Hamburg disagreed.", ("Hamburg", "PERSON")) == {"Hamburg": EntityType.PERSON}


def test_a_small_town_with_place_evidence_is_a_place(places: PlaceIndex) -> None:
    text = "Workers gathered outside the Alcântara terminal."
    entities = resolve(text, spans_of(text, ("Alcântara", "PERSON")), places=places)
    assert [(e.name, e.type) for e in entities] == [("Alcântara", EntityType.PLACE)]


def test_a_place_in_any_language_with_place_evidence_is_a_place_with_its_geonames_id(
    places: PlaceIndex,
) -> None:
    text = "Troops took the city of Arbil on Saturday."
    entities = resolve(text, spans_of(text, ("Arbil", "ORG")), places=places)
    assert [(e.name, e.type) for e in entities] == [("Arbil", EntityType.PLACE)]
    assert entities[0].place is not None
    assert entities[0].place.name == "Erbil"


def test_sports_news_is_read_from_its_header_or_its_words() -> None:
    assert context.read_context("SOCCER - LEAGUE RESULTS .\nLONDON 1996-08-31\n").team_sport
    words = "Leeds beat York at halftime; the striker scored two goals this season."
    assert context.read_context(words).sports
    policy = "The league of nations beat its goals: the match of policy and season of division."
    assert not context.read_context(policy).sports


def test_towns_named_as_sides_in_sports_news_are_teams_but_venues_and_countries_are_places() -> None:
    text = (
        "SOCCER - RESULTS .\nResults of matches on Saturday :\n"
        "Leeds 2 Portsmouth 1\nItaly 1 France 0\nBrighton v Bristol\n"
        "Coventry : Sheffield beat Norwich in front of 20,000 fans in Coventry .\n"
    )
    found = types(
        text,
        ("Leeds", "GPE"),
        ("Italy", "GPE"),
        ("Coventry", "GPE"),
        ("Sheffield", "GPE"),
        ("Norwich", "GPE"),
        ("Coventry", "GPE"),
    )
    assert found["Leeds"] is EntityType.ORGANISATION
    assert found["Portsmouth"] is EntityType.ORGANISATION
    assert found["Brighton"] is EntityType.ORGANISATION
    assert found["Bristol"] is EntityType.ORGANISATION
    assert found["Sheffield"] is EntityType.ORGANISATION
    assert found["Italy"] is EntityType.PLACE
    assert found["France"] is EntityType.PLACE
    assert found["Coventry"] is EntityType.PLACE


def test_league_table_rows_are_sides() -> None:
    text = "SOCCER - STANDINGS .\nStandings :\nGreenock Morton 3 2 0 1 5 2 6\nQueen of South 3 1 1 1 4 4 4\n"
    assert types(text, ("Greenock Morton", "PERSON")) == {
        "Greenock Morton": EntityType.ORGANISATION,
        "Queen of South": EntityType.ORGANISATION,
    }


def test_scorers_and_scorecard_names_are_people() -> None:
    text = (
        "CRICKET - SCORES .\nThe match and the season went on .\n"
        "Romania - Cosmin Lupu ( 31st ) , Ion Vlad ( 75th )\n"
        "S. Perera c Healy b Fleming 44\n"
    )
    found = types(text)
    for name in ("Cosmin Lupu", "Ion Vlad", "S. Perera", "Healy", "Fleming"):
        assert found.get(name) is EntityType.PERSON, (name, found)


def test_line_ups_and_initialled_scorecard_names_are_people() -> None:
    text = (
        "RUGBY UNION - TEAMS .\nThe tries and the halftime score .\n"
        "Teams : Wales - 15 - Gareth Price , 14 - Huw van Dyke ; 9 - Rhys Jones\n"
        "Kent 214 ( P. Simmons 84 ; T.O'Connor 4-55 , A.de Souza 12 not out )\n"
    )
    found = types(text)
    for name in ("Gareth Price", "Huw van Dyke", "Rhys Jones", "P. Simmons", "T.O'Connor", "A.de Souza"):
        assert found.get(name) is EntityType.PERSON, (name, found)


def test_a_golfer_in_a_score_table_stays_a_person() -> None:
    text = "GOLF - SCORES .\nLeading scores :\nNick Faldo 67 68 70 71 276\n"
    assert types(text, ("Nick Faldo", "PERSON")) == {"Nick Faldo": EntityType.PERSON}


def test_candidates_from_the_model_inside_a_side_give_way_to_it() -> None:
    text = "SOCCER - RESULTS .\nPort Vale 2 Oxford 0\n"
    entities = resolve(
        text, [Candidate(text.index("Vale"), text.index("Vale") + 4, "PERSON")], places=KNOWLEDGE.places
    )
    assert {e.name: e.type for e in entities} == {
        "Port Vale": EntityType.ORGANISATION,
        "Oxford": EntityType.ORGANISATION,
    }


def test_company_and_body_names_are_found_whole_where_the_model_missed_them() -> None:
    text = "Shares of Harbour Lights Bancshares Inc rose after the Fisheries Ministry spoke."
    assert types(text) == {
        "Harbour Lights Bancshares Inc": EntityType.ORGANISATION,
        "Fisheries Ministry": EntityType.ORGANISATION,
    }
    assert context.organisation_spans("Ohio-based Keel Corp and Dock Corp.") == [(11, 20), (25, 35)]


def test_a_noun_only_places_take_or_their_country_after_a_comma_makes_a_place() -> None:
    text = "Ships moored at the Vandersloot terminal and in the harbour of Nazare, Portugal on Monday."
    found = types(text, ("Vandersloot", "PERSON"), ("Nazare", "ORG"))
    assert (found["Vandersloot"], found["Nazare"]) == (EntityType.PLACE, EntityType.PLACE)


def test_a_person_followed_by_a_country_and_a_possessive_stays_a_person() -> None:
    text = "Tony Blair , Britain 's opposition leader , spoke ."
    assert types(text, ("Tony Blair", "PERSON"), ("Britain", "GPE"))["Tony Blair"] is EntityType.PERSON
