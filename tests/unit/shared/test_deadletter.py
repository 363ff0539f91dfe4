"""The dead-letter format: what one writer encodes, the reader decodes, byte for byte."""

from __future__ import annotations

import hashlib

import orjson
import pytest

from shared import deadletter
from shared.deadletter import DeadLetter, DeadLetterError


def letter(original: dict[bytes, bytes], **extra: str) -> DeadLetter:
    return DeadLetter(
        stage="ingest",
        code="invalid_article",
        reason="title: missing",
        source_stream="articles.inbound",
        source_entry_id="1-0",
        original=original,
        delivery_count=2,
        extra=extra,
    )


def test_utf8_entry_round_trips_with_its_ids_taken_from_the_original_fields() -> None:
    original = {b"payload": b'{"title": "x"}', b"source": b"cms", b"article_id": b"a-1"}
    fields = deadletter.encode(letter(original, filename="a.json"))

    assert list(fields)[:7] == [
        "stage",
        "code",
        "reason",
        "delivery_count",
        "source_stream",
        "source_entry_id",
        "failed_at",
    ]
    assert "payload_encoding" not in fields
    assert orjson.loads(fields["payload"]) == {
        "payload": '{"title": "x"}',
        "source": "cms",
        "article_id": "a-1",
    }
    assert (fields["source"], fields["article_id"], fields["filename"]) == ("cms", "a-1", "a.json")
    back = deadletter.decode(fields)
    assert back.original == original
    assert (back.stage, back.code, back.delivery_count) == ("ingest", "invalid_article", 2)
    assert back.extra == {"filename": "a.json"}


def test_entry_with_bytes_that_are_not_utf8_is_kept_exactly_as_base64() -> None:
    original = {b"payload": b"\xff\xfe not text", b"content_type": b"text/plain"}
    fields = deadletter.encode(letter(original))

    assert fields["payload_encoding"] == "base64"
    assert deadletter.original_fields(fields) == {k.decode(): v for k, v in original.items()}


def test_a_dead_letter_without_payload_says_so() -> None:
    with pytest.raises(DeadLetterError, match="payload"):
        deadletter.original_fields({"stage": "enrich"})
    with pytest.raises(DeadLetterError, match="'code'"):
        deadletter.decode({"stage": "enrich", "reason": "r", "source_stream": "s", "payload": "{}"})


def test_a_payload_of_control_characters_keeps_a_64_kib_head_with_its_size_and_hash() -> None:
    # 1.9 MB of \x01 is valid UTF-8 but six bytes each once JSON-escaped (11 MB whole).
    junk = b"\x01" * 1_900_000
    fields = deadletter.encode(letter({b"payload": junk, b"source": b"cms"}))

    assert len(fields["payload"].encode()) <= deadletter.PAYLOAD_HEAD_BYTES
    assert fields["payload_truncated"] == "true"
    assert fields["payload_bytes"] == str(len(junk) + 3)
    assert len(fields["payload_sha256"]) == 64
    head = orjson.loads(fields["payload"])["payload"]
    assert 10_000 < len(head) < len(junk)
    assert set(head) == {"\x01"}
    assert deadletter.decode(fields).truncated
    with pytest.raises(DeadLetterError, match="cannot be replayed"):
        deadletter.original_fields(fields)


def test_a_large_binary_payload_keeps_a_base64_head() -> None:
    fields = deadletter.encode(letter({b"payload": b"\xff" * 500_000}))

    assert fields["payload_encoding"] == "base64"
    assert fields["payload_truncated"] == "true"
    assert len(fields["payload"].encode()) <= deadletter.PAYLOAD_HEAD_BYTES
    assert deadletter.original_fields(fields, allow_head=True)["payload"].startswith(b"\xff" * 1000)


def test_a_small_payload_is_whole_and_carries_its_hash() -> None:
    fields = deadletter.encode(letter({b"payload": b"short"}))

    assert "payload_truncated" not in fields
    assert fields["payload_bytes"] == "5"
    assert fields["payload_sha256"] == hashlib.sha256(fields["payload"].encode()).hexdigest()
