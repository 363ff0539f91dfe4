"""Hostile and oversized input, black-box over HTTP against `newsflow run ingest` on a real Redis."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import orjson
import psutil
import pytest
import redis
import redis.exceptions

from newsflow.harness import NEWSFLOW_BIN
from newsflow.redis_server import RedisServer
from shared import streams
from shared.wire import text_fields
from tests.utils.bad_inputs import article_json
from tests.utils.chaos import ServiceProcess
from tests.utils.services import running

pytestmark = pytest.mark.integration

StreamEntry = tuple[bytes, dict[bytes, bytes]]

JSON = {"Content-Type": "application/json"}
MB = 2**20


@pytest.fixture
def ingest(redis_url: str, tmp_path: Path) -> Iterator[tuple[ServiceProcess, str]]:
    redis.Redis.from_url(redis_url).flushdb()
    with running("ingest", redis_url, tmp_path, NEWSFLOW_INGEST_HTML_TIME_LIMIT_S="3") as started:
        yield started


class PeakRss:
    """Samples a process's resident memory every 5 ms while in the `with` block."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.baseline = self.process.memory_info().rss
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.005)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)

    @property
    def growth(self) -> int:
        return self.peak - self.baseline


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"[" + b"0," * (512 * 1024 - 1) + b"0]", "application/json"),
        (b"0\n" * (512 * 1024), "application/x-ndjson"),
    ],
    ids=["json-array", "ndjson"],
)
def test_batch_of_half_a_million_tiny_items_is_refused_without_growing_ingest_memory(
    ingest: tuple[ServiceProcess, str], body: bytes, content_type: str
) -> None:
    proc, base = ingest
    assert proc.pid is not None
    # A first batch warms the code paths, so the baseline holds what every request needs.
    httpx.post(f"{base}/v1/articles:batch", content=b"[" + article_json() + b"]", headers=JSON, timeout=30)
    with PeakRss(proc.pid) as rss:
        response = httpx.post(
            f"{base}/v1/articles:batch", content=body, headers={"Content-Type": content_type}, timeout=60
        )

    assert response.status_code == 413, response.text
    assert response.json()["code"] == "too_many_items"
    assert response.json()["max_items"] == 1000
    print(f"\n{content_type}: {len(body)} bytes, ingest peak RSS growth {rss.growth / MB:.1f} MiB")
    assert rss.growth < 64 * MB


