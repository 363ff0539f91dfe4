"""`newsflow tag`: tag documents through the real entity registry, one JSON line per document.

Input: JSONL records `{"doc_id", "text", "title"?, "language"?}` (`.jsonl` files; other keys
ignored) or article files as ingest reads them (the body is the text). Output per document:
`{"doc_id", "language", "entities": [{"id", "name", "type", "identifiers", "mentions": [{"start",
"end", "text"}]}]}`, `id` the registry id and offsets into the given text, in input order.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, TextIO

import orjson

from newsflow.pipeline import expand_paths
from newsflow.redis_server import RedisServer
from newsflow.settings import CliSettings
from services.enrich.linking import identifier_keys
from services.enrich.multilingual import MultilingualTagger
from services.enrich.registry import EntityRegistry
from shared.events import Entities, RawArticle
from shared.runtime.redis_client import make_client

# Documents tagged per spaCy batch, then linked one by one in input order.
BATCH: Final = 32
# A progress line on stderr every this many documents (long runs only).
PROGRESS_EVERY: Final = 200


@dataclass(frozen=True)
class Document:
    doc_id: str
    text: str
    title: str
    language: str | None


class InputError(ValueError):
    pass


def read_documents(paths: Sequence[Path]) -> Iterator[Document]:
    """Documents in the order given: JSONL records, or articles parsed as ingest parses them."""
    from services.ingest.logic import Draft, parse_payload, split_file

    now = datetime.now(UTC)
    for path in expand_paths(paths):
        if path.suffix.lower() == ".jsonl":
            with path.open("rb") as lines:
                for number, line in enumerate(lines, start=1):
                    if not line.strip():
                        continue
                    try:
                        record = orjson.loads(line)
                        doc_id, text = str(record["doc_id"]), str(record["text"])
                    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
                        raise InputError(f"{path}:{number}: not a {{doc_id, text}} record ({exc})") from exc
                    title = record.get("title") if isinstance(record.get("title"), str) else ""
                    language = record.get("language") if isinstance(record.get("language"), str) else None
                    yield Document(doc_id, text, title or "", language)
            continue
        for payload, content_type in split_file(path):
            result = parse_payload(payload, content_type, source="tag", received_at=now, filename=path.name)
            if isinstance(result, Draft):
                yield Document(result.article_id, result.body, result.title, result.language)
            else:
                raise InputError(f"{path}: {result.code}: {result.reason}")


def _article(doc: Document) -> RawArticle:
    # Only the tagger reads this: validation would refuse a record with no title.
    return RawArticle.model_construct(
        article_id=doc.doc_id,
        version=1,
        content_hash="",
        source="tag",
        title=doc.title,
        body=doc.text,
        image_caption=None,
        language=doc.language,
        received_at=datetime.now(UTC),
    )


def output_record(doc: Document, language: str, entities: Entities) -> dict[str, Any]:
    return {
        "doc_id": doc.doc_id,
        "language": language,
        "entities": [
            {
                "id": e.entity_id or e.id,
                "name": e.name,
                "type": e.type.value,
                "identifiers": identifier_keys(e.identifiers)
                | (
                    {"latitude": e.identifiers.latitude, "longitude": e.identifiers.longitude}
                    if e.identifiers.latitude is not None and e.identifiers.longitude is not None
                    else {}
                ),
                "mentions": [
                    {"start": m.start, "end": m.end, "text": m.text} for m in e.mentions if m.field == "body"
                ],
            }
            for e in entities.all()
        ],
    }


async def tag_documents(
    docs: Sequence[Document],
    tagger: MultilingualTagger,
    registry: EntityRegistry,
    out: TextIO,
    *,
    progress: TextIO | None,
    as_json: bool = True,
) -> int:
    started = time.monotonic()
    done = 0
    for at in range(0, len(docs), BATCH):
        chunk = docs[at : at + BATCH]
        articles = [_article(d) for d in chunk]
        tagged = tagger.tag(articles, batch_size=BATCH)
        for doc, article, entities in zip(chunk, articles, tagged, strict=True):
            linked = await registry.link(doc.doc_id, datetime.now(UTC), entities)
            # Each document with its own language's pipeline, as enrich tags articles.
            record = output_record(doc, tagger.language_of(article), linked)
            out.write(orjson.dumps(record).decode() + "\n" if as_json else _readable(record))
        done += len(chunk)
        if (
            progress is not None
            and len(docs) > PROGRESS_EVERY
            and (done % PROGRESS_EVERY < BATCH or done == len(docs))
        ):
            rate = done / max(time.monotonic() - started, 1e-6)
            progress.write(f"newsflow tag: {done}/{len(docs)} documents ({rate:.0f}/s)\n")
    out.flush()
    return done


def _readable(record: dict[str, Any]) -> str:
    names = "; ".join(f"{e['name']} ({e['type']}, {e['id']})" for e in record["entities"])
    return f"{record['doc_id']}: {names or 'no entities'}\n"


async def run_tag(
    paths: Sequence[Path],
    *,
    redis_url: str | None,
    out: TextIO = sys.stdout,
    progress: TextIO | None = sys.stderr,
    tagger: MultilingualTagger | None = None,
    base_url: str = "http://localhost:8003",
    as_json: bool = True,
) -> int:
    try:
        docs = list(read_documents(paths))
    except (InputError, OSError) as exc:
        print(f"newsflow tag: {exc}", file=sys.stderr)
        return 2
    async with AsyncExitStack() as stack:
        if redis_url is None:
            redis_url = stack.enter_context(RedisServer()).url
        client = make_client(CliSettings(redis_url=redis_url))
        stack.push_async_callback(client.aclose)
        registry = EntityRegistry(client, base_url=base_url)
        if tagger is None:
            from services.enrich.app import load_tagger
            from services.enrich.settings import EnrichSettings

            tagger = load_tagger(EnrichSettings())  # the languages an enrich replica serves
        await tag_documents(docs, tagger, registry, out, progress=progress, as_json=as_json)
    return 0
