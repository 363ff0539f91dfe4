"""`newsflow dlq` against a real redis-server: list, show, replay (streams and webhooks), purge."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis.asyncio as aioredis
from typer.testing import CliRunner, Result

from newsflow.dlq import dlq_app
from services.publish.stages import WebhookStage
from shared import streams, wire
from shared.events import PublishedEvent
from shared.runtime.consumer import Delivery, StageRunner, dead_letter_fields, ensure_group
from shared.wire import text_fields
from tests.utils.webhooks import SECRET, Receiver, always, published_event, subscriber

pytestmark = [pytest.mark.integration, pytest.mark.timeout(20)]


@pytest.fixture(autouse=True)
def environment(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.delenv("NEWSFLOW_PUBLISH_WEBHOOKS_PATH", raising=False)
    # configure_logging binds structlog, process-wide, to the sys.stderr of the moment: inside
    # CliRunner that is a capture buffer closed after the command, and later tests would log to it.
    monkeypatch.setattr("newsflow.dlq.configure_logging", lambda *_args, **_kwargs: None)


async def cli(*args: str) -> Result:
    def invoke() -> Result:
        return CliRunner().invoke(dlq_app, list(args))

    # In a thread: the command runs its own event loop, as it does from a shell.
    return await asyncio.to_thread(invoke)


def published_fields(event: PublishedEvent) -> dict[Any, Any]:
    return dict(wire.encode(event))


async def dead_letter_from(
    client: aioredis.Redis,
    stream: str,
    fields: dict[Any, Any],
    *,
    stage: str,
    code: str,
    reason: str = "bad input",
) -> tuple[str, dict[bytes, bytes]]:
    """XADD `fields` to `stream` and dead-letter that entry; returns the dead letter's id and the entry."""
    entry_id = (await client.xadd(stream, fields)).decode()
    [(_, raw)] = await client.xrange(stream, min=entry_id, max=entry_id)
    delivery = Delivery(stream, entry_id, text_fields(raw), delivery_count=2, raw=raw)
    letter: dict[Any, Any] = dead_letter_fields(stage=stage, delivery=delivery, reason=reason, code=code)
    return (await client.xadd(streams.DLQ, letter)).decode(), raw


async def last_entry(client: aioredis.Redis, stream: str) -> dict[bytes, bytes]:
    [(_, raw)] = await client.xrevrange(stream, count=1)
    return dict(raw)


INBOUND_FIELDS = {
    "payload": orjson.dumps({"id": "cms-1", "title": "Zürich talks", "body": "…"}),
    "content_type": b"application/json",
    "source": b"cms",
}
NOT_UTF8_FIELDS = {
    "payload": b"\xff\xfe caf\xe9 \x00 bytes",
    "content_type": b"text/plain",
    "source": b"wire",
}


async def test_list_shows_dead_letters_newest_first(redis_client: aioredis.Redis) -> None:
    first, _ = await dead_letter_from(
        redis_client, streams.INBOUND, INBOUND_FIELDS, stage="ingest", code="invalid_json"
    )
    second, _ = await dead_letter_from(
        redis_client,
        streams.RAW,
        {"event": b"{}", "article_id": b"cms-2"},
        stage="enrich",
        code="max_deliveries",
        reason="failed 5 deliveries: boom",
    )

    result = await cli("list")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ID", "FAILED", "AT", "(UTC)", "STAGE", "CODE", "SOURCE", "ARTICLE", "REASON"]
    assert lines[1].startswith(second)
    assert lines[1].split()[3:7] == ["enrich", "max_deliveries", "-", "cms-2"]
    assert "failed 5 deliveries: boom" in lines[1]
    assert lines[2].startswith(first)
    assert lines[2].split()[3:7] == ["ingest", "invalid_json", "cms", "-"]

    as_json = await cli("list", "--json", "--limit", "1")
    [row] = [orjson.loads(line) for line in as_json.stdout.splitlines()]
    assert row["id"] == second
    assert (row["stage"], row["code"], row["source_stream"]) == ("enrich", "max_deliveries", streams.RAW)
    assert "payload" not in row

    only = await cli("list", "--code", "invalid_json", "--json")
    assert [orjson.loads(line)["id"] for line in only.stdout.splitlines()] == [first]


async def test_list_of_an_empty_or_unknown_stream(redis_client: aioredis.Redis) -> None:
    empty = await cli("list")
    assert (empty.exit_code, empty.stdout.strip()) == (0, f"no dead letters in {streams.DLQ}")
    wrong = await cli("list", "--stream", streams.INBOUND)
    assert wrong.exit_code == 2
    assert "is not articles.dlq" in wrong.output


