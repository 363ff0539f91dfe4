"""The AsyncAPI 3.0 contract of every stream, generated from the code (`newsflow asyncapi`).

Channels and operations come from `shared.streams`, message payloads from the event models, so
`docs/asyncapi.yaml` cannot drift from what the services really write (a test compares them).
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import BaseModel

from shared import deadletter, streams
from shared.events import SCHEMA_VERSION, InboundArticle, PublishedEvent, RawEvent, TaggedEvent

HEADER_FIELDS = {
    "type": "object",
    "description": "Stream-entry fields besides `event`: plain strings, for routing without parsing JSON.",
    "properties": {
        streams.FIELD_EVENT_TYPE: {"type": "string"},
        streams.FIELD_EVENT_ID: {"type": "string"},
        streams.FIELD_SCHEMA_VERSION: {"type": "string", "const": str(SCHEMA_VERSION)},
        streams.FIELD_ARTICLE_ID: {"type": "string"},
        streams.FIELD_ARTICLE_VERSION: {"type": "string", "pattern": "^[1-9][0-9]*$"},
        streams.FIELD_CORRELATION_ID: {"type": "string"},
        streams.FIELD_CONTENT_TYPE: {"type": "string", "const": "application/json"},
        streams.FIELD_TRACEPARENT: {"type": "string", "description": "W3C trace context"},
    },
    "required": [
        streams.FIELD_EVENT_TYPE,
        streams.FIELD_EVENT_ID,
        streams.FIELD_ARTICLE_ID,
        streams.FIELD_ARTICLE_VERSION,
        streams.FIELD_CORRELATION_ID,
    ],
}

INBOUND_FIELDS = {
    "type": "object",
    "properties": {
        streams.INBOUND_PAYLOAD: {
            "type": "string",
            "description": "The article: InboundArticle JSON, seed-layout plain text, or an HTML page.",
        },
        streams.INBOUND_CONTENT_TYPE: {
            "type": "string",
            "enum": ["application/json", "text/plain", "text/html"],
            "description": "Detected from the payload when absent.",
        },
        streams.INBOUND_SOURCE: {"type": "string", "description": "Name of the sending system."},
        streams.FIELD_CORRELATION_ID: {"type": "string", "description": "Optional; carried to publish."},
        streams.FIELD_TRACEPARENT: {"type": "string", "description": "Optional W3C trace context."},
    },
    "required": [streams.INBOUND_PAYLOAD],
}

DEAD_LETTER_FIELDS = {
    "type": "object",
    "properties": {name: {"type": "string"} for name in deadletter.FIELDS},
    "required": list(deadletter.REQUIRED),
}


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema(ref_template="#/components/schemas/{model}")


def _hoist(schema: dict[str, Any], into: dict[str, Any]) -> dict[str, Any]:
    """Move pydantic's `$defs` into components/schemas so references resolve document-wide."""
    into.update(schema.pop("$defs", {}))
    return schema


def build() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for name, model, title in (
        ("RawEvent", RawEvent, "A validated, versioned article (or withdrawal) from ingest"),
        ("TaggedEvent", TaggedEvent, "An article with entities and related links from enrich"),
        ("PublishedEvent", PublishedEvent, "What subscribers consume: ninjs plus enrichment"),
    ):
        schemas[name] = _hoist(_schema(model), schemas)
        messages[name] = {
            "name": name,
            "title": title,
            "contentType": "application/json",
            "headers": HEADER_FIELDS,
            "payload": {"$ref": f"#/components/schemas/{name}"},
            "description": "The payload is the JSON in the entry's `event` field; headers are the others.",
        }
    schemas["InboundArticle"] = _hoist(_schema(InboundArticle), schemas)
    messages["InboundEntry"] = {
        "name": "InboundEntry",
        "title": "What upstream producers XADD",
        "payload": INBOUND_FIELDS,
    }
    messages["DeadLetter"] = {
        "name": "DeadLetter",
        "title": "A rejected or repeatedly failing entry, with the original payload",
        "payload": DEAD_LETTER_FIELDS,
    }

    def channel(address: str, message: str, description: str) -> dict[str, Any]:
        return {
            "address": address,
            "description": description,
            "messages": {message: {"$ref": f"#/components/messages/{message}"}},
        }

    channels = {
        "inbound": channel(streams.INBOUND, "InboundEntry", "Upstream systems write articles here."),
        "raw": channel(streams.RAW, "RawEvent", "Written by ingest; read by enrich (group `enrich`)."),
        "rawUrgent": channel(
            streams.RAW_URGENT,
            "RawEvent",
            "Urgent articles, written by ingest instead of `raw`; read by enrich (group `enrich`) beside it.",
        ),
        "tagged": channel(
            streams.TAGGED, "TaggedEvent", "Written by enrich; read by publish (group `publish`)."
        ),
        "published": channel(
            streams.PUBLISHED,
            "PublishedEvent",
            "Written by publish; read by subscribers through their own consumer groups.",
        ),
        "dlq": channel(streams.DLQ, "DeadLetter", "Rejected input and entries past the retry limit."),
    }

    def op(action: str, chan: str, message: str, summary: str) -> dict[str, Any]:
        return {
            "action": action,
            "channel": {"$ref": f"#/channels/{chan}"},
            "messages": [{"$ref": f"#/channels/{chan}/messages/{message}"}],
            "summary": summary,
        }

    operations = {
        "ingestReceives": op(
            "receive", "inbound", "InboundEntry", f"ingest reads (group `{streams.INGEST_GROUP}`)"
        ),
        "ingestSends": op("send", "raw", "RawEvent", "ingest writes validated, versioned articles"),
        "ingestRejects": op("send", "dlq", "DeadLetter", "any service dead-letters what it cannot handle"),
        "ingestSendsUrgent": op("send", "rawUrgent", "RawEvent", "ingest writes urgent articles"),
        "enrichReceives": op("receive", "raw", "RawEvent", f"enrich reads (group `{streams.ENRICH_GROUP}`)"),
        "enrichReceivesUrgent": op(
            "receive",
            "rawUrgent",
            "RawEvent",
            f"enrich reads urgent articles (group `{streams.ENRICH_GROUP}`)",
        ),
        "enrichSends": op("send", "tagged", "TaggedEvent", "enrich writes tagged articles"),
        "publishReceives": op(
            "receive", "tagged", "TaggedEvent", f"publish reads (group `{streams.PUBLISH_GROUP}`)"
        ),
        "publishSends": op("send", "published", "PublishedEvent", "publish writes each article version once"),
        "subscribersReceive": op(
            "receive", "published", "PublishedEvent", "subscribers read with consumer groups"
        ),
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "newsflow",
            "version": f"{SCHEMA_VERSION}.0.0",
            "description": (
                "Article events over Redis Streams. Every entry is plain string fields: the event as "
                "JSON in `event`, its headers as their own fields."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "redis": {"host": "localhost:6379", "protocol": "redis", "description": "Any Redis 6.2+ server"}
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def render() -> str:
    return yaml.safe_dump(build(), sort_keys=False, allow_unicode=True, width=100)
