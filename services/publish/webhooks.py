"""Webhook delivery: each configured subscriber gets the published events it asked for, signed.

Design:
- One `WebhookStage` (in `stages.py`) per subscriber, read through its own consumer group `webhook-<name>` on
  `articles.published`, so a slow or failing subscriber never holds up another.
- A delivery is a POST of the event JSON exactly as it is on the stream, signed with
  HMAC-SHA256 (`X-Newsflow-Signature: t=<unix seconds>,v1=<hex>` over `f"{t}.{body}"`). It is
  retried with exponential backoff and jitter on 5xx, 429, timeouts and connection errors; any
  other answer (other 4xx, and 3xx: redirects are never followed, so the configured URL is the
  only one ever fetched) is final at once.
- A delivery that cannot succeed is parked in the subscriber's own dead-letter stream
  `articles.webhooks.dlq:<name>`, written by the runner atomically with the XACK.
- A batch never runs longer than `batch_budget_s` (half of `reclaim_idle_ms`), or the reclaimer
  would take its entries over and deliver them twice. What the budget cuts short is left pending
  (`Retry`) and picked up again by the reclaimer; on an entry's last delivery it is parked instead.
- Delivery is at least once: receivers de-duplicate on `X-Newsflow-Event-Id`.
- Events of one article are delivered in stream order; different articles concurrently, at most
  `max_in_flight` requests at a time per subscriber.
- An entity filter cannot see a withdrawal (a kill notice carries no entities), so every article
  that matched a subscriber's entity filter is remembered (`newsflow:webhooks:followed:<name>`,
  written with the XACK) and its later events (updates, withdrawals) are delivered too.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import ipaddress
import random
import re
import socket
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

import httpx
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared import streams
from shared.events import EventType, PublishedEvent
from shared.logging import get_logger
from shared.runtime.consumer import (
    Delivery,
    dead_letter_fields,
)

log = get_logger(__name__)

WEBHOOK_DLQ_PREFIX: Final = streams.WEBHOOK_DLQ_PREFIX
WEBHOOK_FOLLOWED_PREFIX: Final = streams.WEBHOOK_FOLLOWED_PREFIX
WEBHOOK_GROUP_PREFIX: Final = streams.WEBHOOK_GROUP_PREFIX

SIGNATURE_HEADER: Final = "X-Newsflow-Signature"
EVENT_ID_HEADER: Final = "X-Newsflow-Event-Id"
EVENT_TYPE_HEADER: Final = "X-Newsflow-Event-Type"
USER_AGENT: Final = "newsflow-webhooks/1"

# Receivers reject a signature whose timestamp is further than this from their clock, in seconds.
DEFAULT_TOLERANCE_S: Final = 300
# An HMAC-SHA256 key shorter than this (characters) is too easy to guess.
MIN_SECRET_LENGTH: Final = 16
# Bytes of a failed response's body kept in the dead letter and the log.
RESPONSE_EXCERPT_BYTES: Final = 256
# Event types that travel on articles.published, the only ones a filter can name.
PUBLISHED_EVENT_TYPES: Final = frozenset({EventType.PUBLISHED, EventType.UPDATED, EventType.WITHDRAWN})


class WebhookConfigError(ValueError):
    """The webhook configuration file, or a secret it names, is missing or invalid."""


# --- egress policy ------------------------------------------------------------------------------

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# IPv6 prefixes that carry an IPv4 address in their low 32 bits, so `::ffff:127.0.0.1` or
# `64:ff9b::a00:1` is judged by the IPv4 address it reaches (Python 3.11 calls some of them global).
_IPV4_COMPATIBLE: Final = ipaddress.IPv6Network("::/96")
_NAT64: Final = ipaddress.IPv6Network("64:ff9b::/96")
# A hostname in `allow_private`: letters, digits, '-' and '.', as DNS spells it.
_LABEL: Final = r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?"
_HOSTNAME: Final = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*$")


def normalise_host(host: str) -> str:
    """A hostname compared as DNS compares it: case-folded, without the root's trailing dot."""
    return host.rstrip(".").casefold()


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a v4-mapped, v4-compatible, NAT64, 6to4 or Teredo address leads to."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]  # (server, client): the client is where packets go
    if (address in _IPV4_COMPATIBLE and int(address) > 1) or address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def non_public_kind(address: IPAddress) -> str | None:
    """Why `address` is not a public unicast destination (e.g. 'loopback'), or None when it is."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = embedded_ipv4(address)
        if inner is not None:
            kind = non_public_kind(inner)
            return f"{kind}, embedded in IPv6" if kind else None
        if address.is_site_local:
            return "site-local"
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
    )
    for kind, hit in checks:
        if hit:
            return kind
    # Shared address space (100.64.0.0/10), benchmarking and documentation ranges and the like.
    return None if address.is_global else "not globally routable"


def numeric_host(host: str) -> IPAddress | None:
    """The address a numeric host stands for, in any spelling the C resolver takes, else None.

    `2130706433`, `0x7f.1` and `0177.0.0.1` all mean 127.0.0.1 to getaddrinfo; no DNS is asked.
    """
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError, ValueError):
        return None
    return ipaddress.ip_address(infos[0][4][0])


def parse_allow_entry(entry: str) -> str | IPNetwork:
    """An `allow_private` entry: an address or CIDR block (network), or a hostname (normalised)."""
    text = entry.strip()
    unusable = f"allow_private entry {entry[:80]!r} is not an address, CIDR block or hostname"
    if "/" in text or numeric_host(text) is not None or ":" in text:
        try:
            return ipaddress.ip_network(text, strict=False)
        except ValueError as exc:
            raise ValueError(unusable) from exc
    host = normalise_host(text)
    if not _HOSTNAME.match(host):
        raise ValueError(unusable)
    return host


class DestinationRefused(Exception):
    """The destination resolves to an address the subscriber may not reach."""


@dataclasses.dataclass(frozen=True, slots=True)
class EgressPolicy:
    """Which non-public destinations one subscriber may reach: public ones are always allowed."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_entries(cls, entries: Iterable[str]) -> EgressPolicy:
        parsed = [parse_allow_entry(e) for e in entries]
        return cls(
            hosts=frozenset(p for p in parsed if isinstance(p, str)),
            networks=tuple(p for p in parsed if not isinstance(p, str)),
        )

    def check(self, host: str, addresses: Sequence[IPAddress]) -> None:
        """Raise `DestinationRefused` unless every address `host` resolved to may be reached."""
        if not addresses:
            raise DestinationRefused(f"{host} resolved to no address")
        if normalise_host(host) in self.hosts:
            return
        for address in addresses:
            kind = non_public_kind(address)
            if kind is None or any(address.version == n.version and address in n for n in self.networks):
                continue
            spelled = "" if numeric_host(host) == address else f" resolves to {address}, which"
            raise DestinationRefused(
                f"destination {host}{spelled} is {kind}; allow-list the host or a network in "
                "allow_private to deliver there"
            )


