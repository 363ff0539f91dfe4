"""Plain text in the seed layout: site line, title, date, captioned image, body, READ lines."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.ingest.logic import Draft, Rejection, parse_payload

RECEIVED_AT = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
REPO = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
SEED = REPO.parent / "shared" / "seed" / "000_dc2421d5b62a3952.txt"


def parse_text(text: str | bytes) -> Draft:
    result = parse_payload(text, "text/plain", source="tests", received_at=RECEIVED_AT)
    assert isinstance(result, Draft), result
    return result


@pytest.fixture(scope="module")
def seed() -> Draft:
    assert SEED.is_file(), f"the seed article is expected beside the repository at {SEED}"
    result = parse_payload(
        SEED.read_bytes(), None, source="file", received_at=RECEIVED_AT, filename=SEED.name
    )
    assert isinstance(result, Draft), result
    return result


def test_seed_title_site_and_content_type(seed: Draft) -> None:
    assert seed.title == "Russia-Iran cooperation 'advanced to new level' - Minister"
    assert seed.site == "Creating new perspectives since 2009"
    assert seed.content_type == "text/plain"
    assert seed.language == "en"


def test_seed_date_is_kept_naive_and_flagged_zoneless(seed: Draft) -> None:
    assert seed.published_at == datetime(2023, 9, 20, 15, 17)
    assert seed.published_at.tzinfo is None
    assert seed.published_at_has_timezone is False


def test_seed_caption_and_credit_are_split(seed: Draft) -> None:
    assert seed.image_caption == (
        "Russian President Vladimir Putin meets Russian Defense Minister Sergey Shoygu "
        "in Moscow, Russia on February 14, 2022"
    )
    assert seed.image_credit == "KREMLIN PRESS OFFICE/Anadolu Agency"


def test_seed_read_lines_become_inline_links_and_leave_the_body(seed: Draft) -> None:
    assert [link.title for link in seed.inline_links] == [
        "Iran, Russia collaborate on joint research spacecraft",
        "Russia sends first commercial train to Saudi Arabia via Iran",
    ]
    assert all(link.url is None for link in seed.inline_links)
    assert "READ:" not in seed.body
    assert "joint research spacecraft" not in seed.body


def test_seed_body_starts_with_the_first_paragraph_and_excludes_the_header(seed: Draft) -> None:
    assert seed.body.startswith("Russian Defence Minister, Sergey Shoygu, said on Wednesday")
    assert seed.body.endswith("captured American-made drones.")
    for header in (seed.title, seed.site or "", "3:17 pm", "KREMLIN PRESS OFFICE"):
        assert header not in seed.body


def test_seed_paragraph_broken_mid_sentence_is_rejoined(seed: Draft) -> None:
    assert "in dealing with common challenges, including the unilateralism of the US" in seed.body
    paragraphs = seed.body.split("\n\n")
    assert all(p == p.strip() and "  " not in p for p in paragraphs)
    assert len(paragraphs) == 14


def test_seed_identity_comes_from_title_and_date_not_body(seed: Draft) -> None:
    assert seed.article_id.startswith("txt-")
    corrected = SEED.read_text(encoding="utf-8").replace("Anadolu Agency reports", "AA reports")
    again = parse_text(corrected)
    assert again.article_id == seed.article_id
    assert again.content_hash != seed.content_hash


def test_text_with_only_title_and_body_parses() -> None:
    draft = parse_text("Ferry fares frozen\n\nThe operator froze fares for the winter season.")
    assert draft.title == "Ferry fares frozen"
    assert draft.body == "The operator froze fares for the winter season."
    assert draft.site is None
    assert draft.published_at is None
    assert draft.published_at_has_timezone is None


def test_text_without_blank_lines_takes_each_line_as_a_block() -> None:
    draft = parse_text(
        "Harbour News\nFerry fares frozen\n12 March 2024\n"
        "The operator froze fares for the winter season.\nPassengers welcomed the move.\n"
    )
    assert (draft.site, draft.title) == ("Harbour News", "Ferry fares frozen")
    assert draft.published_at == datetime(2024, 3, 12)
    assert draft.body.split("\n\n") == [
        "The operator froze fares for the winter season.",
        "Passengers welcomed the move.",
    ]


def test_text_surrounding_blank_lines_do_not_change_the_layout() -> None:
    draft = parse_text("\n\n  \nFerry fares frozen\nThe operator froze fares for the winter season.\n\n")
    assert draft.title == "Ferry fares frozen"
    assert draft.body == "The operator froze fares for the winter season."


def test_text_date_with_zone_is_converted_to_utc() -> None:
    draft = parse_text(
        "Ferry fares frozen\n\nOctober 15, 2024 at 9:05 am CEST\n\n"
        "The operator froze fares for the winter season."
    )
    assert draft.published_at == datetime(2024, 10, 15, 7, 5, tzinfo=UTC)
    assert draft.published_at_has_timezone is True


def test_text_byline_becomes_authors_and_crlf_is_accepted() -> None:
    draft = parse_text(
        "Ferry fares frozen\r\n\r\nBy Ana Ribeiro and Pedro Almeida\r\n\r\n2024-03-12\r\n\r\n"
        "The operator froze fares for the winter season.\r\n"
    )
    assert draft.authors == ["Ana Ribeiro", "Pedro Almeida"]
    assert draft.title == "Ferry fares frozen"
    assert draft.body == "The operator froze fares for the winter season."


def test_text_site_line_without_date_is_recognised_before_a_heading() -> None:
    draft = parse_text(
        "Harbour News\n\nFerry fares frozen for winter\n\n"
        "The operator froze fares for the winter season.\n\nPassengers welcomed it."
    )
    assert (draft.site, draft.title) == ("Harbour News", "Ferry fares frozen for winter")


def test_text_hard_wrapped_paragraphs_are_unwrapped() -> None:
    draft = parse_text(
        "Ferry fares frozen\n\nThe operator froze fares\nfor the winter season.\n\nPassengers\n"
        "welcomed the move."
    )
    assert draft.body == ("The operator froze fares for the winter season.\n\nPassengers welcomed the move.")


def test_text_markup_and_invisible_characters_are_removed() -> None:
    draft = parse_text(
        "Ferry\u200b fares <b onclick='x()'>frozen</b>\n\n"
        "The operator froze fares<script>alert(1)</script> for the\u00a0winter season.\x07"
    )
    assert draft.title == "Ferry fares frozen"
    assert draft.body == "The operator froze fares for the winter season."


def test_text_is_normalised_to_nfc() -> None:
    decomposed = "Cafe\u0301 owners protest\n\nOwners of every cafe\u0301 in the old town protested."
    draft = parse_text(decomposed)
    assert draft.title == "Café owners protest"
    assert "café" in draft.body


def test_text_header_only_is_rejected_for_missing_body() -> None:
    result = parse_payload("Site\n\nTitle\n\nMay 5, 2024", "text/plain", source="t", received_at=RECEIVED_AT)
    assert isinstance(result, Rejection)
    assert result.code == "missing_body"
