"""The ingest service's settings: defined in `shared.settings` with the other services' (one place)."""

from shared.settings import IngestSettings as Settings

__all__ = ["Settings"]
