"""Data files that ship with the enrich service."""

from pathlib import Path

DEFAULT_KNOWLEDGE = Path(__file__).with_name("knowledge.yaml")
