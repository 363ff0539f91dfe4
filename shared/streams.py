"""Every stream, consumer group, Redis key and wire field name, each with its reason.

Nothing outside this module spells a stream name, so a rename is one edit.
"""

from __future__ import annotations

import zlib
from typing import Final

# --- streams -----------------------------------------------------------------------------------
# Upstream producers XADD here (any client, any language): fields `payload` and `content_type`.
INBOUND: Final = "articles.inbound"
# Validated, normalised, versioned articles (and withdrawals) written by ingest.
RAW: Final = "articles.raw"
# Urgent articles (ninjs urgency at or below NEWSFLOW_INGEST_URGENT_MAX), written by ingest instead
# of articles.raw: enrich reads it beside articles.raw, so an urgent story never waits behind the
# normal backlog. Named under `articles.raw:` so the ACL patterns for raw partitions cover it.
RAW_URGENT: Final = "articles.raw:urgent"
# Articles with entities and related links, written by enrich.
TAGGED: Final = "articles.tagged"
# What subscribers consume: ninjs + enrichment, written by publish.
PUBLISHED: Final = "articles.published"
# Everything rejected or failed past the retry limit, with stage, reason and the original payload.
DLQ: Final = "articles.dlq"

# --- consumer groups (one per consuming service) -----------------------------------------------
INGEST_GROUP: Final = "ingest"
ENRICH_GROUP: Final = "enrich"
PUBLISH_GROUP: Final = "publish"
# enrich also reads what was published, to keep its related-articles index current.
ENRICH_INDEX_GROUP: Final = "enrich-index"
# publish also reads what it published, to keep the read API's listing index current.
PUBLISH_INDEX_GROUP: Final = "publish-index"

# --- keys ----------------------------------------------------------------------------------------
# Hash article_id -> JSON {"version", "content_hash", "event_id"}: ingest's identity/version ledger.
INGEST_LEDGER: Final = "newsflow:ingest:ledger"
# The publish guard writes these hashes and articles.published in one Lua call, so on a Redis
# Cluster they must share its slot: the hash tag {articles.published} hashes like the stream name.
# Hash article_id -> latest published version number: publish's exactly-once-per-version guard.
PUBLISH_VERSIONS: Final = "newsflow:publish:versions:{articles.published}"
# Hash article_id -> latest published event JSON (the envelope), served by the read API.
PUBLISH_LATEST: Final = "newsflow:publish:latest:{articles.published}"
# Hash article_id -> the latest version's tagged-article event JSON (as publish read it), from
# which the read API renders ninjs 3.1 on request: 3.x costs nothing for those who never ask.
PUBLISH_TAGGED: Final = "newsflow:publish:tagged:{articles.published}"
# Embargoed articles publish holds (see services/publish/embargo.py), in the guard's slot too so
# that a release is one Lua call with the version guard:
# sorted set article_id -> release time (epoch ms), the next due first;
PUBLISH_EMBARGO_DUE: Final = "newsflow:publish:embargo:due:{articles.published}"
# hash article_id -> the held version's tagged-article event JSON;
PUBLISH_EMBARGO_HELD: Final = "newsflow:publish:embargo:held:{articles.published}"
# hash article_id -> the held version number (what a release checks it is still releasing).
PUBLISH_EMBARGO_VERSIONS: Final = "newsflow:publish:embargo:versions:{articles.published}"

# Prefix of enrich's related-articles index (hashes and sorted sets, see services/enrich/related.py);
# one hash tag so its multi-key transactions stay on one slot of a Redis Cluster.
RELATED_PREFIX: Final = "newsflow:related:{related}"
# Prefix of enrich's same-story index (LSH band buckets and signatures, services/enrich/same_story.py).
SAME_STORY_PREFIX: Final = "newsflow:same-story:{same-story}"
# Prefix of publish's listing index for the read API (see services/publish/listing.py); one slot too.
PUBLISH_INDEX_PREFIX: Final = "newsflow:publish:index:{listing}"
# Prefix of enrich's entity registry (see services/enrich/registry.py): one hash tag, because a
# link claims a name key and creates or updates the entity's keys in one Lua script, which on a
# Redis Cluster must stay on one slot; the registry is small beside the articles it indexes.
ENTITY_PREFIX: Final = "newsflow:entities:{entities}"
# Per-subscriber webhook dead-letter streams: articles.webhooks.dlq:<name>.
WEBHOOK_DLQ_PREFIX: Final = "articles.webhooks.dlq:"
# Hash per subscriber: articles it follows (id -> version), so updates and kills reach it.
WEBHOOK_FOLLOWED_PREFIX: Final = "newsflow:webhooks:followed:"
# Consumer group per subscriber on articles.published: webhook-<name>.
WEBHOOK_GROUP_PREFIX: Final = "webhook-"

# --- wire fields of every entry we write (plain strings, readable by any Redis client) ----------
FIELD_EVENT: Final = "event"  # the whole envelope as one JSON document
FIELD_EVENT_TYPE: Final = "event_type"
FIELD_EVENT_ID: Final = "event_id"
FIELD_SCHEMA_VERSION: Final = "schema_version"
FIELD_ARTICLE_ID: Final = "article_id"
FIELD_ARTICLE_VERSION: Final = "article_version"
FIELD_CORRELATION_ID: Final = "correlation_id"
FIELD_TRACEPARENT: Final = "traceparent"
FIELD_CONTENT_TYPE: Final = "content_type"

# --- wire fields of inbound entries (what upstream writes) ---------------------------------------
INBOUND_PAYLOAD: Final = "payload"
INBOUND_CONTENT_TYPE: Final = "content_type"
INBOUND_SOURCE: Final = "source"


# --- partitions (Redis Cluster) ---------------------------------------------------------------
# On one Redis every stream is one key. On a Redis Cluster, articles.raw and articles.tagged (and
# ingest's ledger) are split into P partitions whose keys carry the partition as a hash tag
# (`articles.raw:{3}`), so they spread over the masters while an enrich transaction (read raw:{3},
# write tagged:{3}) stays on one slot. An article's partition comes from its id, so all its
# versions stay in order on one partition.


def partition_of(article_id: str, partitions: int) -> int:
    return zlib.crc32(article_id.encode()) % partitions if partitions > 1 else 0


def partitioned(base: str, partition: int, partitions: int) -> str:
    """`base` itself with one partition; `base:{partition}` with several."""
    return base if partitions <= 1 else f"{base}:{{{partition}}}"


def all_partitions(base: str, partitions: int) -> list[str]:
    return [partitioned(base, p, partitions) for p in range(max(partitions, 1))]


def for_article(base: str, article_id: str, partitions: int) -> str:
    return partitioned(base, partition_of(article_id, partitions), partitions)


def base_of(name: str) -> str:
    """The logical stream of a partition key: `articles.raw:{3}` -> `articles.raw`."""
    head, sep, tail = name.rpartition(":{")
    return head if sep and tail.endswith("}") else name


def inbound_of(producer: str) -> str:
    """A producer's own inbound stream, `articles.inbound:{agency-a}`: one Redis ACL user may write
    it, so what arrives there is known to come from that producer. Spelt like a partition, so it
    shares articles.inbound's retention and trimming (`base_of`) and, on a Redis Cluster, each
    producer's stream hashes to a slot of its own."""
    return f"{INBOUND}:{{{producer}}}"
