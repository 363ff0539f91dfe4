"""Every bad input becomes a Rejection with a stable code and a reason that names the problem."""

from __future__ import annotations

import pytest

from services.ingest.logic import Code, Rejection, parse_payload
from tests.utils.bad_inputs import BAD_INPUTS, RECEIVED_AT, BadInput


@pytest.mark.parametrize("case", BAD_INPUTS, ids=[case.name for case in BAD_INPUTS])
def test_bad_input_is_rejected_with_its_code_and_reason(case: BadInput) -> None:
    result = parse_payload(case.payload, case.content_type, source="tests", received_at=RECEIVED_AT)
    assert isinstance(result, Rejection), result
    assert result.code == case.code
    assert case.reason_contains in result.reason


def test_bad_input_table_is_large_and_covers_every_parse_time_code() -> None:
    assert len(BAD_INPUTS) >= 22
    assert len({case.name for case in BAD_INPUTS}) == len(BAD_INPUTS)
    # UNKNOWN_ARTICLE is assign_version's; TOO_COMPLEX only the HTML worker processes give.
    parse_time_codes = set(Code) - {Code.UNKNOWN_ARTICLE, Code.TOO_COMPLEX}
    assert {case.code for case in BAD_INPUTS} == parse_time_codes


def test_rejection_reasons_are_one_sentence_without_newlines() -> None:
    for case in BAD_INPUTS:
        result = parse_payload(case.payload, case.content_type, source="t", received_at=RECEIVED_AT)
        assert isinstance(result, Rejection)
        assert "\n" not in result.reason
        assert len(result.reason) < 300
