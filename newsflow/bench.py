"""`newsflow bench`: throughput, latency and memory of the pipeline against a private redis-server.

Everything is measured in one run, on one machine, so the figures are read as ratios against
baselines taken in the same run, never as absolute promises:

- baseline: `Tagger.tag` called in this process on the same articles the pipeline gets;
- pipeline: `newsflow run ingest|enrich|publish` as separate processes, a burst of articles,
  from the first inbound XADD to the last published entry (both read from the entry ids, which
  are the server's clock), with one and with two enrich replicas in one consumer group;
- ingest and publish alone: one process draining a pre-filled input stream, against a bare
  redis-py loop (XREADGROUP COUNT 100, XADD of the same fields to another stream, XACK, in one
  MULTI like the services' commit) over entries of the same size. The loop that sets the ratio
  reads replies with redis-py's own pure-Python parser, whatever is installed: a yardstick of the
  machine's speed that does not move with the project's dependencies (hiredis, which the services
  use, doubles the loop). The same loop with hiredis's parser is printed beside it;
- latency: articles paced at half the measured pipeline capacity, from the inbound entry's id
  (when upstream handed it over) to when a reader sees the published entry, and split by stage
  with the ids of the entries each stage wrote;
- memory: peak RSS of each service process and its children, sampled every 200 ms;
- CPU per article of each process (psutil): far less disturbed than rates by other work on the
  machine, so a rate that misses while its CPU figure does not is noise, not code.

Articles are generated, deterministic for a seed: about 600 words of news-like sentences that
name people, organisations and places from fixed lists, sent as `InboundArticle` JSON with a
`language` (as a CMS sends it). Targets are printed next to the figures; they are informational
and never change the exit status.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import random
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import orjson
import redis
import redis.asyncio as aioredis
from redis._parsers import BaseParser, _AsyncHiredisParser, _AsyncRESP2Parser
from redis.typing import EncodableT, FieldT
from rich.console import Console
from rich.table import Table

from newsflow.harness import (
    HarnessError,
    ProcessSet,
    RssSampler,
    groups_behind,
    wait_all_ready,
    wait_groups_idle,
)
from newsflow.redis_server import RedisServer
from newsflow.tagger_memory import measure_rss_mb
from services.enrich.app import load_tagger
from services.enrich.identifiers import place_index
from services.enrich.settings import EnrichSettings
from services.ingest.logic import Accepted, Draft, assign_version, parse_payload
from shared import streams, wire
from shared.events import (
    Entities,
    Entity,
    EntityType,
    EventType,
    Identifiers,
    Mention,
    RawArticle,
    TaggedArticle,
    TaggedEvent,
    new_event_id,
)

# --- knobs -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchConfig:
    """Sizes of one bench run; `FULL` and `QUICK` are the two the command offers."""

    seed: int = 20_240_611
    words: int = 600  # target length of a generated article body, in words
    pipeline_articles: int = 400  # baseline and each pipeline burst (tagging runs ~15 articles/s)
    stage_articles: int = 20_000  # ingest-alone, publish-alone and each raw redis loop
    latency_s: float = 60.0  # length of the paced run, in seconds
    replicas: int = 2  # enrich replicas of the scaling run; 1 skips it
    # Distinct generated bodies the stage runs cycle through (each entry still has its own id).
    stage_pool: int = 500
    timeout_s: float = 300.0  # longest wait for any one phase before giving up
    # RSS of a fresh process holding the taggers of each of these language sets ("" skips it).
    tagger_languages: tuple[str, ...] = ("en", "en,fr,es,de")


FULL = BenchConfig()
QUICK = BenchConfig(pipeline_articles=64, stage_articles=1_500, latency_s=6.0, stage_pool=100)

# Targets, informational: PASS/MISS is printed, the exit status does not depend on it.
TARGET_PIPELINE_RATIO = 0.9  # pipeline (1 enrich replica) vs the in-process baseline
TARGET_STAGE_PER_S = 5_000.0  # ingest and publish, articles/s per process
TARGET_STAGE_RATIO = 0.25  # ingest and publish vs the raw redis loop with the same entry sizes
TARGET_SCALING_RATIO = 1.6  # two enrich replicas vs one, from CPU accounting
TARGET_P99_MS = 300.0  # end-to-end, at half the pipeline capacity
TARGET_RSS_MB = {"ingest": 150.0, "enrich": 400.0, "publish": 150.0}
TARGET_TAGGER_RSS_MB = {"en,fr,es,de": 800.0}  # taggers of a four-language replica, one process

RAW_LOOP_COUNT = 100  # XREADGROUP COUNT of the raw loop, the services' default batch size
FILL_CHUNK = 500  # entries per pipelined XADD round trip when pre-filling a stream
POLL_S = 0.005  # how often the drain of one stage is checked, in seconds
BENCH_SOURCE = "bench"
PIPELINE_STREAMS = (streams.INBOUND, streams.RAW, streams.TAGGED, streams.PUBLISHED)


# A stream entry as redis-py takes it for XADD.
Entry = dict[FieldT, EncodableT]


class BenchError(RuntimeError):
    """A phase could not finish (a service died, an article was dead-lettered, a timeout)."""


# --- generated articles ------------------------------------------------------------------------

PEOPLE = (
    "Maria Santos", "Olaf Lindqvist", "Amara Okafor", "Hiroshi Tanaka", "Elena Petrova",
    "David Cohen", "Fatima Al-Sayed", "Lucas Moreau", "Priya Raman", "Tomasz Nowak",
    "Grace Mensah", "Carlos Ortega", "Ingrid Halvorsen", "Kwame Asante", "Sofia Rossi",
    "Daniel Becker", "Leila Haddad", "Mateo Fernandez", "Anna Kowalska", "Samuel Okonkwo",
    "Yuki Watanabe", "Nadia Benali", "Peter Lindgren", "Isabel Duarte", "Rahul Mehta",
    "Claire Dubois", "Jonas Weber", "Chloe Martin", "Ahmed Karimi", "Laura Bianchi",
    "Miguel Alvarez", "Hannah Schmidt", "Omar Farouk", "Julia Novak", "Victor Lambert",
    "Sarah Whitfield", "Emeka Nwosu", "Lina Johansson", "Marco Conti", "Aisha Bello",
)  # fmt: skip
ORGANISATIONS = (
    "the European Commission", "the World Bank", "the International Monetary Fund",
    "the United Nations", "the World Health Organization", "Siemens", "Maersk",
    "Deutsche Bank", "Toyota", "Unilever", "Shell", "Reuters", "the Red Cross",
    "the European Central Bank", "Amnesty International", "Nestle", "Volkswagen",
    "the African Union", "NATO", "Greenpeace", "the Bank of England", "Airbus",
    "the OECD", "Oxfam", "Samsung", "the International Energy Agency", "Rio Tinto",
    "the Port of Rotterdam Authority", "Vattenfall", "the World Trade Organization",
)  # fmt: skip
PLACES = (
    "Lisbon", "Rotterdam", "Nairobi", "Berlin", "Madrid", "Tokyo", "Cairo", "Warsaw",
    "Lagos", "Oslo", "Brussels", "Geneva", "Mumbai", "Sao Paulo", "Toronto", "Sydney",
    "Hamburg", "Marseille", "Istanbul", "Jakarta", "Accra", "Vienna", "Copenhagen",
    "Buenos Aires", "Seoul", "Cape Town", "Dublin", "Helsinki", "Athens", "Mexico City",
    "Portugal", "Kenya", "Germany", "Japan", "Egypt", "Poland", "Nigeria", "Norway",
    "Brazil", "Canada",
)  # fmt: skip
ROLES = (
    "chief executive", "finance minister", "spokesperson", "director", "chair",
    "economist", "president", "head of research", "mayor", "trade commissioner",
)  # fmt: skip
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
TOPICS = (
    "shipping emissions", "port investment", "energy prices", "trade rules", "public health",
    "food security", "interest rates", "water supply", "rail freight", "offshore wind",
)  # fmt: skip
FIRST_MENTION = (
    "{person}, the {role} of {org}, said on {day} that the talks in {place} on {topic} had made progress.",
    "Speaking in {place} on {day}, {person} told reporters that {org} would publish its figures on "
    "{topic} by the end of the month.",
    "{person}, who leads the {topic} work at {org}, arrived in {place} late on {day} for two days of "
    "meetings.",
)  # fmt: skip
SENTENCES = (
    "{surname} said the agreement, signed in {place}, would cover {n} projects over {m} years.",
    "{org} said in a statement that it expected the first results before the end of the year.",
    "Officials in {place} confirmed that {n} delegations attended the meeting on {day}.",
    "Analysts at {org} expect growth of {m} per cent this year, according to a note seen by reporters.",
    "{surname} declined to comment on the report, saying the figures were still being checked.",
    "The plan has been criticised in {place}, where local groups say it does not go far enough.",
    "{surname} met representatives of {org} in {place} to discuss {topic} and the costs involved.",
    "A spokesperson for {org} said talks with {surname} would continue in {place} next week.",
    "The figures published on {day} show {n} companies taking part, up from {m} a year earlier.",
    "According to {org}, spending on {topic} rose by {m} per cent in the first quarter.",
    "Critics said the timetable agreed in {place} left little room for smaller members.",
    "{surname} told the conference that {place} would host the next round of negotiations.",
)  # fmt: skip
FILLER = (
    "The figures were higher than most economists had expected.",
    "Critics said the plan did not go far enough and came too late.",
    "The details of the agreement have not yet been made public.",
    "Negotiators worked through the night to agree the final text.",
    "The decision is expected to be reviewed again in the autumn.",
    "Several members asked for more time to study the proposals.",
    "Markets reacted calmly to the announcement on the day.",
    "Supporters said the measures would pay for themselves within a decade.",
)  # fmt: skip
HEADLINES = (
    "{org} backs {topic} plan after talks in {place}",
    "{surname} promises action on {topic} as {place} meeting ends",
    "{place} talks on {topic} make progress, says {org}",
)  # fmt: skip


@dataclass(frozen=True)
class Article:
    """One generated article: the inbound JSON fields and the names it was written with."""

    doc: dict[str, Any]
    cast: tuple[tuple[str, EntityType], ...]

    def payload(self, *, article_no: int | None = None) -> bytes:
        """The `InboundArticle` JSON; `article_no` gives the copy its own id (a new article)."""
        if article_no is None:
            return orjson.dumps(self.doc)
        return orjson.dumps({**self.doc, "id": f"bench-{article_no:08d}"})


def _strip_article(name: str) -> str:
    return name.removeprefix("the ")


def _cap(sentence: str) -> str:
    return sentence[:1].upper() + sentence[1:]


def generate_article(seed: int, number: int, *, words: int = 600) -> Article:
    """Article `number` of the run with `seed`; the same pair gives the same article."""
    rng = random.Random(seed * 1_000_003 + number)
    people = rng.sample(PEOPLE, rng.randint(3, 5))
    orgs = rng.sample(ORGANISATIONS, rng.randint(2, 4))
    places = rng.sample(PLACES, rng.randint(2, 4))
    topic = rng.choice(TOPICS)
    introduced: list[str] = []

    def fill(template: str) -> str:
        person = rng.choice(people)
        if "{surname}" in template and introduced:
            person = rng.choice(introduced)
        values = {
            "person": person,
            "surname": person.split()[-1],
            "org": rng.choice(orgs),
            "place": rng.choice(places),
            "role": rng.choice(ROLES),
            "day": rng.choice(DAYS),
            "topic": topic,
            "n": str(rng.randint(3, 90)),
            "m": str(rng.randint(2, 12)),
        }
        text = _cap(template.format(**values))
        if "{person}" in template and person not in introduced:
            introduced.append(person)
        return text

    paragraphs: list[str] = []
    count = 0
    while count < words:
        sentences: list[str] = []
        for _ in range(rng.randint(2, 4)):
            pending = [p for p in people if p not in introduced]
            if pending and (not introduced or rng.random() < 0.3):
                template = rng.choice(FIRST_MENTION).replace("{person}", pending[0])
                introduced.append(pending[0])
            elif not introduced or rng.random() < 0.2:
                template = rng.choice(FILLER)
            else:
                template = rng.choice(SENTENCES)
            sentence = fill(template)
            sentences.append(sentence)
            count += len(sentence.split())
        paragraphs.append(" ".join(sentences))
    title = fill(rng.choice(HEADLINES))
    # Within one year from 2024-01-01, whatever the number: never "in the future" for ingest.
    published = datetime(2024, 1, 1, 6, 0, tzinfo=UTC) + timedelta(minutes=5 * (number % 100_000))
    doc = {
        "id": f"bench-{number:08d}",
        "source": BENCH_SOURCE,
        "url": f"https://news.example.org/bench/{number}",
        "title": title,
        "body": "\n\n".join(paragraphs),
        "published_at": published.isoformat(),
        "authors": [rng.choice(PEOPLE)],
        "language": "en",
        "subjects": [topic],
    }
    cast = tuple(
        [(p, EntityType.PERSON) for p in introduced]
        + [(_strip_article(o), EntityType.ORGANISATION) for o in orgs]
        + [(p, EntityType.PLACE) for p in places]
    )
    return Article(doc, cast)


def raw_article(article: Article, *, article_no: int | None = None) -> RawArticle:
    """What ingest makes of the article: the real parsing, validation and versioning."""
    draft = parse_payload(
        article.payload(article_no=article_no),
        "application/json",
        source=BENCH_SOURCE,
        received_at=datetime.now(UTC),
    )
    if not isinstance(draft, Draft):
        raise BenchError(f"a generated article was rejected by ingest: {draft.reason}")
    accepted = assign_version(draft, None, event_id=new_event_id())
    if not isinstance(accepted, Accepted):
        raise BenchError(f"a generated article was not accepted: {accepted}")
    return accepted.article


def fake_entities(article: RawArticle, cast: Sequence[tuple[str, EntityType]]) -> Entities:
    """The names the article was written with, found by string search: no model, real sizes."""
    places = place_index()
    grouped: dict[EntityType, list[Entity]] = {kind: [] for kind in EntityType}
    body = article.body
    for rank, (name, kind) in enumerate(cast):
        names = {name, name.split()[-1]} if kind is EntityType.PERSON else {name}
        mentions = sorted(
            (
                Mention(text=m.group(), start=m.start(), end=m.end())
                for alias in names
                for m in re.finditer(r"(?<!\w)" + re.escape(alias) + r"(?!\w)", body)
            ),
            key=lambda m: m.start,
        )
        if not mentions:
            continue
        place = places.lookup(name) if kind is EntityType.PLACE else None
        grouped[kind].append(
            Entity(
                id=f"{kind.value}:{'-'.join(name.lower().split())}",
                name=name,
                type=kind,
                mentions=mentions,
                count=len(mentions),
                salience=round(1.0 / (1 + rank), 4),
                in_headline=name in article.title,
                identifiers=place.identifiers() if place else Identifiers(),
            )
        )
    return Entities(
        people=grouped[EntityType.PERSON],
        organisations=grouped[EntityType.ORGANISATION],
        places=grouped[EntityType.PLACE],
        other=grouped[EntityType.OTHER],
    )


def tagged_fields(article: Article) -> dict[str, str]:
    """A tagged event as enrich writes it, with `fake_entities` in place of the model's."""
    raw = raw_article(article)
    event = TaggedEvent(
        event_type=EventType.TAGGED,
        article_id=raw.article_id,
        article_version=raw.version,
        correlation_id=new_event_id(),
        data=TaggedArticle(article=raw, entities=fake_entities(raw, article.cast), tagger="bench-fake"),
    )
    return wire.encode(event)


