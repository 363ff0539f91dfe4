"""Webhook delivery end to end: real redis-server, real HTTP receivers, the real `StageRunner`."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis.asyncio as aioredis

from services.publish.settings import PublishSettings
from services.publish.stages import WebhookStage, webhook_consumers
from services.publish.webhooks import (
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    Deliverer,
    Resolve,
    WebhookConfigError,
    WebhookSubscriber,
)
from shared import streams, wire
from shared.events import EventType, PublishedEvent
from shared.runtime.consumer import BatchReport, Delivery, StageRunner, ensure_group
from shared.wire import text_fields
from tests.utils.webhooks import (
    SECRET,
    Receiver,
    always,
    fail_first,
    fixed_resolver,
    published_event,
    self_signed_certificate,
    subscriber,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(20)]


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False) as client:
        yield client


async def publish(client: aioredis.Redis, *events: PublishedEvent) -> list[str]:
    ids = []
    for event in events:
        fields: dict[Any, Any] = wire.encode(event)
        ids.append((await client.xadd(streams.PUBLISHED, fields)).decode())
    return ids


async def read(client: aioredis.Redis, group: str) -> list[Delivery]:
    await ensure_group(client, streams.PUBLISHED, group)
    reply = await client.xreadgroup(group, "c1", {streams.PUBLISHED: ">"}, count=100)
    return [
        Delivery(streams.PUBLISHED, eid.decode(), text_fields(f), raw=f)
        for _, entries in reply or []
        for eid, f in entries
    ]


def runner(client: aioredis.Redis, stage: WebhookStage, max_deliveries: int = 5) -> StageRunner:
    return StageRunner(
        client,
        stage,
        input_stream=streams.PUBLISHED,
        group=stage.sub.group,
        consumer="c1",
        max_deliveries=max_deliveries,
    )


def make_stage(
    client: aioredis.Redis,
    http: httpx.AsyncClient,
    sub: WebhookSubscriber,
    *,
    max_deliveries: int = 5,
    budget_s: float = 10.0,
    resolver: Resolve | None = None,
) -> WebhookStage:
    stage = WebhookStage(
        sub,
        secret=SECRET,
        http=http,
        redis=client,
        max_deliveries=max_deliveries,
        batch_budget_s=budget_s,
    )
    if resolver is not None:  # DNS answers of the test's choosing
        stage.deliverer = Deliverer(sub, secret=SECRET, http=http, resolver=resolver)
    return stage


async def run_once(client: aioredis.Redis, stage: WebhookStage, max_deliveries: int = 5) -> BatchReport:
    return await runner(client, stage, max_deliveries).handle(await read(client, stage.sub.group))


async def dead_letters(client: aioredis.Redis, stream: str) -> list[dict[str, str]]:
    return [text_fields(f) for _, f in await client.xrange(stream)]


async def pending(client: aioredis.Redis, group: str) -> int:
    return int((await client.xpending(streams.PUBLISHED, group))["pending"])


async def test_delivery_succeeds_after_two_503s_with_a_valid_signature(
    redis_client: aioredis.Redis, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    async with Receiver(fail_first(2, 503)) as receiver:
        config = tmp_path / "webhooks.yaml"
        config.write_text(
            f"""
subscribers:
  - name: partner
    url: {receiver.url}
    secret_env: PARTNER_SECRET
    allow_private: [127.0.0.1]
    retry: {{attempts: 3, base_s: 0.01, cap_s: 0.05}}
