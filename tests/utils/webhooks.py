"""Builders for webhook tests: published events, subscribers, and a real HTTP receiver.

Plain functions and classes; import them, never from a conftest.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from services.publish.webhooks import (
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    IPAddress,
    Resolve,
    WebhookSubscriber,
    verify,
)
from shared.events import (
    Enrichment,
    Entities,
    Entity,
    EntityType,
    EventType,
    PublishedArticle,
    PublishedEvent,
    PubStatus,
)

SECRET = "s3cret-for-tests-0123456789"
PUBLISHED_AT = datetime(2025, 6, 10, 12, 0, tzinfo=UTC)


def entity(name: str, entity_type: EntityType = EntityType.PLACE) -> Entity:
    return Entity(
        id=f"{entity_type.value}:{name.lower().replace(' ', '-')}",
        name=name,
        type=entity_type,
        count=1,
        salience=0.5,
    )


def published_event(
    article_id: str = "cms-1",
    *,
    version: int = 1,
    event_type: EventType = EventType.PUBLISHED,
    places: tuple[str, ...] = (),
    people: tuple[str, ...] = (),
) -> PublishedEvent:
    withdrawn = event_type is EventType.WITHDRAWN
    entities = Entities(
        places=[entity(p) for p in places],
        people=[entity(p, EntityType.PERSON) for p in people],
    )
    return PublishedEvent(
        event_type=event_type,
        article_id=article_id,
        article_version=version,
        correlation_id=f"corr-{article_id}",
        data=PublishedArticle(
            article_id=article_id,
            version=version,
            pubstatus=PubStatus.WITHDRAWN if withdrawn else PubStatus.USABLE,
            title=f"Headline of {article_id} ünïcode",
            ninjs={"uri": f"https://news.example.org/articles/{article_id}", "version": str(version)},
            enrichment=Enrichment(entities=entities, related=[], tagger="test"),
            published_at=PUBLISHED_AT,
        ),
    )


def subscriber(
    name: str = "partner", url: str = "http://127.0.0.1:9/hook", **overrides: Any
) -> WebhookSubscriber:
    fields: dict[str, Any] = {
        "name": name,
        "url": url,
        "secret_env": "PARTNER_SECRET",
        "retry": {"attempts": 3, "base_s": 0.01, "cap_s": 0.02, "jitter": 0.0},
        "timeout_s": 2.0,
        # Receivers listen on loopback, which a subscriber may reach only when allow-listed.
        "allow_private": ["127.0.0.1"],
    }
    fields.update(overrides)
    return WebhookSubscriber.model_validate(fields)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    signature_valid: bool


# (attempt number for this event id, starting at 1) -> (status, seconds to wait before answering)
Plan = Callable[[int], tuple[int, float]]


def always(status: int) -> Plan:
    return lambda _attempt: (status, 0.0)


def fail_first(times: int, status: int = 503) -> Plan:
    return lambda attempt: (status if attempt <= times else 200, 0.0)


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1 that verifies signatures and answers as `plan` says."""

    plan: Plan = field(default_factory=lambda: always(200))
    secret: str = SECRET
    received: list[Received] = field(default_factory=list)
    attempts: dict[str, int] = field(default_factory=dict)
    port: int = 0
    tls: tuple[Path, Path] | None = None  # (certificate, key) files: serve HTTPS
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None
    _sock: socket.socket | None = None

    @property
    def url(self) -> str:
        return self.url_for("127.0.0.1")

    def url_for(self, host: str) -> str:
        """The hook's URL under another name for 127.0.0.1 (which a test resolver must supply)."""
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}/hook"

    def for_event(self, event_id: str) -> list[Received]:
        return [r for r in self.received if r.headers.get(EVENT_ID_HEADER.lower()) == event_id]

    async def _hook(self, request: Request) -> PlainTextResponse:
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        valid = verify(self.secret, body, headers.get(SIGNATURE_HEADER.lower(), ""))
        self.received.append(Received(request.url.path, headers, body, valid))
        event_id = headers.get(EVENT_ID_HEADER.lower(), "")
        self.attempts[event_id] = self.attempts.get(event_id, 0) + 1
        status, wait_s = self.plan(self.attempts[event_id])
        if wait_s:
            await asyncio.sleep(wait_s)
        return PlainTextResponse(f"answer {status}", status_code=status)

    async def __aenter__(self) -> Receiver:
        self._sock = sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        app = Starlette(routes=[Route("/{path:path}", self._hook, methods=["POST"])])
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            ws="none",
            timeout_graceful_shutdown=1,
            ssl_certfile=self.tls[0] if self.tls else None,
            ssl_keyfile=self.tls[1] if self.tls else None,
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:  # noqa: ASYNC110 (uvicorn has no start event to wait on)
            await asyncio.sleep(0.005)
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        assert self._task is not None
        self._server.should_exit = True
        await self._task
        if self._sock is not None:
            self._sock.close()


def fixed_resolver(answers: dict[str, list[str]]) -> Resolve:
    """A stand-in for DNS: each name resolves to the given addresses, any other name fails."""

    async def resolve(host: str, _port: int) -> list[IPAddress]:
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [ipaddress.ip_address(a) for a in answers[host]]

    return resolve


def self_signed_certificate(directory: Path, hostname: str) -> tuple[Path, Path]:
    """(certificate, key) files for `hostname`, made by the openssl command line tool."""
    cert, key = directory / f"{hostname}.crt", directory / f"{hostname}.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            f"/CN={hostname}",
            "-addext",
            f"subjectAltName=DNS:{hostname}",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key
