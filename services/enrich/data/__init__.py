"""Data files that ship with the enrich service."""

from pathlib import Path

DEFAULT_GAZETTEER = Path(__file__).with_name("gazetteer.yaml")