def _is_localhost_name(host: str) -> bool:
    # RFC 6761: `localhost` and every name under it are the loopback interface, whatever DNS says.
    name = normalise_host(host)
    return name == "localhost" or name.endswith(".localhost")


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to for TCP (numeric spellings included), in resolver order."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: dict[IPAddress, None] = {}
    for info in infos:
        # An IPv6 sockaddr may carry a zone (`fe80::1%eth0`): the address is what is judged.
        seen.setdefault(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]), None)
    return list(seen)


# --- configuration ------------------------------------------------------------------------------


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RetryPolicy(_Config):
    attempts: int = Field(4, ge=1, le=20, description="HTTP attempts per delivery, the first included.")
    base_s: float = Field(
        0.5, gt=0, description="Seconds before the second attempt; the delay doubles after each."
    )
    cap_s: float = Field(10.0, gt=0, description="Longest delay between two attempts, in seconds.")
    jitter: float = Field(
        0.2, ge=0, le=1, description="Each delay is shortened at random by up to this fraction."
    )


class WebhookFilter(_Config):
    """Both lists empty: everything. Given lists must each match (entities: any one of them)."""

    entities: list[str] = Field(
        default_factory=list, description="Entity ids or names, case-insensitive, e.g. 'place:zürich'."
    )
    event_types: list[EventType] = Field(
        default_factory=list, description="article.published, article.updated, article.withdrawn."
    )

    @field_validator("entities")
    @classmethod
    def _normalise_entities(cls, value: list[str]) -> list[str]:
        out = [v.strip().casefold() for v in value]
        if any(not v for v in out):
            raise ValueError("an entity must not be empty")
        return out

    @field_validator("event_types")
    @classmethod
    def _published_types_only(cls, value: list[EventType]) -> list[EventType]:
        for event_type in value:
            if event_type not in PUBLISHED_EVENT_TYPES:
                allowed = ", ".join(sorted(t.value for t in PUBLISHED_EVENT_TYPES))
                raise ValueError(f"{event_type.value} never reaches webhooks; use one of {allowed}")
        return value


