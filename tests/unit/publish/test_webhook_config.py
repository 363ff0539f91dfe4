"""The webhook subscribers file and its secrets: read once, and wrong configuration fails fast."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.publish.webhooks import WebhookConfigError, load_subscribers, read_secrets
from shared.events import EventType

YAML = """
subscribers:
  - name: partner-a
    url: https://hooks.partner-a.example/newsflow
    secret_env: PARTNER_A_SECRET
    filter:
      entities: ["place:zürich", "Anna Müller"]
      event_types: [article.published, article.updated]
    timeout_s: 3
    retry: {attempts: 5, base_s: 1, cap_s: 20, jitter: 0.5}
  - name: archive
    url: http://archive.internal:8080/in
    secret_env: ARCHIVE_SECRET
"""


def write(tmp_path: Path, text: str, name: str = "webhooks.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_subscribers_are_read_from_yaml_with_defaults_filled_in(tmp_path: Path) -> None:
    a, archive = load_subscribers(write(tmp_path, YAML))
    assert a.name == "partner-a"
    assert a.filter.entities == ["place:zürich", "anna müller"]
    assert a.filter.event_types == [EventType.PUBLISHED, EventType.UPDATED]
    assert (a.timeout_s, a.retry.attempts, a.retry.cap_s) == (3.0, 5, 20.0)
    assert (a.group, a.stage_name, a.dlq_stream) == (
        "webhook-partner-a",
        "webhook-partner-a",
        "articles.webhooks.dlq:partner-a",
    )
    assert archive.filter.entities == []
    assert (archive.retry.attempts, archive.max_in_flight) == (4, 8)


def test_a_plain_json_list_is_accepted_too(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[{"name": "p", "url": "https://p.example/h", "secret_env": "P_SECRET"}]',
        "webhooks.json",
    )
    assert [s.name for s in load_subscribers(path)] == ["p"]


def test_an_empty_file_means_no_subscribers(tmp_path: Path) -> None:
    assert load_subscribers(write(tmp_path, "")) == []


@pytest.mark.parametrize(
    ("entry", "complaint"),
    [
        ("{name: p, url: https://p.example, secret: hunter2hunter2hunter2}", "secret_env"),
        ("{name: p, url: https://p.example, secret_env: 'NOT-A-VAR'}", "secret_env"),
        ("{name: p, url: 'file:///etc/passwd', secret_env: S}", "http"),
        ("{name: p, url: '/relative', secret_env: S}", "http"),
        ("{name: 'P A', url: https://p.example, secret_env: S}", "name"),
        ("{name: p, url: https://p.example, secret_env: S, retry: {attempts: 0}}", "attempts"),
        ("{name: p, url: https://p.example, secret_env: S, filter: {entities: ['']}}", "entity"),
    ],
    ids=[
        "inline-secret",
        "bad-env-name",
        "file-url",
        "relative-url",
        "bad-name",
        "no-attempts",
        "empty-entity",
    ],
)
def test_invalid_subscribers_are_refused_with_a_reason(tmp_path: Path, entry: str, complaint: str) -> None:
    with pytest.raises(WebhookConfigError, match=complaint):
        load_subscribers(write(tmp_path, f"subscribers: [{entry}]"))


def test_duplicate_names_are_refused(tmp_path: Path) -> None:
    entry = "{name: p, url: https://p.example, secret_env: S}"
    with pytest.raises(WebhookConfigError, match="duplicate"):
        load_subscribers(write(tmp_path, f"[{entry}, {entry}]"))


def test_a_missing_file_or_bad_yaml_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(WebhookConfigError, match="cannot read"):
        load_subscribers(tmp_path / "nope.yaml")
    with pytest.raises(WebhookConfigError, match="not valid YAML"):
        load_subscribers(write(tmp_path, "subscribers: [unclosed"))


def test_secrets_come_from_the_named_variables(tmp_path: Path) -> None:
    subs = load_subscribers(write(tmp_path, YAML))
    env = {"PARTNER_A_SECRET": "a" * 32, "ARCHIVE_SECRET": "b" * 16, "OTHER": "x"}
    assert read_secrets(subs, env) == {"partner-a": "a" * 32, "archive": "b" * 16}


def test_a_missing_or_short_secret_fails_fast(tmp_path: Path) -> None:
    subs = load_subscribers(write(tmp_path, YAML))
    with pytest.raises(WebhookConfigError, match="ARCHIVE_SECRET is not set"):
        read_secrets(subs, {"PARTNER_A_SECRET": "a" * 32})
    with pytest.raises(WebhookConfigError, match="shorter than 16"):
        read_secrets(subs, {"PARTNER_A_SECRET": "a" * 32, "ARCHIVE_SECRET": "short"})


def test_secrets_are_read_from_the_environment_when_no_mapping_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    subs = load_subscribers(write(tmp_path, YAML))
    monkeypatch.setenv("PARTNER_A_SECRET", "from-the-environment-1")
    monkeypatch.setenv("ARCHIVE_SECRET", "from-the-environment-2")
    assert read_secrets(subs) == {"partner-a": "from-the-environment-1", "archive": "from-the-environment-2"}
    monkeypatch.delenv("ARCHIVE_SECRET")
    monkeypatch.setenv("archive_secret", "wrong-case-is-another-variable")
    with pytest.raises(WebhookConfigError, match="ARCHIVE_SECRET is not set"):
        read_secrets(subs)
