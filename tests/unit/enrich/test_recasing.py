"""ALL-CAPS lines are re-cased from the text's own spellings before the model reads them."""

from __future__ import annotations

from services.enrich.identifiers import PlaceIndex
from services.enrich.logic import recase_shouting


def test_shouted_headline_takes_the_spellings_of_the_body(places: PlaceIndex) -> None:
    text = (
        "SOCCER - SHEARER NAMED AS ENGLAND CAPTAIN .\n"
        "LONDON 1996-08-30\n"
        "Alan Shearer was named the new England captain ."
    )
    cased = recase_shouting(text, places)
    assert cased.splitlines()[:2] == ["soccer - Shearer named as England captain .", "London 1996-08-30"]
    assert len(cased) == len(text)


def test_multi_word_places_and_acronyms_keep_their_shape(places: PlaceIndex) -> None:
    text = "NEW YORK AT ST LOUIS , NBA AND U.S. RESULTS\nThe new season starts ."
    assert recase_shouting(text, places).splitlines()[0] == "New York at St Louis , NBA and U.S. results"


def test_text_without_shouting_is_returned_unchanged(places: PlaceIndex) -> None:
    text = "Russian Defence Minister Sergey Shoygu said the [KREMLIN PRESS OFFICE/Anadolu Agency] photo."
    assert recase_shouting(text, places) is text