class WebhookSubscriber(_Config):
    name: str = Field(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$",
        description="Lower-case letters, digits, '-' and '_'; names its group and dead-letter stream.",
    )
    url: str = Field(description="http(s) URL every delivery is POSTed to; redirects are not followed.")
    secret_env: str = Field(
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Name of the environment variable holding the signing secret (never the secret).",
    )
    filter: WebhookFilter = Field(default_factory=WebhookFilter)
    timeout_s: float = Field(5.0, gt=0, le=120, description="Timeout of one HTTP attempt, in seconds.")
    max_in_flight: int = Field(8, ge=1, le=256, description="Concurrent requests to this subscriber.")
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    allow_private: list[str] = Field(
        default_factory=list,
        max_length=256,
        description=(
            "Hostnames, addresses or CIDR blocks this subscriber may reach although they are not public "
            "(loopback, private, link-local, ...), e.g. ['10.1.2.0/24', 'hooks.internal']."
        ),
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in value):
            raise ValueError(f"must be an absolute http(s) URL, got {redact_url(value)!r}")
        try:
            httpx.URL(value)
        except httpx.InvalidURL as exc:
            raise ValueError(f"is not a URL an HTTP client can fetch ({exc}): {redact_url(value)!r}") from exc
        return value

    @field_validator("allow_private")
    @classmethod
    def _allow_entries(cls, value: list[str]) -> list[str]:
        for entry in value:
            parse_allow_entry(entry)
        return value

    @model_validator(mode="after")
    def _literal_destination_allowed(self) -> WebhookSubscriber:
        # A literal address (any spelling) or a localhost name is known now: refuse it at load.
        # Other names are checked after DNS resolution, at every attempt.
        host = httpx.URL(self.url).host
        literal = numeric_host(host)
        if literal is None and _is_localhost_name(host):
            literal = ipaddress.IPv4Address("127.0.0.1")
        if literal is not None:
            try:
                self.egress.check(host, [literal])
            except DestinationRefused as exc:
                raise ValueError(str(exc)) from exc
        return self

    @property
    def egress(self) -> EgressPolicy:
        return EgressPolicy.from_entries(self.allow_private)

    @property
    def stage_name(self) -> str:
        return f"{WEBHOOK_GROUP_PREFIX}{self.name}"

    @property
    def group(self) -> str:
        return f"{WEBHOOK_GROUP_PREFIX}{self.name}"

    @property
    def dlq_stream(self) -> str:
        return webhook_dlq_stream(self.name)

    @property
    def followed_key(self) -> str:
        return f"{WEBHOOK_FOLLOWED_PREFIX}{self.name}"


class WebhookConfig(_Config):
    subscribers: list[WebhookSubscriber] = Field(default_factory=list)


def webhook_dlq_stream(name: str) -> str:
    return f"{WEBHOOK_DLQ_PREFIX}{name}"