def tagged_copy(template: dict[str, str], article_no: int) -> Entry:
    """The template event as a different article (its own ids), so publish cannot skip it."""
    article_id = f"src-bench{article_no:08d}"
    correlation_id = new_event_id()
    event = orjson.loads(template[streams.FIELD_EVENT])
    event["event_id"] = new_event_id()
    event["article_id"] = article_id
    event["correlation_id"] = correlation_id
    event["data"]["article"]["article_id"] = article_id
    copy: Entry = {key: value for key, value in template.items()}
    copy[streams.FIELD_EVENT_ID] = event["event_id"]
    copy[streams.FIELD_ARTICLE_ID] = article_id
    copy[streams.FIELD_CORRELATION_ID] = correlation_id
    copy[streams.FIELD_EVENT] = orjson.dumps(event).decode()
    return copy


def inbound_fields(payload: bytes, correlation_id: str | None = None) -> Entry:
    fields: Entry = {
        streams.INBOUND_PAYLOAD: payload,
        streams.INBOUND_CONTENT_TYPE: "application/json",
        streams.INBOUND_SOURCE: BENCH_SOURCE,
    }
    if correlation_id is not None:
        fields[streams.FIELD_CORRELATION_ID] = correlation_id
    return fields


# --- redis helpers (sync client: the bench's own control loop) ----------------------------------


