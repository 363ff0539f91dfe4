"""Every stream has a bound: partitions share their stream's, webhook DLQs their prefix's."""

from __future__ import annotations

from shared import streams
from shared.runtime.consumer import Retention, retention_for
from shared.runtime.retention import stream_retention
from shared.settings import ServiceSettings


def test_every_pipeline_stream_and_dead_letter_stream_has_an_approximate_maxlen() -> None:
    bounds = stream_retention(ServiceSettings(stream_maxlen=5_000, dlq_maxlen=300))

    for stream in (streams.INBOUND, streams.RAW, "articles.raw:{3}", "articles.tagged:{0}"):
        assert retention_for(bounds, stream).xadd_kwargs(0) == {"maxlen": 5_000, "approximate": True}
    for stream in (streams.DLQ, f"{streams.WEBHOOK_DLQ_PREFIX}crm"):
        assert retention_for(bounds, stream).xadd_kwargs(0) == {"maxlen": 300, "approximate": True}


def test_default_bounds_are_set_and_an_unknown_stream_keeps_everything() -> None:
    settings = ServiceSettings()
    assert (settings.stream_maxlen, settings.dlq_maxlen) == (100_000, 10_000)
    assert retention_for(stream_retention(settings), "test.other") == Retention()