def load_subscribers(path: Path | str) -> list[WebhookSubscriber]:
    """Subscribers from a YAML or JSON file: a list of subscribers, or `{subscribers: [...]}`."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise WebhookConfigError(f"cannot read webhook config {path}: {exc}") from exc
    try:
        data: Any = yaml.safe_load(text)  # JSON is YAML too
    except yaml.YAMLError as exc:
        raise WebhookConfigError(f"webhook config {path} is not valid YAML/JSON: {exc}") from exc
    if data is None:
        data = {}
    if isinstance(data, list):
        data = {"subscribers": data}
    try:
        config = WebhookConfig.model_validate(data)
    except ValidationError as exc:
        raise WebhookConfigError(f"webhook config {path} is invalid: {exc}") from exc
    names = [s.name for s in config.subscribers]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise WebhookConfigError(f"webhook config {path}: duplicate subscriber names {duplicates}")
    return config.subscribers


class _SecretsFromEnv(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore", frozen=True)


def _secrets_from_environment(names: Sequence[str]) -> dict[str, str]:
    # The variable names come from the config file, so the settings class is built for them.
    fields: dict[str, Any] = {
        f"secret_{i}": (SecretStr | None, Field(None, validation_alias=name)) for i, name in enumerate(names)
    }
    model = create_model("WebhookSecrets", __base__=_SecretsFromEnv, **fields)
    loaded = model()
    out: dict[str, str] = {}
    for i, name in enumerate(names):
        value = getattr(loaded, f"secret_{i}")
        if value is not None:
            out[name] = value.get_secret_value()
    return out


def read_secrets(
    subscribers: Iterable[WebhookSubscriber], env: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Subscriber name -> signing secret, from `env` or else the environment; fails fast on a gap."""
    subs = list(subscribers)
    names = sorted({s.secret_env for s in subs})
    values = {n: env[n] for n in names if n in env} if env is not None else _secrets_from_environment(names)
    secrets: dict[str, str] = {}
    for sub in subs:
        secret = values.get(sub.secret_env)
        if not secret:
            raise WebhookConfigError(
                f"webhook subscriber {sub.name!r}: environment variable {sub.secret_env} is not set"
            )
        if len(secret) < MIN_SECRET_LENGTH:
            raise WebhookConfigError(
                f"webhook subscriber {sub.name!r}: the secret in {sub.secret_env} is shorter than "
                f"{MIN_SECRET_LENGTH} characters"
            )
        secrets[sub.name] = secret
    return secrets


# --- pure functions ----------------------------------------------------------------------------


def _key(secret: str | bytes) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def _digest(secret: str | bytes, body: bytes, timestamp: int) -> str:
    return hmac.new(_key(secret), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str | bytes, body: bytes, timestamp: int) -> str:
    """The `X-Newsflow-Signature` value: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`."""
    return f"t={timestamp},v1={_digest(secret, body, timestamp)}"