def _r(value: Any) -> Any:
    """redis-py types replies as `Awaitable | T` for both clients; this is the sync one."""
    return value


def _id_ms(entry_id: bytes | str) -> int:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(text.split("-", 1)[0])


def _group_info(client: redis.Redis, stream: str, group: str) -> dict[str, Any] | None:
    with contextlib.suppress(redis.ResponseError):
        for row in _r(client.xinfo_groups(stream)):
            name = row["name"].decode() if isinstance(row["name"], bytes) else row["name"]
            if name == group:
                return cast(dict[str, Any], row)
    return None


def _last_id(client: redis.Redis, stream: str) -> bytes | None:
    last = _r(client.xrevrange(stream, count=1))
    return cast(bytes, last[0][0]) if last else None


def _check_dead_letters(client: redis.Redis) -> None:
    dead = _r(client.xrange(streams.DLQ, count=1))
    if dead:
        fields = wire.text_fields(dead[0][1])
        raise BenchError(
            f"an article went to {streams.DLQ} ({fields.get('stage')}, {fields.get('code')}): "
            f"{fields.get('reason')}"
        )


def _fill(client: redis.Redis, stream: str, entries: Iterator[Entry]) -> list[bytes]:
    ids: list[bytes] = []
    pipe = client.pipeline(transaction=False)
    queued = 0
    for fields in entries:
        pipe.xadd(stream, fields)
        queued += 1
        if queued == FILL_CHUNK:
            ids.extend(pipe.execute())
            queued = 0
    if queued:
        ids.extend(pipe.execute())
    return ids


def _wait(
    what: str, done: Callable[[], bool], services: ProcessSet | None, timeout_s: float, poll_s: float = 0.05
) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        if services is not None:
            services.check_alive()
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(poll_s)


# --- results -----------------------------------------------------------------------------------


