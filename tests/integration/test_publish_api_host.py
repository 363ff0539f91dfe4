"""The read API names itself from the public base URL, never from the Host header a client sent."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import httpx
import pytest
import redis.asyncio as aioredis
from starlette.applications import Starlette

from services.publish.api import make_routes
from services.publish.settings import PublishSettings
from shared.runtime.http import HttpContext
from shared.runtime.metrics import ServiceMetrics

pytestmark = [pytest.mark.integration, pytest.mark.timeout(20)]

ATOM = "{http://www.w3.org/2005/Atom}"
BASE_URL = "https://news.example.org"


async def test_atom_self_link_comes_from_the_public_base_url_whatever_the_host_header(
    redis_client: aioredis.Redis,
) -> None:
    ctx = HttpContext(service="publish", client=redis_client, metrics=ServiceMetrics("publish"), groups=[])
    app = Starlette(routes=make_routes(ctx, PublishSettings(public_base_url=BASE_URL)))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://evil.example") as http:
        response = await http.get(
            "/v1/feed.atom", params={"entity": "tehran"}, headers={"Host": "evil.example:666"}
        )

    assert response.status_code == 200
    feed = ET.fromstring(response.content)
    links = {link.get("rel"): link.get("href") for link in feed.iter(f"{ATOM}link")}
    assert links == {"self": f"{BASE_URL}/v1/feed.atom?entity=tehran", "alternate": BASE_URL}
    assert b"evil.example" not in response.content