async def test_show_prints_everything_with_the_payload_decoded(redis_client: aioredis.Redis) -> None:
    letter_id, _ = await dead_letter_from(
        redis_client, streams.INBOUND, INBOUND_FIELDS, stage="ingest", code="invalid_json"
    )
    binary_id, _ = await dead_letter_from(
        redis_client, streams.INBOUND, NOT_UTF8_FIELDS, stage="ingest", code="unreadable"
    )

    shown = await cli("show", letter_id)
    assert shown.exit_code == 0, shown.output
    doc = orjson.loads(shown.stdout)
    assert (doc["id"], doc["stage"], doc["code"], doc["delivery_count"]) == (
        letter_id,
        "ingest",
        "invalid_json",
        "2",
    )
    assert doc["payload"]["payload"] == {"id": "cms-1", "title": "Zürich talks", "body": "…"}
    assert doc["payload"]["source"] == "cms"
    assert shown.stdout.startswith("{\n  ")  # pretty

    binary = orjson.loads((await cli("show", binary_id)).stdout)
    assert binary["payload_encoding"] == "base64"
    assert binary["payload"]["payload"] == {"base64": "//4gY2Fm6SAAIGJ5dGVz"}
    assert binary["payload"]["content_type"] == "text/plain"

    missing = await cli("show", "1-1")
    assert missing.exit_code == 1
    assert "no dead letter 1-1" in missing.output


async def test_replay_puts_the_original_back_on_its_source_stream_byte_for_byte(
    redis_client: aioredis.Redis,
) -> None:
    await ensure_group(redis_client, streams.INBOUND, "ingest")
    letter_id, original = await dead_letter_from(
        redis_client, streams.INBOUND, INBOUND_FIELDS, stage="ingest", code="invalid_json"
    )
    await redis_client.xreadgroup("ingest", "c1", {streams.INBOUND: ">"})  # the first go, consumed

    result = await cli("replay", letter_id)

    assert result.exit_code == 0, result.output
    assert "replayed 1, failed 0, skipped 0" in result.stdout
    assert await last_entry(redis_client, streams.INBOUND) == original
    assert await redis_client.xlen(streams.DLQ) == 0
    # the ingest group sees the replayed entry as new
    reply = await redis_client.xreadgroup("ingest", "c1", {streams.INBOUND: ">"})
    assert [dict(f) for _, entries in reply for _, f in entries] == [original]


async def test_replay_all_with_a_code_replays_only_those_including_non_utf8_payloads(
    redis_client: aioredis.Redis,
) -> None:
    binary_id, binary = await dead_letter_from(
        redis_client, streams.INBOUND, NOT_UTF8_FIELDS, stage="ingest", code="unreadable"
    )
    other_id, _ = await dead_letter_from(
        redis_client, streams.INBOUND, INBOUND_FIELDS, stage="ingest", code="invalid_json"
    )
    tagged_id, tagged = await dead_letter_from(
        redis_client,
        streams.TAGGED,
        {"event": b'{"x": 1}', "article_id": b"a-1"},
        stage="publish",
        code="unreadable",
    )

    result = await cli("replay", "--all", "--code", "unreadable")

    assert result.exit_code == 0, result.output
    assert "replayed 2, failed 0, skipped 0" in result.stdout
    assert await last_entry(redis_client, streams.INBOUND) == binary
    assert await last_entry(redis_client, streams.TAGGED) == tagged
    remaining = [eid.decode() for eid, _ in await redis_client.xrange(streams.DLQ)]
    assert remaining == [other_id]
    assert binary_id not in remaining
    assert tagged_id not in remaining


async def test_replay_does_not_put_entries_back_on_the_published_stream(
    redis_client: aioredis.Redis,
) -> None:
    event = published_event("cms-9")
    letter_id, _ = await dead_letter_from(
        redis_client, streams.PUBLISHED, published_fields(event), stage="enrich-index", code="max_deliveries"
    )
    before = await redis_client.xlen(streams.PUBLISHED)

    result = await cli("replay", letter_id)

    assert result.exit_code == 1
    assert "every subscriber would get it again" in result.stdout
    assert "replayed 0, failed 0, skipped 1" in result.stdout
    assert await redis_client.xlen(streams.PUBLISHED) == before
    assert await redis_client.xlen(streams.DLQ) == 1