@dataclass
class BenchResult:
    baseline_per_s: float = 0.0
    pipeline_per_s: float = 0.0
    pipeline_ratio: float = 0.0
    # The same comparison in CPU per article (baseline / enrich): what the ratio would be if the
    # enrich replica had had its core to itself. Far above `pipeline_ratio` means noise or waiting.
    pipeline_cpu_ratio: float = 0.0
    # Share of one core the enrich replica used during the burst (1.0 = never waited).
    enrich_busy: float = 0.0
    pipeline_replicas_per_s: float = 0.0  # with `replicas` enrich replicas
    scaling_ratio: float = 0.0
    # The same scaling with each burst's wall time less the time its enrich replicas waited in the
    # CPU run queue (weighted by their share of the work): what `replicas` replicas would give
    # with a core each, so other load on the machine does not decide it; contention inside the
    # pipeline (Redis round trips, the registry's scripts) still counts.
    scaling_cpu_ratio: float = 0.0
    # Share of each burst's wall time the enrich replicas waited for a CPU: {"1": .., "2": ..}.
    enrich_run_queue_share: dict[str, float] = field(default_factory=dict)
    replicas: int = 2
    ingest_per_s: float = 0.0
    publish_per_s: float = 0.0
    raw_redis_per_s: float = 0.0  # raw loop over inbound-sized entries (ingest's input)
    raw_redis_tagged_per_s: float = 0.0  # raw loop over tagged-event-sized entries (publish's input)
    # The same two loops reading replies with hiredis's C parser (the services' parser); not the
    # yardstick of the ratios, which must not move when the project's dependencies do.
    raw_redis_c_parser_per_s: float = 0.0
    raw_redis_tagged_c_parser_per_s: float = 0.0
    ingest_ratio: float = 0.0
    publish_ratio: float = 0.0
    offered_per_s: float = 0.0
    latency_samples: int = 0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    p99_ms: float = 0.0
    # Where the latency goes: {"ingest"|"enrich"|"publish"|"read": {"p50"|"p95"|"p99": ms}}, from
    # the entry ids of articles.raw, articles.tagged and articles.published (millisecond clock).
    latency_stages_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    rss_mb: dict[str, float] = field(default_factory=dict)
    # RSS of a fresh process with the taggers of these languages loaded, by language set (MB).
    tagger_rss_mb: dict[str, float] = field(default_factory=dict)
    # CPU ms per article, robust to other work on the machine where rates are not: "baseline"
    # (in-process tagging), "ingest"/"publish" (alone), "pipeline" ({service: ms}, 1 replica).
    cpu_ms_per_article: dict[str, Any] = field(default_factory=dict)
    words_per_article: float = 0.0
    inbound_bytes: int = 0
    tagged_bytes: int = 0
    cpus: int = 0
    # 1-minute load average at the start and at the end: above `cpus`, other work shared the machine.
    load_avg: list[float] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    # `--archive N`: lookups and memory with N articles indexed, keyed by N as a string
    # (newsflow/bench_archive.py: related_p50_ms, related_p99_ms, listing_p99_ms, entity_p99_ms,
    # redis_mb_per_million and the figures behind them).
    archive: dict[str, dict[str, Any]] = field(default_factory=dict)

    def targets(self) -> list[tuple[str, str, bool]]:
        """(what, target, met) rows; informational."""
        rows = [
            (
                "pipeline vs baseline (1 enrich replica)",
                f"≥ {TARGET_PIPELINE_RATIO}×",
                self.pipeline_ratio >= TARGET_PIPELINE_RATIO,
            ),
            (
                "ingest articles/s per process",
                f"≥ {TARGET_STAGE_PER_S:,.0f}",
                self.ingest_per_s >= TARGET_STAGE_PER_S,
            ),
            (
                f"{self.replicas} enrich replicas vs 1 (CPU accounting)",
                f"≥ {TARGET_SCALING_RATIO}×",
                self.scaling_cpu_ratio >= TARGET_SCALING_RATIO or self.replicas == 1,
            ),
            ("ingest vs raw redis loop", f"≥ {TARGET_STAGE_RATIO}×", self.ingest_ratio >= TARGET_STAGE_RATIO),
            (
                "publish articles/s per process",
                f"≥ {TARGET_STAGE_PER_S:,.0f}",
                self.publish_per_s >= TARGET_STAGE_PER_S,
            ),
            (
                "publish vs raw redis loop",
                f"≥ {TARGET_STAGE_RATIO}×",
                self.publish_ratio >= TARGET_STAGE_RATIO,
            ),
            ("p99 latency at half capacity", f"≤ {TARGET_P99_MS:.0f} ms", self.p99_ms <= TARGET_P99_MS),
        ]
        rows += [
            (f"{name} peak RSS", f"≤ {limit:.0f} MB", self.rss_mb.get(name, 0.0) <= limit)
            for name, limit in TARGET_RSS_MB.items()
        ]
        rows += [
            (f"tagger RSS {langs}", f"≤ {limit:.0f} MB", self.tagger_rss_mb[langs] <= limit)
            for langs, limit in TARGET_TAGGER_RSS_MB.items()
            if langs in self.tagger_rss_mb
        ]
        return rows

    def to_json(self) -> dict[str, Any]:
        body = asdict(self)
        body["targets"] = [{"what": w, "target": t, "pass": ok} for w, t, ok in self.targets()]
        return body


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (no interpolation: every figure is a latency that happened)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(pct / 100 * len(ordered))))
    return float(ordered[rank - 1])


# --- phases ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Burst:
    per_s: float
    cpu_ms_per_article: dict[str, float]
    run_queue_share: float  # of the burst's wall time, the enrich replicas' work-weighted CPU wait

    @property
    def own_core_per_s(self) -> float:
        """The rate had the enrich replicas never waited for a CPU."""
        return self.per_s / (1 - self.run_queue_share)


def work_weighted_wait_s(
    before: Sequence[tuple[float, float]], after: Sequence[tuple[float, float]]
) -> float:
    """Run-queue seconds of the replicas between two readings of (CPU s, run-queue s) each,
    averaged with their CPU seconds as weights: a replica that did most of the work counts most."""
    deltas = [
        (a_cpu - b_cpu, a_wait - b_wait)
        for (b_cpu, b_wait), (a_cpu, a_wait) in zip(before, after, strict=True)
    ]
    work = sum(cpu for cpu, _ in deltas)
    if work <= 0:
        return 0.0
    return sum(cpu * wait for cpu, wait in deltas) / work


