"""Per-producer inbound streams: each producer's Redis user writes only its own stream, and ingest
lets through only the sources mapped to that producer. Black-box: `newsflow run ingest` on a real
redis-server, producers writing as their own ACL users."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest
import redis
import redis.exceptions

from shared import streams, wire
from shared.events import RawEvent
from tests.utils.bad_inputs import article_json
from tests.utils.chaos import read_stream
from tests.utils.paths import REPO
from tests.utils.services import running

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

PRODUCERS = "agency-a:wire-a|sport-a,agency-any"


# The example producer user of the deploy files; other producers' users are the same line renamed.
EXAMPLE_ACL = REPO / "deploy" / "redis" / "producers.acl.example"
EXAMPLE_PRODUCER = "agency-a"


def producer_rules(name: str) -> list[str]:
    """The example line's rules for producer `name` (its dev password `<name>-dev-password`)."""
    keyword, user, *rules = EXAMPLE_ACL.read_text().split()
    assert (keyword, user) == ("user", EXAMPLE_PRODUCER)
    digest = hashlib.sha256(f"{name}-dev-password".encode()).hexdigest()
    return [f"#{digest}" if rule.startswith("#") else rule.replace(EXAMPLE_PRODUCER, name) for rule in rules]


@pytest.fixture
def admin(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    for name in ("agency-a", "agency-any"):
        client.acl_setuser(name, reset=True)
        client.execute_command("ACL", "SETUSER", name, *producer_rules(name))  # type: ignore[no-untyped-call]
    try:
        yield client
    finally:
        client.acl_deluser("agency-a", "agency-any")
        client.close()


def producer(redis_url: str, name: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url, username=name, password=f"{name}-dev-password")


def send(client: redis.Redis, name: str, payload: bytes) -> None:
    fields = {streams.INBOUND_PAYLOAD: payload, streams.INBOUND_CONTENT_TYPE: "application/json"}
    client.xadd(streams.inbound_of(name), fields)  # type: ignore[arg-type]


def wait_for(admin: redis.Redis, *, raw: int, dlq: int, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while (admin.xlen(streams.RAW), admin.xlen(streams.DLQ)) != (raw, dlq):
        assert time.monotonic() < deadline, (admin.xlen(streams.RAW), admin.xlen(streams.DLQ))
        time.sleep(0.05)


def test_the_example_producer_user_may_write_only_its_own_stream(admin: redis.Redis, redis_url: str) -> None:
    with producer(redis_url, "agency-a") as agency_a:
        send(agency_a, "agency-a", article_json(source="wire-a"))
        for stream in (streams.inbound_of("agency-any"), streams.INBOUND, streams.RAW):
            with pytest.raises(redis.exceptions.NoPermissionError):
                agency_a.xadd(stream, {streams.INBOUND_PAYLOAD: article_json()})
        with pytest.raises(redis.exceptions.NoPermissionError):
            agency_a.xrange(streams.inbound_of("agency-a"))
    assert admin.xlen(streams.inbound_of("agency-a")) == 1


def test_producers_write_only_their_sources_and_the_rest_is_dead_lettered_as_source_forbidden(
    admin: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    with (
        running("ingest", redis_url, tmp_path, NEWSFLOW_INGEST_INBOUND_PRODUCERS=PRODUCERS),
        producer(redis_url, "agency-a") as agency_a,
        producer(redis_url, "agency-any") as agency_any,
    ):
        # The plain stream keeps taking any source, as before producers had streams of their own.
        admin.xadd(streams.INBOUND, {streams.INBOUND_PAYLOAD: article_json(source="wire-b", id="b-1")})
        send(agency_a, "agency-a", article_json(source="wire-a", id="a-1"))
        send(agency_a, "agency-a", article_json(source="sport-a", id="s-1"))
        send(agency_a, "agency-a", article_json(source="wire-b", id="b-2"))
        send(agency_any, "agency-any", article_json(source="anything", id="x-1"))
        wait_for(admin, raw=4, dlq=1)
        # agency-a withdraws wire-b's article: refused, and the article stays published.
        withdrawal = article_json(source="wire-b", id="b-1", action="withdraw", reason="legal")
        send(agency_a, "agency-a", withdrawal)
        wait_for(admin, raw=4, dlq=2)
        # Nothing is left pending on any of the three streams: every entry was decided.
        for stream in (streams.INBOUND, streams.inbound_of("agency-a"), streams.inbound_of("agency-any")):
            pending = cast(dict[str, int], admin.xpending(stream, streams.INGEST_GROUP))
            assert pending["pending"] == 0, stream

    raw = [wire.decode(f, RawEvent).data for _, f in read_stream(admin, streams.RAW)]
    assert sorted((a.source, a.source_id, a.pubstatus.value) for a in raw) == [
        ("anything", "x-1", "usable"),
        ("sport-a", "s-1", "usable"),
        ("wire-a", "a-1", "usable"),
        ("wire-b", "b-1", "usable"),
    ]
    letters = [f for _, f in read_stream(admin, streams.DLQ)]
    assert [letter["code"] for letter in letters] == ["source_forbidden", "source_forbidden"]
    assert all(letter["source"] == "wire-b" for letter in letters)
    assert all(letter["source_stream"] == streams.inbound_of("agency-a") for letter in letters)
    assert "producer 'agency-a' may not write or withdraw articles of source 'wire-b'" in letters[0]["reason"]
    assert "'sport-a', 'wire-a'" in letters[0]["reason"]


def test_a_producer_cannot_take_over_another_sources_article_by_naming_its_url(
    admin: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    url = "https://news.example/2024/05/harbour"
    with (
        running("ingest", redis_url, tmp_path, NEWSFLOW_INGEST_INBOUND_PRODUCERS=PRODUCERS),
        producer(redis_url, "agency-a") as agency_a,
    ):
        # wire-b's article has no id of its own: its id comes from its URL, whatever the source.
        admin.xadd(streams.INBOUND, {streams.INBOUND_PAYLOAD: article_json(source="wire-b", id=..., url=url)})
        wait_for(admin, raw=1, dlq=0)
        send(agency_a, "agency-a", article_json(source="wire-a", id=..., url=url, action="withdraw"))
        send(agency_a, "agency-a", article_json(source="wire-a", id=..., url=url, title="Rewritten"))
        wait_for(admin, raw=1, dlq=2)

    [(_, fields)] = read_stream(admin, streams.RAW)
    assert wire.decode(fields, RawEvent).data.source == "wire-b"
    letters = [f for _, f in read_stream(admin, streams.DLQ)]
    assert [letter["code"] for letter in letters] == ["source_forbidden", "source_forbidden"]
    assert all("which is an article of source 'wire-b'" in letter["reason"] for letter in letters)
