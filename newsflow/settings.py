"""The command-line tools' settings: the services' Redis variables, no default server."""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


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
