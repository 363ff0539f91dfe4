"""The command-line tools' settings: the services' Redis variables, no default server."""

from __future__ import annotations

import redis.asyncio as aioredis
from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from shared.runtime.redis_client import make_client
from shared.settings import ServiceSettings

# Where the commands look when REDIS_URL is not set.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


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


def redis_client(url: str | None = None, *, ensure_functions: bool = False) -> aioredis.Redis:
    """The commands' client, from the services' factory: REDIS_USERNAME / REDIS_PASSWORD, TLS and
    `+cluster` URLs apply as they do to the services; `url` (else REDIS_URL) names the server.
    `ensure_functions`: for commands that FCALL the Functions library (see `make_client`)."""
    settings = CliSettings(redis_url=url) if url else CliSettings()
    if settings.redis_url is None:
        settings = CliSettings(redis_url=DEFAULT_REDIS_URL)
    return make_client(settings, ensure_functions=ensure_functions)