class Bench:
    """The phases, each measuring one thing against the same redis-server and articles."""

    def __init__(
        self,
        config: BenchConfig,
        client: redis.Redis,
        services: ProcessSet,
    ) -> None:
        self.config = config
        self.client = client
        self.services = services
        self.result = BenchResult(replicas=config.replicas, config=asdict(config))
        self.enrich_settings = EnrichSettings()

    def article(self, number: int) -> Article:
        return generate_article(self.config.seed, number, words=self.config.words)

    def reset(self) -> None:
        self.services.stop_all()
        self.client.flushdb()

    # baseline --------------------------------------------------------------------------------

    def baseline(self, articles: Sequence[Article]) -> None:
        tagger = load_tagger(self.enrich_settings)
        raws = [raw_article(a) for a in articles]
        batch = self.enrich_settings.batch_size
        tagger.tag(raws[:2], batch_size=batch)  # first call builds caches: not part of the figure
        started, cpu = time.perf_counter(), time.process_time()
        tagger.tag(raws, batch_size=batch)
        elapsed = time.perf_counter() - started
        self.result.baseline_per_s = len(raws) / elapsed
        self.result.cpu_ms_per_article["baseline"] = round((time.process_time() - cpu) * 1000 / len(raws), 3)

    # raw redis loop ----------------------------------------------------------------------------

    def raw_loop(self, entries: Iterator[Entry]) -> tuple[float, float]:
        """Entries/s of the raw loop with redis-py's pure-Python reply parser, and with hiredis's."""
        source, target, group = "bench.raw.in", "bench.raw.out", "bench"
        self.client.delete(source, target)
        count = len(_fill(self.client, source, entries))
        rates = []
        for parser in (_AsyncRESP2Parser, _AsyncHiredisParser):
            self.client.delete(target)
            self.client.xgroup_create(source, group, id="0")
            rates.append(
                asyncio.run(_raw_loop(self.services.redis_url, source, target, group, count, parser))
            )
            self.client.xgroup_destroy(source, group)
        self.client.delete(source, target)
        return rates[0], rates[1]

    # one stage alone ----------------------------------------------------------------------------

    def drain(self, name: str, input_stream: str, group: str, output_stream: str, count: int) -> float:
        """Articles/s of one `name` process draining `count` pre-filled entries of `input_stream`."""
        last = _last_id(self.client, input_stream)
        self.client.xgroup_create(input_stream, group, id="0", mkstream=True)
        proc = self.services.start(name)
        deadline = time.monotonic() + self.config.timeout_s
        first: float | None = None
        first_cpu = 0.0
        while True:
            info = _group_info(self.client, input_stream, group)
            now = time.perf_counter()
            if info is not None:
                if first is None and info["last-delivered-id"] != b"0-0":
                    first, first_cpu = now, proc.cpu_s()
                drained = info["last-delivered-id"] == last and int(info["pending"]) == 0
                # The process's own readers of its output (publish's listing index) count too.
                if first is not None and drained and not groups_behind(self.client, output_stream):
                    break
            self.services.check_alive()
            if time.monotonic() > deadline:
                raise BenchError(f"{name} did not drain {count} entries in {self.config.timeout_s:.0f} s")
            time.sleep(POLL_S)
        assert first is not None
        _check_dead_letters(self.client)
        written = int(_r(self.client.xlen(output_stream)))
        if written != count:
            raise BenchError(f"{name} wrote {written} entries to {output_stream}, expected {count}")
        self.result.cpu_ms_per_article[name] = round((proc.cpu_s() - first_cpu) * 1000 / count, 3)
        return count / (now - first)

    # the whole pipeline ---------------------------------------------------------------------------

    def start_pipeline(self, replicas: int) -> None:
        procs = [
            self.services.start("ingest"),
            *(self.services.start("enrich") for _ in range(replicas)),
            self.services.start("publish"),
        ]
        wait_all_ready(procs, self.config.timeout_s)

    def wait_published(self, total: int) -> None:
        def done() -> bool:
            _check_dead_letters(self.client)
            return int(_r(self.client.xlen(streams.PUBLISHED))) >= total

        _wait(f"{total} published events", done, self.services, self.config.timeout_s)

    def wait_idle(self) -> None:
        """Every group on every stream caught up: the indexes that read articles.published too."""
        wait_groups_idle(
            self.client,
            [(stream, None) for stream in PIPELINE_STREAMS],
            timeout_s=self.config.timeout_s,
            alive=self.services.running,
            poll_s=0.05,
        )

    def warm_up(self, first_number: int, count: int) -> None:
        """Articles one at a time, so each enrich replica has tagged one before the clock starts."""
        published = int(_r(self.client.xlen(streams.PUBLISHED)))
        for i in range(count):
            self.client.xadd(streams.INBOUND, inbound_fields(self.article(first_number + i).payload()))
            published += 1
            self.wait_published(published)
        self.wait_idle()

    def burst(self, articles: Sequence[Article]) -> Burst:
        """All articles at once: articles/s from the first inbound XADD to the last published
        entry, each service's CPU milliseconds per article (until all of it is idle), and the
        share of the burst the enrich replicas spent waiting for a CPU."""
        before = int(_r(self.client.xlen(streams.PUBLISHED)))
        cpu = self.services.cpu_s()
        enrich_before = self.services.cpu_and_run_queue_s("enrich")
        ids = _fill(self.client, streams.INBOUND, (inbound_fields(a.payload()) for a in articles))
        self.wait_published(before + len(articles))
        last = _last_id(self.client, streams.PUBLISHED)
        assert last is not None
        elapsed_s = max(_id_ms(last) - _id_ms(ids[0]), 1) / 1000
        self.wait_idle()
        used = self.services.cpu_s()
        enrich_after = self.services.cpu_and_run_queue_s("enrich")
        per_article = {name: round((used[name] - cpu[name]) * 1000 / len(articles), 3) for name in used}
        waited_s = work_weighted_wait_s(enrich_before, enrich_after)
        return Burst(
            per_s=len(articles) / elapsed_s,
            cpu_ms_per_article=per_article,
            run_queue_share=min(waited_s / elapsed_s, 0.99),
        )

    def latency(self, first_number: int, rate: float) -> list[float]:
        """End-to-end latencies (ms) of articles paced at `rate`; the time spent in each stage,
        from the entry ids of each stream, goes into `result.latency_stages_ms`."""
        count = max(int(self.config.latency_s * rate), 1)
        payloads = [self.article(first_number + i).payload() for i in range(count)]
        after = _last_id(self.client, streams.PUBLISHED) or b"0-0"
        timings = asyncio.run(
            _paced(
                self.services.redis_url,
                payloads,
                rate=rate,
                after=after,
                timeout_s=self.config.latency_s + self.config.timeout_s,
                alive=self.services.check_alive,
            )
        )
        _check_dead_letters(self.client)
        since = f"{min(sent for sent, _ in timings.values())}-0"
        at: dict[str, dict[bytes, int]] = {
            stream: {
                fields[streams.FIELD_CORRELATION_ID.encode()]: _id_ms(entry_id)
                for entry_id, fields in _r(self.client.xrange(stream, min=since))
                if streams.FIELD_CORRELATION_ID.encode() in fields
            }
            for stream in (streams.RAW, streams.TAGGED, streams.PUBLISHED)
        }
        steps: dict[str, list[float]] = {
            "ingest": [at[streams.RAW][c] - sent for c, (sent, _) in timings.items()],
            "enrich": [at[streams.TAGGED][c] - at[streams.RAW][c] for c in timings],
            "publish": [at[streams.PUBLISHED][c] - at[streams.TAGGED][c] for c in timings],
            "read": [seen - at[streams.PUBLISHED][c] for c, (_, seen) in timings.items()],
        }
        self.result.latency_stages_ms = {
            step: {f"p{p}": round(percentile(values, p), 1) for p in (50, 95, 99)}
            for step, values in steps.items()
        }
        return [seen - sent for sent, seen in timings.values()]


