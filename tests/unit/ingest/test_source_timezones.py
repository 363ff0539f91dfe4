"""Zone-less source dates are read in the source's IANA zone, DST included."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from pydantic import ValidationError

from services.ingest.logic import Draft, Rejection, parse_payload
from services.ingest.settings import IngestSettings
from services.ingest.sources import SourcePolicy
from services.ingest.timezones import SourceZones, load_zone, localise, parse_source_zones
from services.publish.logic import to_ninjs
from shared.events import RawArticle, TaggedArticle
from tests.utils.paths import SEED

RECEIVED = datetime(2024, 6, 1, tzinfo=UTC)
LONDON = SourcePolicy(zones=SourceZones(default="Europe/London"))


def parse(payload: dict[str, object] | bytes, policy: SourcePolicy = LONDON) -> Draft:
    data = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    draft = parse_payload(data, None, source="test", received_at=RECEIVED, policy=policy)
    assert isinstance(draft, Draft), draft
    return draft


def ninjs_of(draft: Draft) -> dict[str, object]:
    raw = RawArticle.model_validate({**draft.model_dump(), "version": 1})
    return to_ninjs(TaggedArticle(article=raw, tagger="t"), base_url="https://news.example.org")


def json_article(published_at: str, source: str | None = None) -> dict[str, object]:
    return {
        "title": "A title",
        "body": "A body long enough to be an article.",
        "published_at": published_at,
        "source": source,
    }


def test_the_seed_in_london_summer_time_is_first_created_at_plus_one_hour() -> None:
    draft = parse(SEED.read_bytes())
    assert draft.published_at == datetime(2023, 9, 20, 14, 17, tzinfo=UTC)
    assert draft.published_at_has_timezone is True
    assert draft.published_at_timezone == "Europe/London"
    ninjs = ninjs_of(draft)
    assert ninjs["firstcreated"] == "2023-09-20T15:17:00+01:00"
    assert ninjs["contentcreated"] == "2023-09-20T15:17:00+01:00"
    assert "ednote" not in ninjs


def test_a_winter_date_in_london_is_plus_zero() -> None:
    ninjs = ninjs_of(parse(json_article("2023-01-20T15:17:00")))
    assert ninjs["firstcreated"] == "2023-01-20T15:17:00+00:00"


def test_a_source_zone_wins_over_the_default() -> None:
    policy = SourcePolicy(zones=SourceZones(default="Europe/London", by_source={"ap": "America/New_York"}))
    ninjs = ninjs_of(parse(json_article("2023-09-20T15:17:00", source="ap"), policy))
    assert ninjs["firstcreated"] == "2023-09-20T15:17:00-04:00"


def test_a_date_with_its_own_offset_keeps_it_whatever_the_zone() -> None:
    draft = parse(json_article("2023-09-20T15:17:00+03:00"))
    assert draft.published_at_timezone is None
    assert ninjs_of(draft)["firstcreated"] == "2023-09-20T12:17:00Z"


def test_without_a_configured_zone_a_zone_less_date_stays_zone_less_and_the_ednote_says_so() -> None:
    draft = parse(SEED.read_bytes(), SourcePolicy())
    assert draft.published_at_has_timezone is False
    ninjs = ninjs_of(draft)
    assert "firstcreated" not in ninjs
    assert "has no time zone" in str(ninjs["ednote"])


def test_the_hour_skipped_in_spring_moves_forward_and_the_repeated_hour_reads_as_summer_time() -> None:
    zone = load_zone("Europe/London")
    assert localise(datetime(2023, 3, 26, 1, 30), zone).isoformat() == "2023-03-26T02:30:00+01:00"
    assert localise(datetime(2023, 10, 29, 1, 30), zone).isoformat() == "2023-10-29T01:30:00+01:00"


def test_settings_fail_fast_on_an_unknown_zone() -> None:
    with pytest.raises(ValidationError, match="unknown IANA time zone"):
        IngestSettings(default_timezone="Europe/Londn")
    with pytest.raises(ValidationError, match="unknown IANA time zone"):
        IngestSettings(source_timezones="wire=Mars/Olympus")
    with pytest.raises(ValidationError, match="source=Zone"):
        IngestSettings(source_timezones="Europe/London")


def test_settings_read_source_zones_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSFLOW_INGEST_DEFAULT_TIMEZONE", "Europe/London")
    monkeypatch.setenv("NEWSFLOW_INGEST_SOURCE_TIMEZONES", "ap=America/New_York, afp=Europe/Paris")
    policy = IngestSettings().source_policy()
    assert policy.zones.default == "Europe/London"
    assert dict(policy.zones.by_source) == {"ap": "America/New_York", "afp": "Europe/Paris"}
    assert parse_source_zones("") == {}


def test_a_zone_less_embargo_without_a_zone_is_rejected() -> None:
    payload = orjson.dumps({**json_article("2023-09-20T15:17:00"), "embargoed_until": "2023-09-21T10:00:00"})
    result = parse_payload(payload, None, source="t", received_at=RECEIVED)
    assert isinstance(result, Rejection)
    assert result.fields[0].loc == "embargoed_until"
