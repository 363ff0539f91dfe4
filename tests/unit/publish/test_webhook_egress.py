"""The webhook egress policy: which addresses a subscriber may reach, and how allow-lists read."""

from __future__ import annotations

import ipaddress

import pytest

from services.publish.webhooks import (
    DestinationRefused,
    EgressPolicy,
    WebhookSubscriber,
    non_public_kind,
    numeric_host,
    parse_allow_entry,
    resolve,
)


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("fd00::1", "private"),
        ("fec0::1", "site-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("240.0.0.1", "private"),
        ("100.64.0.1", "not globally routable"),
        ("::ffff:127.0.0.1", "loopback, embedded in IPv6"),
        ("::127.0.0.1", "loopback, embedded in IPv6"),
        ("64:ff9b::a9fe:a9fe", "link-local, embedded in IPv6"),
        ("2002:7f00:1::", "loopback, embedded in IPv6"),
        ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "private, embedded in IPv6"),  # Teredo to 10.0.0.1
        ("93.184.216.34", None),
        ("2606:4700::1111", None),
        ("::ffff:93.184.216.34", None),
    ],
)
def test_each_address_is_classified(address: str, kind: str | None) -> None:
    assert non_public_kind(ipaddress.ip_address(address)) == kind


@pytest.mark.parametrize(
    ("host", "address"),
    [("2130706433", "127.0.0.1"), ("0x7f.1", "127.0.0.1"), ("0177.0.0.1", "127.0.0.1"), ("::1", "::1")],
)
def test_numeric_hosts_in_any_spelling_are_read_without_dns(host: str, address: str) -> None:
    assert numeric_host(host) == ipaddress.ip_address(address)


@pytest.mark.parametrize("host", ["hooks.example", "localhost", "", "1.2.3.4.5", "127.0.0.1 "])
def test_names_are_not_numeric_hosts(host: str) -> None:
    assert numeric_host(host) is None


def test_allow_entries_are_networks_or_normalised_hostnames() -> None:
    assert parse_allow_entry("10.1.2.0/24") == ipaddress.ip_network("10.1.2.0/24")
    assert parse_allow_entry("10.1.2.7/24") == ipaddress.ip_network("10.1.2.0/24")
    assert parse_allow_entry("127.0.0.1") == ipaddress.ip_network("127.0.0.1/32")
    assert parse_allow_entry("fd00::/8") == ipaddress.ip_network("fd00::/8")
    assert parse_allow_entry(" Hooks.Internal. ") == "hooks.internal"


@pytest.mark.parametrize(
    "entry", ["", " ", "10.1.2.0/33", "10.1.2.0/x", "-bad.example", "a b", "x" * 64, "a" * 300, "fd00::/200"]
)
def test_unusable_allow_entries_are_refused(entry: str) -> None:
    with pytest.raises(ValueError, match="allow_private entry"):
        parse_allow_entry(entry)


def test_a_policy_allows_public_addresses_and_only_the_listed_private_ones() -> None:
    policy = EgressPolicy.from_entries(["10.1.2.0/24", "hooks.internal"])
    policy.check("a.example", [ipaddress.ip_address("93.184.216.34")])
    policy.check("a.example", [ipaddress.ip_address("10.1.2.9")])
    policy.check("HOOKS.internal.", [ipaddress.ip_address("192.168.0.1")])
    with pytest.raises(DestinationRefused, match=r"a\.example resolves to 10\.1\.3\.1, which is private"):
        policy.check("a.example", [ipaddress.ip_address("10.1.2.9"), ipaddress.ip_address("10.1.3.1")])
    with pytest.raises(DestinationRefused, match="no address"):
        policy.check("a.example", [])


def test_an_ipv4_network_does_not_allow_the_v4_mapped_spelling_by_accident() -> None:
    policy = EgressPolicy.from_entries(["127.0.0.1"])
    with pytest.raises(DestinationRefused, match="embedded in IPv6"):
        policy.check("h.example", [ipaddress.ip_address("::ffff:127.0.0.1")])


def test_a_subscriber_may_name_a_literal_private_address_it_allow_lists() -> None:
    sub = WebhookSubscriber(
        name="p", url="http://10.1.2.3:8080/h", secret_env="S", allow_private=["10.1.2.0/24"]
    )
    assert sub.egress.networks == (ipaddress.ip_network("10.1.2.0/24"),)
    with pytest.raises(ValueError, match="is private"):
        WebhookSubscriber(name="p", url="http://10.1.3.3/h", secret_env="S", allow_private=["10.1.2.0/24"])


@pytest.mark.parametrize("url", ["http://0177.0.0.1/h", "http://[::1/h"])
def test_a_url_the_http_client_cannot_fetch_fails_at_load(url: str) -> None:
    with pytest.raises(ValueError, match="url"):
        WebhookSubscriber(name="p", url=url, secret_env="S")


async def test_resolution_answers_numeric_spellings_and_localhost_without_dns() -> None:
    assert await resolve("2130706433", 80) == [ipaddress.ip_address("127.0.0.1")]
    assert ipaddress.ip_address("127.0.0.1") in await resolve("localhost", 80)
