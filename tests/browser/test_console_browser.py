"""The newsroom console in headless Chromium (Debian's package) against a real pipeline and redis-server.

Skipped, with the reason, when /usr/bin/chromium is absent: `make test-browser` installs it.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from newsflow.pipeline import push_file, run_pipeline, wait_settled
from newsflow.redis_server import free_port
from shared import streams
from tests.utils.paths import REPO, SEED

CHROMIUM = Path("/usr/bin/chromium")
# `make test-browser` sets this to docs/screenshots (what the README shows); other runs keep their
# screenshots in the test's temporary directory, so `make test` leaves the work tree clean.
SCREENSHOTS_ENV = "NEWSFLOW_TEST_SCREENSHOTS"
READER_TOKEN = "reader-token-for-tests"
EDITOR_TOKEN = "editor-token-for-tests"
# Launch flags for this machine's closed network (no background fetches, no GPU, root sandbox off).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.integration,
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="browser test skipped: /usr/bin/chromium is not installed (run `make test-browser`)",
    ),
]

playwright_api = pytest.importorskip("playwright.async_api")


async def _dlq_ids(client: aioredis.Redis) -> list[str]:
    return [entry_id.decode() for entry_id, _ in await client.xrange(streams.DLQ)]


async def _wait_for_dead_letter(client: aioredis.Redis, timeout_s: float = 30.0) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ids = await _dlq_ids(client)
        if ids:
            return ids[-1]
        await asyncio.sleep(0.1)
    raise TimeoutError("no dead letter appeared")


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[object]:
    async with playwright_api.async_playwright() as pw:
        context = await pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),  # a fresh profile per test
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield context
        finally:
            await context.close()


@pytest.mark.timeout(300)
async def test_console_shows_a_published_article_live_marks_its_entities_and_replays_a_dead_letter(
    redis_client: aioredis.Redis,
    redis_url: str,
    browser: object,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    screenshots = Path(os.environ.get(SCREENSHOTS_ENV) or tmp_path / "screenshots")
    if not screenshots.is_absolute():
        screenshots = REPO / screenshots
    monkeypatch.setenv("NEWSFLOW_PUBLISH_API_TOKENS", READER_TOKEN)
    monkeypatch.setenv("NEWSFLOW_PUBLISH_EDITOR_TOKENS", EDITOR_TOKEN)
    screenshots.mkdir(parents=True, exist_ok=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    context = browser
    async with run_pipeline(redis_url, http_ports={"publish": port}):
        page = await context.new_page()  # type: ignore[attr-defined]
        expect = playwright_api.expect

        # Reading needs a token: the console asks for one and keeps it in an HttpOnly cookie.
        await page.goto(f"{base}/console/")
        await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        await page.get_by_label("API token").fill(EDITOR_TOKEN)
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_role("heading", name="Live feed")).to_be_visible()
        cookies = await context.cookies()  # type: ignore[attr-defined]
        (session,) = [c for c in cookies if c["name"] == "newsflow_console"]
        assert session["httpOnly"] is True
        assert session["sameSite"] == "Strict"

        # The live feed is connected before the article is pushed, so only SSE can bring it.
        await expect(page.locator("#feed")).to_have_attribute("data-live", "open", timeout=10_000)
        await page.evaluate("window.__notReloaded = true")
        (pushed,) = await push_file(redis_client, SEED, source="browser")
        settled = await wait_settled(redis_client, [pushed.correlation_id], timeout_s=90)
        event = settled[pushed.correlation_id].published
        assert event is not None, settled[pushed.correlation_id].dead_letter
        item = page.locator(f'#feed article[data-article-id="{event.article_id}"]')
        await expect(item).to_be_visible(timeout=15_000)
        assert await page.evaluate("window.__notReloaded === true")
        await expect(item.get_by_role("link", name=event.data.title)).to_be_visible()
        await expect(item.locator(".chip-place", has_text="Tehran")).to_be_visible()
        await page.screenshot(path=str(screenshots / "console-feed.png"), full_page=False)

        # The article page marks every mention by type.
        await item.get_by_role("link", name=event.data.title).click()
        await expect(page.locator("h1")).to_have_text(event.data.title)
        tehran = page.locator('mark[data-entity-type="place"]', has_text="Tehran").first
        shoygu = page.locator('mark[data-entity-type="person"]', has_text="Sergey Shoygu").first
        await expect(tehran).to_be_visible()
        await expect(shoygu).to_be_visible()
        tehran_id = await tehran.get_attribute("data-entity-id")
        assert tehran_id
        await expect(page.get_by_role("heading", name="Version history")).to_be_visible()
        await page.screenshot(path=str(screenshots / "console-article.png"), full_page=False)

        # Tehran leads to its registry card.
        await tehran.click()
        await page.wait_for_url(f"**/console/entities/{tehran_id}")
        await expect(page.locator("h1")).to_contain_text("Tehran")
        await expect(page.get_by_role("button", name="Merge")).to_be_visible()
        await page.screenshot(path=str(screenshots / "console-entity.png"), full_page=True)

        # Bad input makes a dead letter; the health page replays it and it leaves the DLQ.
        await redis_client.xadd(
            streams.INBOUND,
            {
                streams.INBOUND_PAYLOAD: "{this is not json",
                streams.INBOUND_CONTENT_TYPE: "application/json",
                streams.INBOUND_SOURCE: "browser-test",
            },
        )
        dead_id = await _wait_for_dead_letter(redis_client)
        await page.goto(f"{base}/console/health")
        row = page.locator(f'tr[data-dlq-id="{dead_id}"]')
        await expect(row).to_be_visible()
        await page.screenshot(path=str(screenshots / "console-health.png"), full_page=True)
        await row.get_by_role("button", name=f"Replay {dead_id}").click()
        await expect(page.locator(".notice")).to_contain_text(f"replayed {dead_id}")
        await expect(page.locator(f'tr[data-dlq-id="{dead_id}"]')).to_have_count(0)
        assert dead_id not in await _dlq_ids(redis_client)
        await page.close()