async def _raw_loop(
    url: str, source: str, target: str, group: str, count: int, parser: type[BaseParser]
) -> float:
    """XREADGROUP COUNT 100 → XADD each entry's fields to `target` → XACK, one MULTI per batch."""
    client = aioredis.Redis.from_url(url, parser_class=parser)
    try:
        done = 0
        started = time.perf_counter()
        while done < count:
            reply = await client.xreadgroup(group, "raw", {source: ">"}, count=RAW_LOOP_COUNT)
            if not reply:
                break
            entries = reply[0][1]
            pipe = client.pipeline(transaction=True)
            for _, fields in entries:
                pipe.xadd(target, fields)
            pipe.xack(source, group, *(entry_id for entry_id, _ in entries))
            await pipe.execute()
            done += len(entries)
        elapsed = time.perf_counter() - started
    finally:
        await client.aclose()
    return done / elapsed


async def _paced(
    url: str,
    payloads: Sequence[bytes],
    *,
    rate: float,
    after: bytes,
    timeout_s: float,
    alive: Callable[[], None],
) -> dict[bytes, tuple[int, float]]:
    """XADD at `rate` per second. For each correlation id: the inbound entry id's time, and when
    a reader saw the published entry (both the same host clock, in milliseconds)."""
    client = aioredis.Redis.from_url(url)
    sent_ms: dict[bytes, int] = {}
    seen_ms: dict[bytes, float] = {}
    wanted = {new_event_id().encode(): payload for payload in payloads}

    async def pace() -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        for i, (cid, payload) in enumerate(wanted.items()):
            await asyncio.sleep(max(start + i / rate - loop.time(), 0))
            entry_id = await client.xadd(streams.INBOUND, inbound_fields(payload, cid.decode()))
            sent_ms[cid] = _id_ms(entry_id)

    async def read() -> None:
        cursor: bytes = after
        deadline = time.monotonic() + timeout_s
        while len(seen_ms) < len(wanted):
            if time.monotonic() > deadline:
                raise BenchError(f"{len(wanted) - len(seen_ms)} paced articles not published in time")
            alive()
            reply = await client.xread({streams.PUBLISHED: cursor}, count=100, block=100)
            now_ms = time.time() * 1000
            for _, entries in reply or []:
                for entry_id, fields in entries:
                    cursor = entry_id
                    cid = fields.get(streams.FIELD_CORRELATION_ID.encode())
                    if cid in wanted:
                        seen_ms[cid] = now_ms

    try:
        await asyncio.gather(pace(), read())
    finally:
        await client.aclose()
    return {cid: (sent_ms[cid], seen_ms[cid]) for cid in wanted}


def run_bench(
    config: BenchConfig,
    *,
    console: Console | None = None,
    redis_url: str | None = None,
    profile_dir: Path | None = None,
) -> BenchResult:
    """Run every phase and return the figures. Starts a private redis-server unless `redis_url`
    is given (its database is flushed between phases). Every child process is stopped on exit."""
    console = console or Console(stderr=True)
    with contextlib.ExitStack() as stack:
        if redis_url is None:
            console.log("starting a private redis-server")
            redis_url = stack.enter_context(RedisServer()).url
        client = redis.Redis.from_url(redis_url)
        stack.callback(client.close)
        client.flushdb()
        log_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="newsflow-bench-")))
        sampler = stack.enter_context(RssSampler())
        # The caller's NEWSFLOW_* settings are kept: the baseline tagger is built from them too.
        services = ProcessSet(
            redis_url, log_dir, sampler=sampler, profile_dir=profile_dir, inherit_settings=True
        )
        stack.callback(services.stop_all)
        bench = Bench(config, client, services)
        bench.result.cpus = os.cpu_count() or 1
        bench.result.load_avg = [round(os.getloadavg()[0], 2)]
        if bench.result.load_avg[0] > bench.result.cpus:
            console.log(
                f"[yellow]load average {bench.result.load_avg[0]:.1f} on {bench.result.cpus} CPUs: "
                "other work is running, the figures will be noisy[/]"
            )
        _run_phases(bench, console)
        bench.result.load_avg.append(round(os.getloadavg()[0], 2))
        bench.result.rss_mb = {name: round(sampler.peak_mb.get(name, 0.0), 1) for name in TARGET_RSS_MB}
        for languages in config.tagger_languages:
            with console.status(f"tagger memory: {languages}"):
                rss = measure_rss_mb(languages.split(","), timeout_s=config.timeout_s)
            bench.result.tagger_rss_mb[languages] = round(rss, 1)
        return bench.result


