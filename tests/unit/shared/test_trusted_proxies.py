"""Whose X-Forwarded-For the rate limit believes: only a trusted proxy's, and only its own hops."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis
from starlette.requests import Request

from shared.runtime.http import HttpContext
from shared.runtime.metrics import ServiceMetrics
from shared.settings import parse_networks


def context(trusted: str = "", rate: float = 1) -> HttpContext:
    # The client is never used: nothing here reaches Redis.
    client = aioredis.Redis.from_url("redis://127.0.0.1:1/0")
    return HttpContext(
        "t", client, ServiceMetrics("t"), [], rate_limit_per_s=rate, trusted_proxies=parse_networks(trusted)
    )


def request(peer: str, *forwarded: str) -> Request:
    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded]
    return Request({"type": "http", "client": (peer, 4321), "headers": headers})


def test_forwarded_for_from_an_untrusted_peer_is_ignored() -> None:
    assert context().client_address(request("198.51.100.9", "203.0.113.5")) == "198.51.100.9"
    assert context("10.0.0.0/8").client_address(request("198.51.100.9", "203.0.113.5")) == "198.51.100.9"


def test_a_trusted_proxy_names_the_nearest_hop_it_did_not_add_itself() -> None:
    ctx = context("10.0.0.0/8, 192.0.2.7")
    # The client wrote "1.1.1.1" itself; the proxies at 192.0.2.7 and 10.1.2.3 appended the rest.
    assert ctx.client_address(request("10.1.2.3", "1.1.1.1, 203.0.113.5", "192.0.2.7")) == "203.0.113.5"
    assert ctx.client_address(request("10.1.2.3", "203.0.113.5")) == "203.0.113.5"
    assert ctx.client_address(request("::ffff:10.1.2.3", "2001:db8::1")) == "2001:db8::1"
    assert ctx.client_address(request("10.1.2.3")) == "10.1.2.3"
    # A malformed hop: nothing left of it is vouched for, so the last good one is the client.
    assert ctx.client_address(request("10.1.2.3", "203.0.113.5, not-an-ip")) == "10.1.2.3"


def test_spoofed_forwarded_for_gets_no_fresh_bucket_unless_the_peer_is_a_trusted_proxy() -> None:
    untrusted = context()
    assert untrusted.allow(request("198.51.100.9", "203.0.113.1"))
    assert not untrusted.allow(request("198.51.100.9", "203.0.113.2"))

    behind_proxy = context("10.0.0.1")
    assert behind_proxy.allow(request("10.0.0.1", "203.0.113.1"))
    assert behind_proxy.allow(request("10.0.0.1", "203.0.113.2"))
    assert not behind_proxy.allow(request("10.0.0.1", "203.0.113.2"))


def test_a_trusted_proxies_typo_fails_at_start() -> None:
    with pytest.raises(ValueError, match=r"10\.0\.0\.0/33"):
        parse_networks("10.0.0.0/8, 10.0.0.0/33")
