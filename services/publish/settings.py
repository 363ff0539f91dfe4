"""The publish service's settings: env prefix `NEWSFLOW_PUBLISH_`."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


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
    listing_retention_days: float = Field(
        365.0,
        gt=0,
        description=(
            "Days an article stays in the listing index behind GET /v1/articles and the feeds, "
            "counted back from the newest listed article (about 5.5 GB of Redis per million "
            "retained articles, see docs/scaling.md)."
        ),
    )
    embargo_poll_ms: int = Field(
        100, ge=10, le=1_000, description="How often each replica looks for embargoes due, in milliseconds."
    )
    rate_limit_per_s: float = Field(
        200.0, gt=0, description="HTTP requests per second per client before 429."
    )
    max_sse_clients: int = Field(
        1_000, ge=1, description="Live feed (GET /v1/events) clients per process; past it, 503."
    )
    ninjs_check_every: int = Field(
        100,
        ge=0,
        description=(
            "Check 1 in N published ninjs documents against the ninjs models at run time (0 never); "
            "a document that fails is logged as an error and counted in newsflow_ninjs_invalid_total."
        ),
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


# What `app.py` and the CLI import: each service's settings class under one name.
Settings = PublishSettings