def _run_phases(bench: Bench, console: Console) -> None:
    config, result = bench.config, bench.result
    n = config.pipeline_articles
    # Numbering: pipeline articles 0..n-1, warm-up and paced articles after them.
    warm_from, paced_from = 1_000_000, 2_000_000

    with console.status("generating articles"):
        articles = [bench.article(i) for i in range(n)]
        pool = [bench.article(100_000 + i) for i in range(min(config.stage_pool, config.stage_articles))]
    result.words_per_article = round(sum(len(a.doc["body"].split()) for a in articles) / n, 1)
    result.inbound_bytes = round(sum(len(a.payload()) for a in articles) / n)
    console.log(f"{n} articles, {result.words_per_article:.0f} words and {result.inbound_bytes} bytes each")

    with console.status(f"baseline: tagging {n} articles in this process"):
        bench.baseline(articles)
    console.log(f"baseline (Tagger.tag in process): {result.baseline_per_s:.1f} articles/s")

    m = config.stage_articles
    with console.status(f"ingest alone: draining {m:,} inbound entries"):

        def inbound() -> Iterator[Entry]:
            return (inbound_fields(pool[i % len(pool)].payload(article_no=i)) for i in range(m))

        result.raw_redis_per_s, result.raw_redis_c_parser_per_s = bench.raw_loop(inbound())
        _fill(bench.client, streams.INBOUND, inbound())
        result.ingest_per_s = bench.drain(
            "ingest", streams.INBOUND, streams.INGEST_GROUP, streams.RAW, config.stage_articles
        )
        bench.reset()
    result.ingest_ratio = result.ingest_per_s / result.raw_redis_per_s
    console.log(
        f"ingest alone: {result.ingest_per_s:,.0f} articles/s; raw redis loop "
        f"{result.raw_redis_per_s:,.0f}/s ({result.ingest_ratio:.3g}×)"
    )

    with console.status(f"publish alone: draining {m:,} tagged events"):
        templates = [tagged_fields(a) for a in pool]

        def tagged() -> Iterator[Entry]:
            return (tagged_copy(templates[i % len(templates)], i) for i in range(m))

        result.tagged_bytes = round(sum(len(t[streams.FIELD_EVENT]) for t in templates) / len(templates))
        result.raw_redis_tagged_per_s, result.raw_redis_tagged_c_parser_per_s = bench.raw_loop(tagged())
        _fill(bench.client, streams.TAGGED, tagged())
        result.publish_per_s = bench.drain(
            "publish", streams.TAGGED, streams.PUBLISH_GROUP, streams.PUBLISHED, config.stage_articles
        )
        bench.reset()
    result.publish_ratio = result.publish_per_s / result.raw_redis_tagged_per_s
    console.log(
        f"publish alone: {result.publish_per_s:,.0f} articles/s; raw redis loop "
        f"{result.raw_redis_tagged_per_s:,.0f}/s ({result.publish_ratio:.3g}×)"
    )

    with console.status("pipeline, 1 enrich replica: starting the services"):
        bench.start_pipeline(1)
        bench.warm_up(warm_from, 1)
    with console.status(f"pipeline, 1 enrich replica: {n} articles"):
        one = bench.burst(articles)
    result.pipeline_per_s, result.cpu_ms_per_article["pipeline"] = one.per_s, one.cpu_ms_per_article
    result.enrich_run_queue_share["1"] = round(one.run_queue_share, 3)
    result.pipeline_ratio = result.pipeline_per_s / result.baseline_per_s
    enrich_cpu_ms = result.cpu_ms_per_article["pipeline"].get("enrich", 0.0)
    if enrich_cpu_ms:
        result.pipeline_cpu_ratio = result.cpu_ms_per_article["baseline"] / enrich_cpu_ms
        result.enrich_busy = round(enrich_cpu_ms * result.pipeline_per_s / 1000, 3)
    console.log(
        f"pipeline, 1 enrich replica: {result.pipeline_per_s:.1f} articles/s "
        f"({result.pipeline_ratio:.3g}× baseline); CPU ms per article "
        + ", ".join(f"{k} {v:.1f}" for k, v in result.cpu_ms_per_article["pipeline"].items())
        + f"; enrich used {result.enrich_busy:.0%} of a core"
    )

    result.offered_per_s = round(result.pipeline_per_s / 2, 2)
    with console.status(f"latency: {result.offered_per_s:.1f} articles/s for {config.latency_s:.0f} s"):
        latencies = bench.latency(paced_from, result.offered_per_s)
        bench.reset()
    result.latency_samples = len(latencies)
    result.p50_ms, result.p95_ms, result.p99_ms = (round(percentile(latencies, p), 1) for p in (50, 95, 99))
    console.log(
        f"latency at {result.offered_per_s:.1f}/s: p50 {result.p50_ms:.0f} ms, "
        f"p95 {result.p95_ms:.0f} ms, p99 {result.p99_ms:.0f} ms ({len(latencies)} articles)"
    )

    if config.replicas > 1:
        k = config.replicas
        with console.status(f"pipeline, {k} enrich replicas: starting the services"):
            bench.start_pipeline(k)
            bench.warm_up(warm_from, 2 * k)
        with console.status(f"pipeline, {k} enrich replicas: {n} articles"):
            several = bench.burst(articles)
            bench.reset()
        result.pipeline_replicas_per_s = several.per_s
        result.enrich_run_queue_share[str(k)] = round(several.run_queue_share, 3)
        result.scaling_ratio = several.per_s / one.per_s
        result.scaling_cpu_ratio = several.own_core_per_s / one.own_core_per_s
        console.log(
            f"pipeline, {k} enrich replicas: {several.per_s:.1f} articles/s (scaling "
            f"{result.scaling_ratio:.3g}×; {result.scaling_cpu_ratio:.3g}× less the time the "
            f"replicas waited for a CPU: {several.run_queue_share:.0%} of the burst, against "
            f"{one.run_queue_share:.0%} with 1 replica)"
        )
    else:
        result.pipeline_replicas_per_s, result.scaling_ratio = one.per_s, 1.0
        result.scaling_cpu_ratio = 1.0


# --- output --------------------------------------------------------------------------------------


def _verdict(ok: bool) -> str:
    return "[green]PASS[/]" if ok else "[red]MISS[/]"


