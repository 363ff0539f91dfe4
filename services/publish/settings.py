"""The publish service's settings: defined in `shared.settings` with the other services' (one place)."""

from shared.settings import PublishSettings as Settings

__all__ = ["Settings"]
