"""Pure parts of webhook delivery: the backoff schedule, what is retried, and filter matching."""

from __future__ import annotations

import pytest

from services.publish.webhooks import (
    RetryPolicy,
    WebhookFilter,
    backoff_delay,
    backoff_schedule,
    is_retryable_status,
    matches,
    redact_url,
)
from shared.events import EventType
from tests.utils.webhooks import published_event


def test_backoff_doubles_from_the_base_up_to_the_cap_without_jitter() -> None:
    policy = RetryPolicy(attempts=6, base_s=0.5, cap_s=3.0, jitter=0.0)
    assert backoff_schedule(policy, lambda: 0.99) == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_jitter_only_shortens_a_delay_by_up_to_its_fraction() -> None:
    policy = RetryPolicy(attempts=3, base_s=1.0, cap_s=10.0, jitter=0.25)
    assert backoff_delay(policy, 1, 0.0) == 2.0
    assert backoff_delay(policy, 1, 0.5) == pytest.approx(1.75)
    assert backoff_delay(policy, 1, 0.999999) == pytest.approx(1.5, abs=1e-5)


def test_full_jitter_spreads_delays_between_zero_and_the_exponential_value() -> None:
    policy = RetryPolicy(attempts=2, base_s=1.0, cap_s=10.0, jitter=1.0)
    assert backoff_delay(policy, 0, 0.0) == 1.0
    assert backoff_delay(policy, 0, 0.9) == pytest.approx(0.1)


def test_one_attempt_has_no_delays() -> None:
    assert backoff_schedule(RetryPolicy(attempts=1)) == []


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        *[(s, True) for s in (500, 502, 503, 504, 429)],
        *[(s, False) for s in (400, 401, 403, 404, 410, 422, 301, 302, 307)],
    ],
)
def test_only_server_errors_and_429_are_retried(status: int, retryable: bool) -> None:
    assert is_retryable_status(status) is retryable


def test_an_empty_filter_matches_every_event() -> None:
    assert matches(WebhookFilter(), published_event())
    assert matches(WebhookFilter(), published_event(event_type=EventType.WITHDRAWN))


def test_entities_match_by_id_or_name_ignoring_case() -> None:
    event = published_event(places=("Zürich",), people=("Anna Müller",))
    assert matches(WebhookFilter(entities=["place:zürich"]), event)
    assert matches(WebhookFilter(entities=["PLACE:ZÜRICH"]), event)
    assert matches(WebhookFilter(entities=["anna müller"]), event)
    assert matches(WebhookFilter(entities=["  ANNA MÜLLER "]), event)
    assert matches(WebhookFilter(entities=["Berlin", "Anna Müller"]), event)  # any one of them
    assert not matches(WebhookFilter(entities=["Berlin"]), event)
    assert not matches(WebhookFilter(entities=["anna"]), event)  # whole names, not substrings


def test_event_types_must_match_as_well_as_entities() -> None:
    flt = WebhookFilter(entities=["Zürich"], event_types=[EventType.UPDATED])
    assert matches(flt, published_event(event_type=EventType.UPDATED, places=("Zürich",)))
    assert not matches(flt, published_event(event_type=EventType.PUBLISHED, places=("Zürich",)))
    assert not matches(flt, published_event(event_type=EventType.UPDATED, places=("Berlin",)))


def test_a_followed_article_passes_the_entity_filter_but_not_the_event_type_filter() -> None:
    kill = published_event(event_type=EventType.WITHDRAWN)  # a kill notice carries no entities
    assert not matches(WebhookFilter(entities=["Zürich"]), kill)
    assert matches(WebhookFilter(entities=["Zürich"]), kill, followed=True)
    only_new = WebhookFilter(entities=["Zürich"], event_types=[EventType.PUBLISHED])
    assert not matches(only_new, kill, followed=True)


def test_a_filter_cannot_name_an_event_type_that_never_reaches_webhooks() -> None:
    with pytest.raises(ValueError, match=r"article\.tagged never reaches webhooks"):
        WebhookFilter.model_validate({"event_types": ["article.tagged"]})
    with pytest.raises(ValueError, match="event_types"):
        WebhookFilter.model_validate({"event_types": ["article.deleted"]})


def test_urls_lose_credentials_query_and_fragment_in_logs_and_dead_letters() -> None:
    assert (
        redact_url("https://user:pw@hooks.example.com:8443/in/abc?token=t0p#x")
        == "https://hooks.example.com:8443/in/abc"
    )
