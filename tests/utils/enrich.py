"""Builders for enrich tests: the seed article and the dev set, read from ../shared."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from shared.events import RawArticle
from tests.utils.paths import DEV_SET, SEED

__all__ = ["DEV_SET", "seed_article"]


def seed_article() -> RawArticle:
    """The seed page as ingest would emit it: title, then the caption and body paragraphs.

    The dump is: site line, title, date line, image caption with its [credit], body. `READ:`
    lines are related-article links, not body. The caption stays in the body here because it
    is the only place the article names Vladimir Putin.
    """
    paragraphs = [p.strip() for p in SEED.read_text(encoding="utf-8").split("\n\n") if p.strip()]
    title = paragraphs[1]
    body = "\n\n".join(p for p in paragraphs[3:] if not p.startswith("READ:"))
    return RawArticle(
        article_id="seed-000",
        version=1,
        content_hash=hashlib.sha256(body.encode()).hexdigest(),
        source="seed",
        title=title,
        body=body,
        received_at=datetime(2023, 9, 20, 15, 17, tzinfo=UTC),
    )


def sample_articles() -> list[RawArticle]:
    """Every article of the bundled demo samples, as ingest would emit it (version 1)."""
    from newsflow.samples import sample_paths
    from services.ingest.logic import Accepted, Draft, assign_version, parse_payload, split_file

    articles: list[RawArticle] = []
    for path in sample_paths():
        for payload, content_type in split_file(path):
            draft = parse_payload(
                payload, content_type, source="samples", received_at=datetime.now(UTC), filename=path.name
            )
            assert isinstance(draft, Draft), f"{path.name}: {draft}"
            accepted = assign_version(draft, None, event_id="0" * 32)
            assert isinstance(accepted, Accepted), f"{path.name}: {accepted}"
            articles.append(accepted.article)
    return articles