async def test_a_rejected_entry_of_a_webhook_stage_is_not_sent_to_the_subscriber(
    redis_client: aioredis.Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    letter_id, _ = await dead_letter_from(
        redis_client,
        streams.PUBLISHED,
        {"event": b"{not json", "article_id": b"bad-1"},
        stage="webhook-partner",
        code="invalid_event",
    )
    async with Receiver() as receiver:
        webhook_config(tmp_path, receiver.url, monkeypatch)
        result = await cli("replay", letter_id)

    assert result.exit_code == 1
    assert "not re-delivered" in result.stdout
    assert receiver.received == []
    assert await redis_client.xlen(streams.DLQ) == 1


async def park_a_webhook_delivery(client: aioredis.Redis, url: str) -> str:
    """Run the real webhook stage against a failing receiver; returns the published event's id."""
    sub = subscriber("partner", url=url, retry={"attempts": 1})
    event = published_event("cms-w", places=("Zürich",))
    await client.xadd(streams.PUBLISHED, published_fields(event))
    await ensure_group(client, streams.PUBLISHED, sub.group)
    reply = await client.xreadgroup(sub.group, "c1", {streams.PUBLISHED: ">"})
    batch = [
        Delivery(streams.PUBLISHED, eid.decode(), text_fields(f), raw=f) for _, es in reply for eid, f in es
    ]
    async with httpx.AsyncClient() as http:
        stage = WebhookStage(sub, secret=SECRET, http=http, redis=client, max_deliveries=5, batch_budget_s=10)
        runner = StageRunner(
            client, stage, input_stream=streams.PUBLISHED, group=sub.group, consumer="c1", max_deliveries=5
        )
        await runner.handle(batch)
    return event.event_id


def webhook_config(tmp_path: Path, url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "webhooks.yaml"
    path.write_text(
        f"- name: partner\n  url: {url}\n  secret_env: PARTNER_SECRET\n  allow_private: [127.0.0.1]\n"
        "  retry: {attempts: 2, base_s: 0.01, cap_s: 0.01}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("NEWSFLOW_PUBLISH_WEBHOOKS_PATH", str(path))
    monkeypatch.setenv("PARTNER_SECRET", SECRET)


async def test_webhook_dead_letters_are_redelivered_to_the_configured_url_and_deleted(
    redis_client: aioredis.Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = "articles.webhooks.dlq:partner"
    async with Receiver(always(503)) as old:
        event_id = await park_a_webhook_delivery(redis_client, old.url)
    [(letter_id, raw)] = await redis_client.xrange(stream)
    assert raw[b"url"] == old.url.encode()
    published_before = await redis_client.xlen(streams.PUBLISHED)

    async with Receiver(always(500)) as still_down:
        webhook_config(tmp_path, still_down.url, monkeypatch)
        failed = await cli("replay", letter_id.decode(), "--stream", stream)
    assert failed.exit_code == 1
    assert "HTTP 500" in failed.stdout
    assert len(still_down.received) == 2  # one attempt series from the config: 2 attempts
    assert await redis_client.xlen(stream) == 1  # left for later

    async with Receiver() as new:
        webhook_config(tmp_path, new.url, monkeypatch)  # the subscriber moved: config wins
        listed = await cli("list", "--stream", stream)
        replayed = await cli("replay", "--all", "--stream", stream)

    assert listed.stdout.splitlines()[1].split()[3:5] == ["webhook-partner", "retries_exhausted"]
    assert replayed.exit_code == 0, replayed.output
    assert "replayed 1, failed 0, skipped 0" in replayed.stdout
    [delivery] = new.received
    assert delivery.signature_valid
    assert delivery.headers["x-newsflow-event-id"] == event_id
    assert await redis_client.xlen(stream) == 0
    assert await redis_client.xlen(streams.PUBLISHED) == published_before  # nobody else notified


async def test_webhook_replay_without_config_skips_and_keeps_the_dead_letter(
    redis_client: aioredis.Redis,
) -> None:
    async with Receiver(always(503)) as receiver:
        await park_a_webhook_delivery(redis_client, receiver.url)
    result = await cli("replay", "--all", "--stream", "articles.webhooks.dlq:partner")
    assert result.exit_code == 1
    assert "no webhook config" in result.stdout
    assert await redis_client.xlen("articles.webhooks.dlq:partner") == 1


async def test_purge_deletes_dead_letters_older_than_the_given_days(redis_client: aioredis.Redis) -> None:
    await redis_client.xadd(streams.DLQ, {"stage": "ingest", "code": "old"}, id="1000-0")  # 1970
    _, _ = await dead_letter_from(redis_client, streams.INBOUND, INBOUND_FIELDS, stage="ingest", code="new")

    result = await cli("purge", "--older-than", "30", "--yes")

    assert result.exit_code == 0, result.output
    assert f"purged 1 from {streams.DLQ}" in result.stdout
    assert [text_fields(f)["code"] for _, f in await redis_client.xrange(streams.DLQ)] == ["new"]


async def test_streams_lists_every_dead_letter_stream_with_its_length(redis_client: aioredis.Redis) -> None:
    await redis_client.xadd("articles.webhooks.dlq:a", {"x": "1"})
    await redis_client.xadd("articles.webhooks.dlq:a", {"x": "2"})
    await redis_client.set("articles.webhooks.dlq:not-a-stream", "x")

    result = await cli("streams")

    assert [line.split() for line in result.stdout.splitlines()] == [
        ["0", "articles.dlq"],
        ["2", "articles.webhooks.dlq:a"],
    ]
