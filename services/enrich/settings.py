"""The enrich service's settings: defined in `shared.settings` with the other services' (one place)."""

from shared.settings import EnrichSettings as Settings

__all__ = ["Settings"]
