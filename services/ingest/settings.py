"""The ingest service's settings: env prefix `NEWSFLOW_INGEST_`."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from services.ingest.sources import SourcePolicy, parse_inbound_producers, parse_source_urgency
from services.ingest.timezones import SourceZones, load_zone, parse_source_zones
from shared.settings import ServiceSettings


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
    max_body_chars: int = Field(
        200_000,
        ge=1_000,
        description="Longest article body in characters, after extraction; longer ones are rejected.",
    )
    html_workers: int = Field(
        1,
        ge=1,
        le=64,
        description="Worker processes that extract HTML pages (about 190 MB each, language model included).",
    )
    html_workers_at_start: bool = Field(
        False,
        description=(
            "Start the HTML workers with the service; by default they start on the first HTML page "
            "(which then waits a few seconds), so a replica that is never sent HTML never holds them."
        ),
    )
    html_time_limit_s: float = Field(
        5.0, gt=0, description="Seconds one HTML page may take to extract before `too_complex`."
    )
    html_memory_limit_mb: int = Field(
        1024,
        ge=256,
        description=(
            "Address space of an HTML worker in MiB (RLIMIT_AS); a page needing more is `too_complex`."
        ),
    )

    default_timezone: str | None = Field(
        None,
        description="IANA zone (e.g. Europe/London) of zone-less source dates; unset leaves them zone-less.",
    )
    source_timezones: str = Field(
        "", description="Per-source zones as source=Zone pairs, comma-separated (wire=America/New_York)."
    )
    source_urgency: str = Field(
        "", description="Default ninjs urgency (1-9) per source as source=N pairs, comma-separated."
    )
    inbound_producers: str = Field(
        "",
        description=(
            "Producers with a stream of their own, `articles.inbound:{producer}`, and the sources "
            "each may write: `agency-a:wire|sport,agency-b` (a producer without a list may write "
            "any source). Give each producer a Redis user that may write only its stream; an entry "
            "for another source is dead-lettered as `source_forbidden`."
        ),
    )
    urgent_max: int = Field(
        2, ge=0, le=9, description="Articles with urgency at or below this go to the priority stream."
    )

    @field_validator("default_timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        return load_zone(value).key if value and value.strip() else None

    @field_validator("source_timezones")
    @classmethod
    def _known_zones(cls, value: str) -> str:
        parse_source_zones(value)  # fail fast at start on an unknown zone
        return value

    @field_validator("source_urgency")
    @classmethod
    def _urgency_pairs(cls, value: str) -> str:
        parse_source_urgency(value)
        return value

    @field_validator("inbound_producers")
    @classmethod
    def _producers(cls, value: str) -> str:
        parse_inbound_producers(value)
        return value

    def producers(self) -> dict[str, frozenset[str] | None]:
        return parse_inbound_producers(self.inbound_producers)

    def source_policy(self) -> SourcePolicy:
        zones = SourceZones(
            default=self.default_timezone, by_source=parse_source_zones(self.source_timezones)
        )
        return SourcePolicy(zones=zones, urgency=parse_source_urgency(self.source_urgency))


# What `app.py` and the CLI import: each service's settings class under one name.
Settings = IngestSettings
