"""Memory of the taggers, by the languages a replica serves (fresh processes; about a minute)."""

from __future__ import annotations

import pytest

from newsflow.tagger_memory import measure_rss_mb

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

FOUR_LANGUAGES_LIMIT_MB = 800.0


def test_four_language_taggers_stay_under_the_limit_and_english_alone_stays_smaller() -> None:
    english = measure_rss_mb(["en"])
    four = measure_rss_mb(["en", "fr", "es", "de"])
    assert four < FOUR_LANGUAGES_LIMIT_MB
    assert english < four