def verify(
    secret: str | bytes,
    body: bytes,
    header: str,
    *,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """For receivers: the header signs `body` with `secret`, within `tolerance_s` seconds of now.

    Any of several `v1=` values may match (a sender rotating secrets signs with both).
    """
    timestamp: int | None = None
    candidates: list[str] = []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                return False
        elif key == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        return False
    expected = _digest(secret, body, timestamp).encode()
    # Every candidate is compared (no early exit), each in constant time; as bytes, because
    # compare_digest refuses non-ASCII text and a header is whatever the sender put there.
    matched = [hmac.compare_digest(expected, c.encode("utf-8")) for c in candidates]
    return any(matched)


def backoff_delay(policy: RetryPolicy, retry: int, rand: float) -> float:
    """Seconds to wait before retry `retry` (0 = the second attempt); `rand` is uniform in [0, 1)."""
    delay = min(policy.cap_s, policy.base_s * 2.0**retry)
    return delay * (1.0 - policy.jitter * rand)


def backoff_schedule(policy: RetryPolicy, rand: Callable[[], float] = random.random) -> list[float]:
    """The delays between all attempts of one delivery: `attempts - 1` of them."""
    return [backoff_delay(policy, n, rand()) for n in range(policy.attempts - 1)]


def is_retryable_status(status: int) -> bool:
    return status >= 500 or status == 429


def matches(flt: WebhookFilter, event: PublishedEvent, *, followed: bool = False) -> bool:
    """Whether the subscriber wants `event`; `followed`: an earlier version of it matched."""
    if flt.event_types and event.event_type not in flt.event_types:
        return False
    if not flt.entities or followed:
        return True
    wanted = set(flt.entities)
    return any(
        e.id.casefold() in wanted or e.name.casefold() in wanted for e in event.data.enrichment.entities.all()
    )


def redact_url(url: str) -> str:
    """The URL without credentials, query or fragment (where tokens usually sit), for logs."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _retry_after_s(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    return float(value) if value.isdigit() else None


# --- delivery -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class DeliveryResult:
    delivered: bool
    attempts: int
    status: int | None = None  # of the last response, when there was one
    error: str | None = None  # of the last attempt, when it got no response
    response_excerpt: str | None = None  # start of the last failed response's body
    retry_after_s: float | None = None  # the last response's Retry-After, in seconds
    permanent: bool = False  # an answer retrying cannot change (4xx other than 429, 3xx)
    destination_refused: bool = False  # the URL leads to an address the egress policy forbids
    out_of_time: bool = False  # stopped before the last attempt: the deadline was near

    def describe(self) -> str:
        what = f"HTTP {self.status}" if self.status is not None else (self.error or "no attempt")
        if self.delivered:
            return f"delivered ({what}) after {self.attempts} attempt(s)"
        if self.destination_refused:
            return f"{what}; not retried"
        if self.permanent:
            return f"refused with {what} after {self.attempts} attempt(s); not retried"
        if self.out_of_time:
            return f"stopped after {self.attempts} attempt(s), out of time; last: {what}"
        return f"failed {self.attempts} attempt(s); last: {what}"


Sleep = Callable[[float], Awaitable[None]]
Resolve = Callable[[str, int], Awaitable[list[IPAddress]]]


class Deliverer:
    """Signs and POSTs events to one subscriber, with the retry policy; no Redis involved."""

    def __init__(
        self,
        sub: WebhookSubscriber,
        *,
        secret: str,
        http: httpx.AsyncClient,
        sleep: Sleep = asyncio.sleep,
        rand: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.time,
        resolver: Resolve = resolve,
    ) -> None:
        self.sub = sub
        self._secret = secret
        self._http = http
        self._sleep = sleep
        self._rand = rand
        self._clock = clock
        self._resolve = resolver
        self._egress = sub.egress
        self._url = httpx.URL(sub.url)
        self._port = self._url.port or (443 if self._url.scheme == "https" else 80)
        self._slots = asyncio.Semaphore(sub.max_in_flight)
        self._log = log.bind(subscriber=sub.name, url=redact_url(sub.url))

    async def deliver(
        self, body: bytes, *, event_id: str, event_type: str, deadline: float | None = None
    ) -> DeliveryResult:
        """One attempt series. `deadline` (event-loop time): start no attempt that could end later."""
        loop = asyncio.get_running_loop()
        policy = self.sub.retry
        result = DeliveryResult(delivered=False, attempts=0)
        for n in range(policy.attempts):
            if n > 0:
                delay = backoff_delay(policy, n - 1, self._rand())
                if result.retry_after_s is not None:
                    # Honour the receiver's Retry-After, within our own cap.
                    delay = max(delay, min(policy.cap_s, result.retry_after_s))
                if deadline is not None and loop.time() + delay + self.sub.timeout_s > deadline:
                    return dataclasses.replace(result, out_of_time=True)
                await self._sleep(delay)
            async with self._slots:
                if deadline is not None and loop.time() + self.sub.timeout_s > deadline:
                    return dataclasses.replace(result, out_of_time=True)
                result = await self._attempt(body, event_id, event_type, attempt=n + 1)
            if result.delivered or result.permanent:
                return result
        return result

    async def _attempt(self, body: bytes, event_id: str, event_type: str, *, attempt: int) -> DeliveryResult:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            SIGNATURE_HEADER: sign(self._secret, body, int(self._clock())),
            EVENT_ID_HEADER: event_id,
            EVENT_TYPE_HEADER: event_type,
        }
        host = self._url.host
        try:
            # httpx's timeout bounds each read, not the attempt: a server dripping a byte a second
            # would hold it forever. This bounds the whole attempt, resolution and excerpt included.
            async with asyncio.timeout(self.sub.timeout_s):
                # Resolve and vet here, then connect to the vetted address itself: a name that
                # re-resolves elsewhere between check and connect (DNS rebinding) never gets a say.
                # Host and TLS SNI (so the certificate check) keep the configured name.
                addresses = await self._resolve(host, self._port)
                self._egress.check(host, addresses)
                headers["Host"] = self._url.netloc.decode("ascii")
                async with self._http.stream(
                    "POST",
                    self._url.copy_with(host=str(addresses[0])),
                    content=body,
                    headers=headers,
                    timeout=self.sub.timeout_s,
                    follow_redirects=False,
                    extensions={"sni_hostname": host},
                ) as response:
                    status = response.status_code
                    if 200 <= status < 300:
                        return DeliveryResult(delivered=True, attempts=attempt, status=status)
                    excerpt = await _read_excerpt(response)
                    retry_after = _retry_after_s(response)
        except DestinationRefused as exc:
            self._log.error("webhook destination refused", event_id=event_id, attempt=attempt, error=str(exc))
            return DeliveryResult(
                delivered=False, attempts=attempt, error=str(exc), permanent=True, destination_refused=True
            )
        except TimeoutError:
            error = f"timeout (the attempt took over {self.sub.timeout_s:g} s)"
            self._log.warning("webhook attempt failed", event_id=event_id, attempt=attempt, error=error)
            return DeliveryResult(delivered=False, attempts=attempt, error=error)
        except httpx.TimeoutException as exc:
            error = f"timeout ({type(exc).__name__})"
            self._log.warning("webhook attempt failed", event_id=event_id, attempt=attempt, error=error)
            return DeliveryResult(delivered=False, attempts=attempt, error=error)
        except socket.gaierror as exc:
            # No answer from DNS may be passing; retried like a refused connection.
            error = f"cannot resolve {host}: {exc.strerror or exc}"
            self._log.warning("webhook attempt failed", event_id=event_id, attempt=attempt, error=error)
            return DeliveryResult(delivered=False, attempts=attempt, error=error)
        except httpx.TransportError as exc:
            error = f"{type(exc).__name__}: {exc}".rstrip(": ")
            self._log.warning("webhook attempt failed", event_id=event_id, attempt=attempt, error=error)
            return DeliveryResult(delivered=False, attempts=attempt, error=error)
        self._log.warning(
            "webhook attempt refused", event_id=event_id, attempt=attempt, status=status, response=excerpt
        )
        return DeliveryResult(
            delivered=False,
            attempts=attempt,
            status=status,
            response_excerpt=excerpt or None,
            retry_after_s=retry_after,
            permanent=not is_retryable_status(status),
        )


async def _read_excerpt(response: httpx.Response) -> str:
    # Never read a whole failed response: only its first bytes are useful, and it may be huge.
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_raw():
        chunks.append(chunk)
        size += len(chunk)
        if size >= RESPONSE_EXCERPT_BYTES:
            break
    return b"".join(chunks)[:RESPONSE_EXCERPT_BYTES].decode("utf-8", "replace").strip()


def webhook_dead_letter(
    sub: WebhookSubscriber, delivery: Delivery, result: DeliveryResult, *, code: str, reason: str
) -> dict[str, str]:
    """The main dead-letter layout plus subscriber, url (redacted), status or error, attempts."""
    extra = {"subscriber": sub.name, "url": redact_url(sub.url), "attempts": str(result.attempts)}
    if result.status is not None:
        extra["status"] = str(result.status)
    if result.error is not None:
        extra["error"] = result.error
    if result.response_excerpt:
        extra["response"] = result.response_excerpt
    return dead_letter_fields(stage=sub.stage_name, delivery=delivery, reason=reason, code=code, extra=extra)


def new_http_client() -> httpx.AsyncClient:
    """The client deliveries share: no redirects, no proxy or .netrc taken from the environment."""
    return httpx.AsyncClient(
        follow_redirects=False,
        trust_env=False,
        timeout=httpx.Timeout(10.0),
        limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
    )