""",
            encoding="utf-8",
        )
        settings = PublishSettings(webhooks_path=config)
        [(stream, group, stage)] = webhook_consumers(
            redis_client, settings, http=http, env={"PARTNER_SECRET": SECRET}
        )
        assert (stream, group, stage.name) == (streams.PUBLISHED, "webhook-partner", "webhook-partner")
        assert isinstance(stage, WebhookStage)
        event = published_event("cms-1", places=("Zürich",))
        await publish(redis_client, event)

        report = await run_once(redis_client, stage)

    assert report.emitted == 1
    attempts = receiver.for_event(event.event_id)
    assert len(attempts) == 3
    assert all(a.signature_valid for a in attempts)
    last = attempts[-1]
    assert last.body == wire.encode(event)[streams.FIELD_EVENT].encode()
    assert PublishedEvent.model_validate_json(last.body) == event
    assert last.headers[EVENT_TYPE_HEADER.lower()] == "article.published"
    assert last.headers["content-type"] == "application/json"
    assert await pending(redis_client, "webhook-partner") == 0
    assert await redis_client.exists("articles.webhooks.dlq:partner") == 0


async def test_a_subscriber_that_always_fails_gets_a_dead_letter_after_n_attempts(
    redis_client: aioredis.Redis, http: httpx.AsyncClient
) -> None:
    async with Receiver(always(500)) as receiver:
        sub = subscriber("down", url=receiver.url + "?token=not-in-dead-letters")
        event = published_event("cms-2")
        [entry_id] = await publish(redis_client, event)
        report = await run_once(redis_client, make_stage(redis_client, http, sub))

    assert len(receiver.for_event(event.event_id)) == 3  # the configured attempts
    assert (report.emitted, report.retried) == (1, 0)
    assert await pending(redis_client, "webhook-down") == 0  # the input is acknowledged
    [letter] = await dead_letters(redis_client, "articles.webhooks.dlq:down")
    assert letter["stage"] == "webhook-down"
    assert letter["code"] == "retries_exhausted"
    assert letter["subscriber"] == "down"
    assert letter["url"] == receiver.url  # no query string: tokens stay out of Redis
    assert (letter["status"], letter["attempts"]) == ("500", "3")
    assert letter["response"] == "answer 500"
    assert "HTTP 500" in letter["reason"]
    assert (letter["source_stream"], letter["source_entry_id"]) == (streams.PUBLISHED, entry_id)
    assert (letter["article_id"], letter["correlation_id"]) == ("cms-2", "corr-cms-2")
    assert orjson.loads(letter["payload"]) == wire.encode(event)
    assert await redis_client.xlen(streams.DLQ) == 0


async def test_a_400_is_not_retried_and_goes_straight_to_the_subscriber_dlq(
    redis_client: aioredis.Redis, http: httpx.AsyncClient
) -> None:
    async with Receiver(always(400)) as receiver:
        event = published_event("cms-3")
        await publish(redis_client, event)
        await run_once(redis_client, make_stage(redis_client, http, subscriber("strict", url=receiver.url)))

    assert len(receiver.for_event(event.event_id)) == 1
    [letter] = await dead_letters(redis_client, "articles.webhooks.dlq:strict")
    assert (letter["code"], letter["status"], letter["attempts"]) == ("refused", "400", "1")
    assert await pending(redis_client, "webhook-strict") == 0


async def test_a_redirect_is_not_followed(redis_client: aioredis.Redis, http: httpx.AsyncClient) -> None:
    async with Receiver(always(307)) as receiver:
        event = published_event("cms-4")
        await publish(redis_client, event)
        await run_once(redis_client, make_stage(redis_client, http, subscriber("moved", url=receiver.url)))

    assert len(receiver.received) == 1
    [letter] = await dead_letters(redis_client, "articles.webhooks.dlq:moved")
    assert (letter["code"], letter["status"]) == ("refused", "307")


async def test_timeouts_and_refused_connections_are_retried(
    redis_client: aioredis.Redis, http: httpx.AsyncClient
) -> None:
    slow_first = Receiver(lambda attempt: (200, 0.4 if attempt == 1 else 0.0))
    async with slow_first as receiver:
        event = published_event("cms-5")
        await publish(redis_client, event)
        sub = subscriber("slow", url=receiver.url, timeout_s=0.1)
        report = await run_once(redis_client, make_stage(redis_client, http, sub))
    assert report.emitted == 1
    assert len(receiver.for_event(event.event_id)) == 2
    assert await redis_client.exists("articles.webhooks.dlq:slow") == 0

    closed = subscriber("gone", url=receiver.url)  # the receiver has stopped: connection refused
    await run_once(redis_client, make_stage(redis_client, http, closed))
    [letter] = await dead_letters(redis_client, "articles.webhooks.dlq:gone")
    assert letter["code"] == "retries_exhausted"
    assert letter["attempts"] == "3"
    assert "ConnectError" in letter["error"]
    assert "status" not in letter


async def test_subscribers_get_only_the_entities_and_event_types_they_asked_for(
    redis_client: aioredis.Redis, http: httpx.AsyncClient
) -> None:
    zurich_new = published_event("z-1", places=("Zürich",))
    berlin_new = published_event("b-1", places=("Berlin",))
    zurich_update = published_event("z-2", version=2, event_type=EventType.UPDATED, places=("Zürich",))
    anna = published_event("p-1", people=("Anna Müller",))
    async with Receiver() as receiver:
        await publish(redis_client, zurich_new, berlin_new, zurich_update, anna)
        by_name = subscriber(
            "zurich-updates",
            url=receiver.url + "/zurich",
            filter={"entities": ["ZÜRICH"], "event_types": ["article.updated"]},
        )
        by_id = subscriber(
            "people", url=receiver.url + "/people", filter={"entities": ["person:anna-müller"]}
        )
        everything = subscriber("all", url=receiver.url + "/all")
        reports = [
            await run_once(redis_client, make_stage(redis_client, http, sub))
            for sub in (by_name, by_id, everything)
        ]

    def got(path: str) -> list[str]:
        return [orjson.loads(r.body)["article_id"] for r in receiver.received if r.path == path]

    assert got("/hook/zurich") == ["z-2"]
    assert got("/hook/people") == ["p-1"]
    assert sorted(got("/hook/all")) == ["b-1", "p-1", "z-1", "z-2"]
    assert [(r.emitted, r.skipped) for r in reports] == [(1, 3), (1, 3), (4, 0)]
    for group in ("webhook-zurich-updates", "webhook-people", "webhook-all"):
        assert await pending(redis_client, group) == 0


async def test_later_events_of_a_matched_article_follow_it_in_order_even_without_entities(
    redis_client: aioredis.Redis, http: httpx.AsyncClient
) -> None:
    """A kill notice has no entities; a subscriber that got the article must still get it."""
    async with Receiver() as receiver:
        sub = subscriber("zurich", url=receiver.url, filter={"entities": ["Zürich"]})
        stage = make_stage(redis_client, http, sub)
        first = published_event("z-1", places=("Zürich",))
        kill_in_same_batch = published_event("z-1", version=2, event_type=EventType.WITHDRAWN)
        other_kill = published_event("x-9", version=2, event_type=EventType.WITHDRAWN)
        await publish(redis_client, first, kill_in_same_batch, other_kill)
        await run_once(redis_client, stage)
        later = published_event("z-1", version=3, event_type=EventType.UPDATED, places=("Geneva",))
        await publish(redis_client, later)
        await run_once(redis_client, stage)

    delivered = [
        (orjson.loads(r.body)["article_id"], r.headers[EVENT_TYPE_HEADER.lower()]) for r in receiver.received
    ]
    assert delivered == [
        ("z-1", "article.published"),
        ("z-1", "article.withdrawn"),
        ("z-1", "article.updated"),
    ]
    assert await redis_client.hget("newsflow:webhooks:followed:zurich", "z-1") == b"3"


async def test_two_subscribers_are_independent(redis_client: aioredis.Redis, http: httpx.AsyncClient) -> None:
    events = [published_event(f"cms-{n}") for n in range(3)]
    async with Receiver(always(200)) as ok_receiver, Receiver(always(503)) as down_receiver:
        await publish(redis_client, *events)
        ok = make_stage(redis_client, http, subscriber("ok", url=ok_receiver.url))
        down = make_stage(redis_client, http, subscriber("down", url=down_receiver.url))
        ok_report, down_report = await asyncio.gather(
            run_once(redis_client, ok), run_once(redis_client, down)
        )

    assert sorted(ok_receiver.attempts.values()) == [1, 1, 1]
    assert sorted(down_receiver.attempts.values()) == [3, 3, 3]
    assert (ok_report.emitted, down_report.emitted) == (3, 3)
    assert await redis_client.exists("articles.webhooks.dlq:ok") == 0
    assert await redis_client.xlen("articles.webhooks.dlq:down") == 3
    assert await pending(redis_client, "webhook-ok") == 0
    assert await pending(redis_client, "webhook-down") == 0
    assert {e.event_id for e in events} == {r.headers[EVENT_ID_HEADER.lower()] for r in ok_receiver.received}


async def test_what_the_batch_budget_cuts_short_stays_pending_and_is_parked_on_its_last_delivery(
    redis_client: aioredis.Redis, http: httpx.AsyncClient
) -> None:
    async with Receiver(always(503)) as receiver:
        sub = subscriber(
            "budget",
            url=receiver.url,
            timeout_s=0.1,
            retry={"attempts": 3, "base_s": 0.3, "cap_s": 0.3, "jitter": 0},
        )
        stage = make_stage(redis_client, http, sub, max_deliveries=2, budget_s=0.25)
        await publish(redis_client, published_event("cms-7"))
        report = await run_once(redis_client, stage, max_deliveries=2)
        assert (report.retried, report.emitted) == (1, 0)
        assert await pending(redis_client, "webhook-budget") == 1
        assert await redis_client.exists("articles.webhooks.dlq:budget") == 0

        await asyncio.sleep(0.02)  # the second (and last) delivery, through the reclaimer
        await runner(redis_client, stage, max_deliveries=2).reclaim_once(min_idle_ms=10, count=10)

    assert len(receiver.received) == 2  # one attempt per delivery: no time for a retry
    assert await pending(redis_client, "webhook-budget") == 0
    [letter] = await dead_letters(redis_client, "articles.webhooks.dlq:budget")
    assert (letter["code"], letter["delivery_count"], letter["status"]) == ("out_of_time", "2", "503")
    assert await redis_client.xlen(streams.DLQ) == 0


async def test_an_entry_that_is_not_a_published_event_is_rejected_to_the_main_dlq(
    redis_client: aioredis.Redis, http: httpx.AsyncClient
) -> None:
    async with Receiver() as receiver:
        await redis_client.xadd(streams.PUBLISHED, {"event": "{not json", "article_id": "bad-1"})
        good = published_event("cms-8")
        await publish(redis_client, good)
        await run_once(redis_client, make_stage(redis_client, http, subscriber("p", url=receiver.url)))

    assert [r.headers[EVENT_ID_HEADER.lower()] for r in receiver.received] == [good.event_id]
    [letter] = await dead_letters(redis_client, streams.DLQ)
    assert (letter["stage"], letter["code"], letter["article_id"]) == ("webhook-p", "invalid_event", "bad-1")


async def test_no_webhooks_path_means_no_consumers(redis_client: aioredis.Redis) -> None:
    assert webhook_consumers(redis_client, PublishSettings(webhooks_path=None)) == []


async def test_a_slow_drip_receiver_cannot_hold_an_attempt_past_timeout_s() -> None:
    # Headers one byte every 0.2 s: each read is quick, the whole attempt is not.
    async def drip(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            for byte in b"HTTP/1.1 500 Internal Server Error\r\nX-Slow: " + b"x" * 500:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.2)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(drip, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    sub = subscriber(url=f"http://127.0.0.1:{port}/hook", timeout_s=1.0, retry={"attempts": 1})
    async with server, httpx.AsyncClient() as http:
        deliverer = Deliverer(sub, secret="s", http=http)
        started = time.monotonic()
        result = await deliverer.deliver(b"{}", event_id="e-1", event_type="article.published")
        took = time.monotonic() - started
        server.close()

    assert not result.delivered
    assert "timeout" in (result.error or "")
    print(f"\nslow-drip attempt with timeout_s=1 ended after {took:.2f} s")
    assert took < 2.0, took


# --- egress policy: where a subscriber may deliver ----------------------------------------------


@pytest.mark.parametrize(
    ("answers", "kind"),
    [
        (["127.0.0.1"], "loopback"),
        (["::1"], "loopback"),
        (["10.20.30.40"], "private"),
        (["169.254.169.254"], "link-local"),
        (["::ffff:127.0.0.1"], "loopback, embedded in IPv6"),
        (["93.184.216.34", "10.0.0.5"], "private"),  # every address counts, not just the first
    ],
    ids=["v4-loopback", "v6-loopback", "10-x", "metadata", "v4-mapped", "one-of-two-private"],
)
async def test_a_name_resolving_to_a_non_public_address_is_refused_and_parked_without_a_request(
    redis_client: aioredis.Redis, http: httpx.AsyncClient, answers: list[str], kind: str
) -> None:
    async with Receiver() as receiver:
        sub = subscriber("ssrf", url=receiver.url_for("hooks.example"), allow_private=[])
        event = published_event("cms-ssrf")
        await publish(redis_client, event)
        resolver = fixed_resolver({"hooks.example": answers})
        report = await run_once(redis_client, make_stage(redis_client, http, sub, resolver=resolver))

    assert receiver.received == []
    assert report.emitted == 1
    [letter] = await dead_letters(redis_client, "articles.webhooks.dlq:ssrf")
    assert (letter["code"], letter["attempts"]) == ("destination_refused", "1")
    assert f"is {kind}; allow-list" in letter["error"]
    assert "not retried" in letter["reason"]
    assert await pending(redis_client, "webhook-ssrf") == 0


async def test_an_allow_listed_name_is_reached_at_the_vetted_address_with_its_own_host_header(
    redis_client: aioredis.Redis, http: httpx.AsyncClient
) -> None:
    # hooks.example has no real DNS record: delivery works only if the connection goes to the
    # address the check saw, never to a second resolution of the name.
    async with Receiver() as receiver:
        url = receiver.url_for("hooks.example")
        sub = subscriber("internal", url=url, allow_private=["127.0.0.0/8"])
        event = published_event("cms-vetted")
        await publish(redis_client, event)
        resolver = fixed_resolver({"hooks.example": ["127.0.0.1"]})
        report = await run_once(redis_client, make_stage(redis_client, http, sub, resolver=resolver))

    assert report.emitted == 1
    [received] = receiver.for_event(event.event_id)
    assert received.headers["host"] == f"hooks.example:{receiver.port}"
    assert received.signature_valid
    assert await redis_client.exists("articles.webhooks.dlq:internal") == 0


async def test_a_host_allow_listed_by_name_is_reached_whatever_it_resolves_to(
    redis_client: aioredis.Redis, http: httpx.AsyncClient
) -> None:
    async with Receiver() as receiver:
        sub = subscriber("named", url=receiver.url_for("Hooks.Internal"), allow_private=["hooks.internal"])
        event = published_event("cms-named")
        await publish(redis_client, event)
        resolver = fixed_resolver({"hooks.internal": ["127.0.0.1"]})
        await run_once(redis_client, make_stage(redis_client, http, sub, resolver=resolver))
    assert len(receiver.for_event(event.event_id)) == 1


async def test_a_name_that_does_not_resolve_is_retried_not_refused(
    redis_client: aioredis.Redis, http: httpx.AsyncClient
) -> None:
    sub = subscriber("nodns", url="http://nowhere.example/hook", allow_private=[])
    event = published_event("cms-nodns")
    await publish(redis_client, event)
    await run_once(redis_client, make_stage(redis_client, http, sub, resolver=fixed_resolver({})))
    [letter] = await dead_letters(redis_client, "articles.webhooks.dlq:nodns")
    assert (letter["code"], letter["attempts"]) == ("retries_exhausted", "3")
    assert letter["error"].startswith("cannot resolve nowhere.example")


async def test_https_to_the_vetted_address_keeps_sni_and_checks_the_certificate_against_the_name(
    tmp_path: Path,
) -> None:
    cert, key = self_signed_certificate(tmp_path, "hooks.example")
    trust = ssl.create_default_context(cafile=str(cert))
    resolver = fixed_resolver({"hooks.example": ["127.0.0.1"], "other.example": ["127.0.0.1"]})
    async with (
        Receiver(tls=(cert, key)) as receiver,
        httpx.AsyncClient(verify=trust, trust_env=False) as http,
    ):
        good = subscriber(url=receiver.url_for("hooks.example"), allow_private=["127.0.0.1"])
        delivered = await Deliverer(good, secret=SECRET, http=http, resolver=resolver).deliver(
            b"{}", event_id="e-tls", event_type="article.published"
        )
        # Same address, a name the certificate does not carry: the TLS check must fail.
        wrong = subscriber(url=receiver.url_for("other.example"), allow_private=["127.0.0.1"])
        mismatched = await Deliverer(wrong, secret=SECRET, http=http, resolver=resolver).deliver(
            b"{}", event_id="e-tls-2", event_type="article.published"
        )

    assert delivered.delivered, delivered.describe()
    assert receiver.received[0].headers["host"] == f"hooks.example:{receiver.port}"
    assert not mismatched.delivered
    assert "CERTIFICATE_VERIFY_FAILED" in (mismatched.error or "")
    assert len(receiver.received) == 1


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "[::1]",
        "10.1.2.3",
        "169.254.169.254",
        "[::ffff:127.0.0.1]",
        "localhost",
        "2130706433",
        "0x7f.1",
    ],
)
async def test_a_literal_non_public_destination_fails_at_config_load(
    redis_client: aioredis.Redis, tmp_path: Path, host: str
) -> None:
    config = tmp_path / "webhooks.yaml"
    config.write_text(f"- {{name: p, url: 'http://{host}:8080/hook', secret_env: PARTNER_SECRET}}\n")
    with pytest.raises(WebhookConfigError, match="allow_private"):
        webhook_consumers(redis_client, PublishSettings(webhooks_path=config), env={"PARTNER_SECRET": SECRET})
