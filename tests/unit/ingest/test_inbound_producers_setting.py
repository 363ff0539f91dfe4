"""NEWSFLOW_INGEST_INBOUND_PRODUCERS: producers and the sources each may write, checked at start."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.ingest.settings import IngestSettings
from shared import streams


def test_producers_map_to_their_sources_and_a_bare_name_to_any() -> None:
    settings = IngestSettings(inbound_producers=" agency-a: wire-a | sport-a , agency-b ,")

    assert settings.producers() == {"agency-a": frozenset({"wire-a", "sport-a"}), "agency-b": None}
    assert streams.inbound_of("agency-a") == "articles.inbound:{agency-a}"
    # Spelt like a partition: it shares articles.inbound's retention and trimming.
    assert streams.base_of(streams.inbound_of("agency-a")) == streams.INBOUND


@pytest.mark.parametrize("name", ["agency*", "a{b}", "x y", "-lead", "a" * 65])
def test_a_producer_name_that_cannot_be_a_stream_or_acl_pattern_fails_at_start(name: str) -> None:
    with pytest.raises(ValidationError, match="producer name"):
        IngestSettings(inbound_producers=f"{name}:wire")
