"""The HTTP side every service shares: liveness, readiness, metrics, bearer tokens, size and rate limits."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from shared.logging import get_logger
from shared.runtime.consumer import Retention
from shared.runtime.metrics import ServiceMetrics
from shared.settings import Network

log = get_logger(__name__)

READY_PING_TIMEOUT_S = 1.0
# Clients remembered by the rate limit before idle ones are forgotten (about 100 bytes each).
MAX_BUCKETS = 10_000
PROBLEM_JSON = "application/problem+json"


def problem(status: int, title: str, detail: str, **extra: object) -> JSONResponse:
    """An RFC 9457 problem+json response."""
    body: dict[str, object] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
    }
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


@dataclass(frozen=True, slots=True)
class Body:
    """What `read_body` read: the whole body, or its first bytes when it ran over the limit."""

    data: bytes
    over: bool


async def read_body(request: Request, limit: int) -> Body:
    """The request body, reading no more than about `limit` bytes: past it, reading stops (the rest
    is never buffered) and `over` is set. One request cannot make a service hold more."""
    chunks: list[bytes] = []
    size = 0
    async with aclosing(request.stream()) as stream:
        async for chunk in stream:
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                return Body(b"".join(chunks), over=True)
    return Body(b"".join(chunks), over=False)


@dataclass
class HttpContext:
    service: str
    client: aioredis.Redis
    metrics: ServiceMetrics
    groups: Sequence[tuple[str, str]]
    tokens: frozenset[str] = frozenset()
    # Token -> the sources it may write (None: any); tokens not listed here may write any.
    scopes: Mapping[str, frozenset[str] | None] = field(default_factory=dict)
    rate_limit_per_s: float = 0.0
    # The service's stream retention, for routes that write streams themselves (ingest's API).
    retention: Mapping[str, Retention] = field(default_factory=dict)
    # Peers whose X-Forwarded-For is believed (reverse proxies, load balancers); empty: nobody's.
    trusted_proxies: Sequence[Network] = ()
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def client_address(self, request: Request) -> str:
        """The client's address for the rate limit and logs: the TCP peer, or, when the peer is a
        trusted proxy, the nearest X-Forwarded-For hop that is not one (the hops a proxy appends are
        the only ones it vouches for; anything further left was written by the client)."""
        peer = request.client.host if request.client else "unknown"
        if not self.trusted_proxies or not _within(peer, self.trusted_proxies):
            return peer
        headers = request.headers.getlist("x-forwarded-for")
        hops = [hop.strip() for value in headers for hop in value.split(",")]
        client = peer
        for hop in reversed(hops):
            if _address(hop) is None:
                break  # a malformed hop: nothing to its left can be vouched for
            client = hop
            if not _within(hop, self.trusted_proxies):
                break
        return client

    def authorised(self, request: Request) -> bool:
        if not self.tokens:
            return True
        return self.bearer(request) is not None

    def bearer(self, request: Request) -> str | None:
        """The known token the request carries, compared in constant time; None if none."""
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        for known in self.tokens:
            if hmac.compare_digest(token.encode(), known.encode()):
                return known
        return None

    def sources_of(self, request: Request) -> frozenset[str] | None:
        """The sources the request's token may write; None means any (or no tokens at all)."""
        token = self.bearer(request)
        return self.scopes.get(token) if token is not None else None

    def allow(self, request: Request) -> bool:
        """Token bucket per client address; capacity is one second's worth of requests."""
        if self.rate_limit_per_s <= 0:
            return True
        key = self.client_address(request)
        now = time.monotonic()
        if len(self._buckets) >= MAX_BUCKETS and key not in self._buckets:
            self._prune(now)
        tokens, last = self._buckets.get(key, (self.rate_limit_per_s, now))
        tokens = min(self.rate_limit_per_s, tokens + (now - last) * self.rate_limit_per_s)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            return False
        self._buckets[key] = (tokens - 1, now)
        return True

    def _prune(self, now: float) -> None:
        """Forget clients whose bucket has refilled (idle a second or more): they start full
        anyway. If every client is active, the oldest half goes."""
        idle = [k for k, (_, last) in self._buckets.items() if now - last >= 1.0]
        for key in idle:
            del self._buckets[key]
        if len(self._buckets) >= MAX_BUCKETS:
            by_age = sorted(self._buckets, key=lambda k: self._buckets[k][1])
            for key in by_age[: len(by_age) // 2]:
                del self._buckets[key]


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _within(host: str, networks: Sequence[Network]) -> bool:
    address = _address(host)
    if address is None:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # a dual-stack listener shows IPv4 peers as ::ffff:a.b.c.d
    return any(address in network for network in networks)


Handler = Callable[[Request], Awaitable[Response]]


def guarded(ctx: HttpContext, handler: Handler) -> Handler:
    """Bearer token (when configured) and rate limit in front of a public endpoint."""

    async def wrapper(request: Request) -> Response:
        # The limit first: guessing tokens costs a request like any other.
        if not ctx.allow(request):
            # debug: a flood must not become a flood of log lines too
            log.debug("http rate limited", client=ctx.client_address(request), path=request.url.path)
            limited = problem(429, "Too Many Requests", "rate limit exceeded; retry shortly")
            limited.headers["Retry-After"] = "1"
            return limited
        if not ctx.authorised(request):
            log.info("http unauthorised", client=ctx.client_address(request), path=request.url.path)
            response = problem(401, "Unauthorized", "a valid bearer token is required")
            response.headers["WWW-Authenticate"] = 'Bearer realm="newsflow"'
            return response
        return await handler(request)

    return wrapper


def health_routes(ctx: HttpContext) -> list[BaseRoute]:
    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok", "service": ctx.service})

    async def readyz(_: Request) -> Response:
        try:
            await asyncio.wait_for(ctx.client.ping(), timeout=READY_PING_TIMEOUT_S)  # type: ignore[arg-type]
        except Exception as exc:
            return JSONResponse(
                {"status": "unavailable", "service": ctx.service, "redis": type(exc).__name__},
                status_code=503,
            )
        return JSONResponse({"status": "ready", "service": ctx.service, "redis": "ok"})

    async def metrics(_: Request) -> Response:
        # Still serve the counters when Redis is away; the gauges keep their last values.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(
                ctx.metrics.refresh_stream_gauges(ctx.client, ctx.groups),
                timeout=READY_PING_TIMEOUT_S,
            )
        return PlainTextResponse(ctx.metrics.render(), media_type="text/plain; version=0.0.4")

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]


def build_http_app(ctx: HttpContext, routes: Sequence[BaseRoute] = ()) -> Starlette:
    return Starlette(routes=[*health_routes(ctx), *routes])