@pytest.mark.timeout(120)
def test_health_answers_within_a_second_while_a_hostile_html_page_is_worked_on_then_it_is_too_complex(
    ingest: tuple[ServiceProcess, str], redis_url: str
) -> None:
    _, base = ingest
    page = b"<html><body>" + b"<p>x " * (1_990_000 // 5) + b"</body></html>"  # just under 2 MB
    answer: list[httpx.Response] = []

    def post() -> None:
        answer.append(
            httpx.post(f"{base}/v1/articles", content=page, headers={"Content-Type": "text/html"}, timeout=60)
        )

    poster = threading.Thread(target=post)
    started = time.monotonic()
    poster.start()
    health_s: list[float] = []
    with httpx.Client(base_url=base, timeout=5) as http:
        while poster.is_alive():
            t0 = time.monotonic()
            assert http.get("/healthz").status_code == 200
            health_s.append(time.monotonic() - t0)
            time.sleep(0.1)
    poster.join()
    took = time.monotonic() - started

    print(f"\nhtml page: answered in {took:.1f} s; slowest /healthz {max(health_s):.3f} s of {len(health_s)}")
    assert max(health_s) < 1.0
    [response] = answer
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "too_complex"
    assert took < 20
    # The worker that ran out of time was replaced: a normal page is extracted afterwards.
    normal = (
        b"<html><head><title>Harbour approves ferry terminal</title></head><body><article>"
        b"<h1>Harbour approves ferry terminal</h1><p>The harbour authority approved plans for a new "
        b"ferry terminal on Tuesday after a long debate in the council.</p><p>Construction is expected "
        b"to start next spring and to last two years, the authority said.</p></article></body></html>"
    )
    ok = httpx.post(f"{base}/v1/articles", content=normal, headers={"Content-Type": "text/html"}, timeout=60)
    assert ok.status_code == 202, ok.text


def test_article_with_a_670000_character_body_is_rejected_as_body_too_long(
    ingest: tuple[ServiceProcess, str], redis_url: str
) -> None:
    _, base = ingest
    body = ("The harbour authority approved plans for a new ferry terminal. " * 11_000)[:670_000]
    response = httpx.post(f"{base}/v1/articles", content=article_json(body=body), headers=JSON, timeout=30)

    assert response.status_code == 422, response.text
    assert response.json()["code"] == "body_too_long"
    client = redis.Redis.from_url(redis_url)
    assert client.xlen(streams.RAW) == 0
    [(_, fields)] = cast(list[StreamEntry], client.xrange(streams.DLQ))
    assert text_fields(fields)["code"] == "body_too_long"


def test_batch_item_nested_too_deeply_is_answered_422(ingest: tuple[ServiceProcess, str]) -> None:
    _, base = ingest
    for depth in (255, 600, 1023):
        body = b"[" + b"[" * depth + b"]" * depth + b"]"
        response = httpx.post(f"{base}/v1/articles:batch", content=body, headers=JSON, timeout=30)
        assert response.status_code == 422, (depth, response.text)
        assert response.json()["code"] in {"too_deep", "unparseable_json"}
    item = orjson.loads(article_json())
    assert httpx.post(f"{base}/v1/articles:batch", json=[item], timeout=30).status_code == 202


@pytest.mark.timeout(240)
def test_junk_floods_a_small_redis_without_500s_and_a_full_redis_answers_503_with_retry_after(
    tmp_path: Path,
) -> None:
    with RedisServer(extra_args=("--maxmemory", "64mb", "--maxmemory-policy", "noeviction")) as server:
        client = redis.Redis.from_url(server.url)
        with (
            running("ingest", server.url, tmp_path) as (_, base),
            httpx.Client(base_url=base, timeout=60) as http,
        ):
            junk = b"\x01" * 1_900_000
            statuses = [
                http.post("/v1/articles", content=junk, headers={"Content-Type": "text/plain"}).status_code
                for _ in range(40)
            ]
            assert all(400 <= s < 500 for s in statuses), statuses
            letters = [text_fields(f) for _, f in cast(list[StreamEntry], client.xrange(streams.DLQ))]
            assert len(letters) == 40
            largest = max(len(v.encode()) for letter in letters for v in letter.values())
            print(f"\n40 junk requests: {sorted(set(statuses))}; largest DLQ field {largest} bytes")
            assert largest <= 128 * 1024

            # A full Redis, then a valid article: 503 and Retry-After, never 500. (Filling to the
            # byte is racy: freed query buffers make room again; a limit under the use is not.)
            client.config_set("maxmemory", "1mb")
            with pytest.raises(redis.exceptions.OutOfMemoryError):
                client.set("probe", b"x")
            full = http.post("/v1/articles", content=article_json(), headers=JSON)
            assert full.status_code == 503, full.text
            assert full.headers["Retry-After"] == "1"
            assert full.json()["code"] == "redis_full"
            client.config_set("maxmemory", "64mb")
            again = http.post("/v1/articles", content=article_json(), headers=JSON)
            assert again.status_code == 202, again.text


@pytest.mark.parametrize("service", ["ingest", "publish"])
def test_run_without_api_tokens_refuses_to_start_and_says_why(service: str, redis_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSFLOW_", "REDIS_"))}
    env["REDIS_URL"] = redis_url
    done = subprocess.run(
        [str(NEWSFLOW_BIN), "run", service, "--http-port", "0"],
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 2
    message = done.stderr.decode()
    assert "refusing to start" in message
    assert f"NEWSFLOW_{service.upper()}_API_TOKENS" in message
    assert "NEWSFLOW_ALLOW_ANONYMOUS=true" in message


def test_a_token_bound_to_source_b_cannot_withdraw_source_a_articles(redis_url: str, tmp_path: Path) -> None:
    redis.Redis.from_url(redis_url).flushdb()
    tokens = "tok-a:wire-a,tok-b:wire-b|wire-c,tok-any"
    with running("ingest", redis_url, tmp_path, NEWSFLOW_INGEST_API_TOKENS=tokens) as (_, base):

        def post(token: str, **fields: Any) -> httpx.Response:
            return httpx.post(
                f"{base}/v1/articles",
                content=article_json(**fields),
                headers={**JSON, "Authorization": f"Bearer {token}"},
                timeout=30,
            )

        assert post("tok-a", source="wire-a", id="a-1").status_code == 202
        withdrawal = {"source": "wire-a", "id": "a-1", "action": "withdraw", "reason": "legal"}
        forbidden = post("tok-b", **withdrawal)
        assert forbidden.status_code == 403, forbidden.text
        assert forbidden.json()["code"] == "source_forbidden"
        assert post("tok-b", source="wire-a", id="a-2").status_code == 403  # nor write
        client = redis.Redis.from_url(redis_url)
        assert client.xlen(streams.RAW) == 1  # nothing of B's attempts was stored
        batch = httpx.post(
            f"{base}/v1/articles:batch",
            content=b"["
            + article_json(source="wire-a", id="a-3")
            + b","
            + article_json(source="wire-c", id="c-1")
            + b"]",
            headers={**JSON, "Authorization": "Bearer tok-b"},
            timeout=30,
        )
        assert batch.status_code == 207, batch.text
        assert [r["status"] for r in batch.json()["results"]] == ["rejected", "accepted"]
        assert post("tok-a", **withdrawal).status_code == 202
        assert post("tok-any", source="anything", id="x-1").status_code == 202
        # Without an id, an article's id comes from its URL, whatever the source: B naming its own
        # source and A's URL still may not write or withdraw A's article.
        url = "https://news.example/a/by-url"
        assert post("tok-a", source="wire-a", id=..., url=url).status_code == 202
        for attempt in ({"title": "Rewritten"}, {"action": "withdraw", "reason": "legal"}):
            taken = post("tok-b", source="wire-b", id=..., url=url, **attempt)
            assert taken.status_code == 403, taken.text
            assert "which is an article of source 'wire-a'" in taken.json()["detail"]
        assert client.xlen(streams.RAW) == 5


@pytest.mark.timeout(120)
def test_spoofed_forwarded_for_gets_a_fresh_bucket_only_through_a_trusted_proxy(
    redis_url: str, tmp_path: Path
) -> None:
    redis.Redis.from_url(redis_url).flushdb()
    with running(
        "ingest",
        redis_url,
        tmp_path,
        NEWSFLOW_INGEST_RATE_LIMIT_PER_S="3",
        NEWSFLOW_INGEST_TRUSTED_PROXIES="127.0.0.2",
    ) as (_, base):
        port = base.rsplit(":", 1)[1]

        def statuses(local_address: str) -> list[int]:
            # Six requests, each claiming another client; 415 is the cheap answer past the guard.
            transport = httpx.HTTPTransport(local_address=local_address)
            with httpx.Client(transport=transport, base_url=f"http://{local_address}:{port}") as http:
                return [
                    http.post(
                        "/v1/articles", content=b"x", headers={"X-Forwarded-For": f"203.0.113.{i}"}
                    ).status_code
                    for i in range(6)
                ]

        # Loopback is not trusted by default (uvicorn's own proxy handling would trust it): from
        # 127.0.0.1 the header is ignored, one bucket; 127.0.0.2 is the configured proxy.
        untrusted = statuses("127.0.0.1")
        trusted = statuses("127.0.0.2")

    assert untrusted.count(429) >= 2, untrusted
    assert trusted == [415] * 6, trusted
