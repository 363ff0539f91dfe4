"""Resident memory of one enrich process's taggers, by the languages it serves.

`python -m newsflow.tagger_memory en,fr,es,de` loads those languages' pipelines (as a replica
does on the first article in each), tags one short article per language and prints the RSS in
MB. `measure_rss_mb` runs that in a fresh process, so nothing already loaded counts.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

import psutil

from shared.events import RawArticle

MB = 1024 * 1024
# One short article per language: enough to load each pipeline and run it once.
SAMPLE_TEXT: dict[str, str] = {
    "en": "Prime Minister Keir Starmer met President Emmanuel Macron in London on Tuesday.",
    "fr": "Le président Emmanuel Macron a reçu mardi à Paris le Premier ministre Keir Starmer.",
    "es": "El presidente Pedro Sánchez viajó este lunes a Bruselas para reunirse con la Comisión.",
    "de": "Bundeskanzlerin Angela Merkel hat am Montag Emmanuel Macron in Berlin empfangen.",
}


def sample_article(language: str) -> RawArticle:
    body = SAMPLE_TEXT.get(language, SAMPLE_TEXT["en"])
    return RawArticle(
        article_id=f"memory-{language}",
        version=1,
        content_hash=hashlib.sha256(body.encode()).hexdigest(),
        source="memory",
        title=body.split(",")[0],
        body=body,
        language=language,
        received_at=datetime.now(UTC),
    )


def rss_after_loading(languages: Sequence[str]) -> float:
    """RSS in MB of this process once `languages` are loaded and have tagged an article each."""
    from services.enrich.multilingual import MultilingualTagger

    tagger = MultilingualTagger(languages)
    tagger.tag([sample_article(language) for language in languages])
    return psutil.Process().memory_info().rss / MB


def measure_rss_mb(languages: Sequence[str], *, timeout_s: float = 300.0) -> float:
    """The same, in a fresh Python process (so earlier imports and models do not count)."""
    done = subprocess.run(  # noqa: S603 -- our own module, with language codes as the argument
        [sys.executable, "-m", "newsflow.tagger_memory", ",".join(languages)],
        capture_output=True,
        text=True,
        check=True,
        timeout=timeout_s,
    )
    return float(done.stdout.strip().splitlines()[-1])


def main(argv: Sequence[str] | None = None) -> None:
    from services.enrich.languages import parse_languages

    args = list(sys.argv[1:] if argv is None else argv)
    languages = parse_languages(args[0] if args else "en")
    print(f"{rss_after_loading(languages):.1f}")


if __name__ == "__main__":
    main()
