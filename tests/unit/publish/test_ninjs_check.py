"""The sampled run-time check of published ninjs documents (publish builds them as plain dicts)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from services.publish.ninjs import schema_problem
from services.publish.stages import NinjsCheck
from tests.utils.published import article, place


def invalid_total(registry: CollectorRegistry) -> float:
    return registry.get_sample_value("newsflow_ninjs_invalid_total") or 0.0


def test_a_mapped_document_has_no_problem() -> None:
    event = article("a1", entities=[place("Geneva")])

    assert schema_problem(event.data.ninjs, "2.2") is None


def test_a_document_the_models_refuse_is_named_with_the_reason() -> None:
    doc = article("a1").data.ninjs | {"firstcreated": "2025-06-10T09:00:00", "colour": "red"}

    problem = schema_problem(doc, "2.2")

    assert problem is not None
    assert "firstcreated" in problem
    assert "colour" in problem


def test_the_check_samples_one_in_n_and_counts_the_failures() -> None:
    registry = CollectorRegistry()
    check = NinjsCheck(3, registry)
    good = article("a1")
    bad = article("a2")
    bad.data.ninjs["pubstatus"] = "gone"

    problems = [check(event) for event in (good, good, good, bad, bad, bad)]

    assert problems[:5] == [None] * 5  # only the 3rd and 6th are looked at
    assert problems[5] is not None
    assert "pubstatus" in problems[5]
    assert invalid_total(registry) == 1


def test_zero_checks_nothing() -> None:
    registry = CollectorRegistry()
    check = NinjsCheck(0, registry)
    bad = article("a2")
    bad.data.ninjs["pubstatus"] = "gone"

    assert [check(bad) for _ in range(5)] == [None] * 5
    assert invalid_total(registry) == 0