def render_table(result: BenchResult) -> Table:
    met = {what: ok for what, _, ok in result.targets()}
    cpu = result.cpu_ms_per_article
    in_pipeline: dict[str, float] = cpu.get("pipeline", {})
    loads = " → ".join(f"{load:.1f}" for load in result.load_avg)
    table = Table(
        title="newsflow bench",
        title_justify="left",
        caption=(
            f"{result.config.get('pipeline_articles')} articles of {result.words_per_article:.0f} words "
            f"per pipeline run, {result.config.get('stage_articles'):,} per stage run; "
            f"{result.cpus} CPUs, load average {loads}. CPU is per article, in the process named. "
            "Targets are informational."
        ),
        caption_justify="left",
    )
    for column in ("measure", "value", "ratio", "CPU", "target", ""):
        table.add_column(column, justify="left" if column in ("measure", "target", "") else "right")

    def ms(value: float | None) -> str:
        return "" if value is None else f"{value:,.2f} ms" if value < 10 else f"{value:,.0f} ms"

    table.add_row(
        "in-process baseline (Tagger.tag)",
        f"{result.baseline_per_s:,.1f}/s",
        "1.00×",
        ms(cpu.get("baseline")),
        "",
        "",
    )
    table.add_row(
        "pipeline over Redis, 1 enrich replica",
        f"{result.pipeline_per_s:,.1f}/s",
        f"{result.pipeline_ratio:.3g}× (CPU {result.pipeline_cpu_ratio:.3g}×)",
        ms(in_pipeline.get("enrich")),
        f"≥ {TARGET_PIPELINE_RATIO}× baseline",
        _verdict(met["pipeline vs baseline (1 enrich replica)"]),
    )
    if result.replicas > 1:
        table.add_row(
            f"pipeline over Redis, {result.replicas} enrich replicas",
            f"{result.pipeline_replicas_per_s:,.1f}/s",
            f"{result.scaling_ratio:.3g}× 1 replica (CPU {result.scaling_cpu_ratio:.3g}×)",
            "",
            f"≥ {TARGET_SCALING_RATIO}× 1 replica (CPU)",
            _verdict(met[f"{result.replicas} enrich replicas vs 1 (CPU accounting)"]),
        )
    for name, rate, raw, raw_c, ratio in (
        (
            "ingest",
            result.ingest_per_s,
            result.raw_redis_per_s,
            result.raw_redis_c_parser_per_s,
            result.ingest_ratio,
        ),
        (
            "publish",
            result.publish_per_s,
            result.raw_redis_tagged_per_s,
            result.raw_redis_tagged_c_parser_per_s,
            result.publish_ratio,
        ),
    ):
        table.add_row(
            f"{name} alone, 1 process",
            f"{rate:,.0f}/s",
            f"{ratio:.3g}× raw loop",
            ms(cpu.get(name)),
            f"≥ {TARGET_STAGE_PER_S:,.0f}/s; ≥ {TARGET_STAGE_RATIO}× raw",
            _verdict(met[f"{name} articles/s per process"] and met[f"{name} vs raw redis loop"]),
        )
        table.add_row(f"  raw redis-py loop, {name}'s entry sizes", f"{raw:,.0f}/s", "", "", "", "")
        c_ratio = f"{rate / raw_c:.3g}× this loop" if raw_c else ""
        table.add_row("  the same loop, hiredis parser", f"{raw_c:,.0f}/s", c_ratio, "", "", "")
    table.add_row(
        f"latency p50 / p95 / p99 at {result.offered_per_s:.1f}/s",
        f"{result.p50_ms:,.0f} / {result.p95_ms:,.0f} / {result.p99_ms:,.0f} ms",
        f"{result.latency_samples} articles",
        "",
        f"p99 ≤ {TARGET_P99_MS:.0f} ms",
        _verdict(met["p99 latency at half capacity"]),
    )
    for step, values in result.latency_stages_ms.items():
        table.add_row(
            f"  of which {step}",
            f"{values['p50']:,.0f} / {values['p95']:,.0f} / {values['p99']:,.0f} ms",
            "",
            "",
            "",
            "",
        )
    for name, limit in TARGET_RSS_MB.items():
        table.add_row(
            f"peak RSS {name}",
            f"{result.rss_mb.get(name, 0.0):,.0f} MB",
            "",
            "",
            f"≤ {limit:.0f} MB",
            _verdict(met[f"{name} peak RSS"]),
        )
    for languages, rss in result.tagger_rss_mb.items():
        tagger_limit = TARGET_TAGGER_RSS_MB.get(languages)
        table.add_row(
            f"tagger RSS, languages {languages} (fresh process)",
            f"{rss:,.0f} MB",
            "",
            "",
            f"≤ {tagger_limit:.0f} MB" if tagger_limit else "",
            _verdict(met[f"tagger RSS {languages}"]) if tagger_limit else "",
        )
    return table


def bench_command(
    quick: bool,
    as_json: bool,
    *,
    config: BenchConfig | None = None,
    profile_dir: Path | None = None,
    archive: Sequence[int] = (),
    archive_only: bool = False,
) -> int:
    """`newsflow bench [--quick] [--json] [--archive N ...] [--archive-only]`: progress on
    stderr, the table or one JSON object on stdout. `profile_dir` runs every service under
    cProfile and keeps a `.prof` per process. `archive` adds the archive-scale phase for each
    size; `archive_only` skips every other phase (the other keys keep their zero defaults)."""
    from newsflow import bench_archive  # it imports this module's percentile

    config = config or (QUICK if quick else FULL)
    err = Console(stderr=True)
    started = time.monotonic()
    try:
        result = BenchResult() if archive_only else run_bench(config, console=err, profile_dir=profile_dir)
        figures = bench_archive.run_archive(archive, console=err) if archive else {}
    except (BenchError, HarnessError, redis.RedisError) as exc:
        err.print(f"[red]newsflow bench failed:[/] {exc}")
        return 1
    result.archive = {n: f.to_json() for n, f in figures.items()}
    err.log(f"done in {time.monotonic() - started:.0f} s")
    # A pipe gets 80 columns by default, too narrow for the tables: give them room.
    out = Console(width=None if sys.stdout.isatty() else 140)
    if as_json:
        if figures:
            Console(stderr=True, width=140).print(bench_archive.render_table(figures))
        body = result.to_json()
        if archive_only:
            body["targets"] = []  # the other phases did not run: nothing to pass or miss
        print(orjson.dumps(body).decode())
        return 0
    if not archive_only:
        out.print(render_table(result))
    if figures:
        out.print(bench_archive.render_table(figures))
    return 0


__all__ = [
    "FULL",
    "QUICK",
    "BenchConfig",
    "BenchResult",
    "bench_command",
    "generate_article",
    "run_bench",
]
