"""HMAC signatures: what senders put in X-Newsflow-Signature and what receivers accept."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from services.publish.webhooks import sign, verify

SECRET = "whsec-0123456789abcdef"
BODY = '{"event_id":"e1","title":"Zürich"}'.encode()
T = 1_750_000_000


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET.encode(), f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, BODY, T) == f"t={T},v1={expected}"


def test_receiver_accepts_a_fresh_signature_of_the_same_body() -> None:
    assert verify(SECRET, BODY, sign(SECRET, BODY, T), now=T + 10)


@pytest.mark.parametrize(
    ("secret", "body", "header"),
    [
        ("another-secret-0123456789", BODY, sign(SECRET, BODY, T)),
        (SECRET, BODY + b" ", sign(SECRET, BODY, T)),
        (SECRET, BODY, sign(SECRET, BODY, T).replace(f"t={T}", f"t={T + 1}")),
        (SECRET, BODY, f"t={T}"),
        (SECRET, BODY, f"v1={sign(SECRET, BODY, T).split('v1=')[1]}"),
        (SECRET, BODY, "t=soon,v1=00"),
        (SECRET, BODY, ""),
        (SECRET, BODY, f"t={T},v1=ünïcödé"),
    ],
    ids=["wrong-secret", "body-changed", "timestamp-changed", "no-v1", "no-t", "bad-t", "empty", "non-ascii"],
)
def test_receiver_rejects_a_signature_that_does_not_match(secret: str, body: bytes, header: str) -> None:
    assert not verify(secret, body, header, now=T)


def test_receiver_rejects_a_signature_older_or_newer_than_the_tolerance() -> None:
    header = sign(SECRET, BODY, T)
    assert verify(SECRET, BODY, header, now=T + 300)
    assert not verify(SECRET, BODY, header, now=T + 301)
    assert not verify(SECRET, BODY, header, now=T - 301)
    assert verify(SECRET, BODY, header, now=T + 3600, tolerance_s=3600)


def test_any_of_several_v1_values_may_match_during_secret_rotation() -> None:
    old = sign("old-secret-0123456789", BODY, T).split("v1=")[1]
    new = sign(SECRET, BODY, T).split("v1=")[1]
    assert verify(SECRET, BODY, f"t={T},v1={old},v1={new}", now=T)
    assert verify(SECRET, BODY, f"t={T}, v1={new}", now=T)  # spaces after commas are fine


def test_bytes_and_text_secrets_sign_alike() -> None:
    assert sign(SECRET.encode(), BODY, T) == sign(SECRET, BODY, T)
