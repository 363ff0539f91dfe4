"""How long each stream keeps its entries: the bounds every writer applies on XADD (approximate
MAXLEN, so trimming is cheap: whole macro nodes at a time)."""

from __future__ import annotations

from shared import streams
from shared.runtime.consumer import Retention
from shared.settings import ServiceSettings


def stream_retention(settings: ServiceSettings) -> dict[str, Retention]:
    """Retention by logical stream name (partitions share their stream's); webhook DLQs are keyed
    by their prefix. articles.published has publish's own settings on top."""
    pipeline = Retention(maxlen=settings.stream_maxlen)
    dead = Retention(maxlen=settings.dlq_maxlen)
    return {
        streams.INBOUND: pipeline,
        streams.RAW: pipeline,
        streams.TAGGED: pipeline,
        streams.DLQ: dead,
        streams.WEBHOOK_DLQ_PREFIX: dead,
    }
