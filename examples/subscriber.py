"""A newsflow subscriber to copy: plain redis-py, no newsflow code.

It reads `articles.published` through its own consumer group (created from the start of the
stream, so it sees the backlog too), handles each event, and acknowledges it only afterwards: if
it crashes, the unacknowledged events are delivered again on restart (it re-reads its own pending
entries first). Handle events idempotently: key on `article_id` + `article_version`.

    pip install redis
    REDIS_URL=redis://127.0.0.1:6379/0 python examples/subscriber.py my-website
"""

from __future__ import annotations

import json
import os
import socket
import sys
from typing import Any

import redis

STREAM = "articles.published"


def handle(event: dict[str, Any]) -> None:
    """Your code: store, index, render... Here: print the headline and the people."""
    article = event["data"]
    people = ", ".join(p["name"] for p in article["enrichment"]["entities"]["people"])
    print(f"{event['event_type']:<18} v{event['article_version']}  {article['title']}  [{people}]")


def main(group: str) -> None:
    client = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    consumer = f"{socket.gethostname()}-{os.getpid()}"
    try:
        client.xgroup_create(STREAM, group, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise
    # "0" first: our own pending entries from a previous run; then ">" for new ones.
    cursor = "0"
    while True:
        reply: Any = client.xreadgroup(group, consumer, {STREAM: cursor}, count=100, block=5_000)
        entries = reply[0][1] if reply else []
        if cursor == "0" and not entries:
            cursor = ">"
            continue
        for entry_id, fields in entries:
            # Every field is a plain string; `event` holds the whole event as JSON.
            handle(json.loads(fields[b"event"]))
            client.xack(STREAM, group, entry_id)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "example-subscriber")
