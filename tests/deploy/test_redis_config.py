"""deploy/redis: the ACL users have exactly their keys and commands; the config keeps the AOF.

Loading these files into a real redis-server is an integration test elsewhere; these read them.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy import checks

REDIS = checks.DEPLOY / "redis"


def acl() -> dict[str, checks.AclUser]:
    return checks.parse_acl((REDIS / "users.acl").read_text())


def test_acl_gives_each_user_exactly_its_keys_and_commands() -> None:
    assert checks.acl_problems(acl()) == []


def test_default_user_is_a_password_only_admin() -> None:
    default = acl()["default"]
    assert default.enabled
    assert default.keys == {("RW", "*")}
    assert default.allowed == ["@all"]


def test_acl_holds_the_documented_placeholder_dev_passwords() -> None:
    readme = (checks.DEPLOY / "README.md").read_text()
    for user in acl().values():
        placeholder = f"{user.name}-dev-password"
        assert hashlib.sha256(placeholder.encode()).hexdigest() == user.password_hashes[0]
        assert placeholder in readme


@pytest.mark.parametrize(
    ("user", "rule"),
    [
        ("ingest", "~newsflow:*"),  # reaches publish's ledger
        ("enrich", "%R~articles.published"),  # reads a stream it has no business with
        ("publish", "+flushall"),  # a keyless admin command
        ("keda", "+xadd"),  # KEDA only reads
        ("ingest", ">plaintext"),  # a password in clear
    ],
)
def test_acl_check_catches_a_widened_user(user: str, rule: str) -> None:
    lines = [
        line + f" {rule}" if line.startswith(f"user {user} ") else line
        for line in (REDIS / "users.acl").read_text().splitlines()
    ]
    assert checks.acl_problems(checks.parse_acl("\n".join(lines)))


def test_acl_parser_rejects_comments_which_redis_refuses() -> None:
    with pytest.raises(ValueError, match="no comments"):
        checks.parse_acl("# users\nuser default on nopass ~* +@all\n")


def test_each_services_keys_fall_in_its_own_users_patterns_only() -> None:
    users = acl()
    for owner, keys in checks.owned_keys().items():
        for key, access in keys.items():
            for user in ("ingest", "enrich", "publish", "keda"):
                matches = {mode for mode, pattern in users[user].keys if fnmatch.fnmatchcase(key, pattern)}
                assert matches == ({access} if user == owner else set()), (key, user)


def test_key_check_catches_a_pattern_that_reaches_another_services_keys() -> None:
    users = acl()
    users["ingest"].keys.add(("RW", "newsflow:*"))
    assert checks.acl_problems(users)


def test_redis_conf_keeps_an_fsynced_append_only_file() -> None:
    conf = checks.redis_conf()
    assert conf["appendonly"] == "yes"
    assert conf["appendfsync"] == "everysec"
    assert conf["maxmemory-policy"] == "noeviction"
    assert conf["aclfile"] == "/run/redis/users.acl"
    assert conf["dir"] == "/data"
    text = (REDIS / "redis.conf").read_text()
    # The trade-off of each fsync policy is written down next to the choice.
    assert "#   always:" in text
    assert "#   everysec (chosen):" in text


@pytest.mark.skipif(shutil.which("sh") is None, reason="no POSIX shell")
def test_render_acl_hashes_passwords_from_the_environment_and_disables_the_rest(
    tmp_path: Path,
) -> None:
    target = tmp_path / "users.acl"
    marker = tmp_path / "started"
    passwords = {"default": "a", "ingest": "b", "enrich": "c", "publish": "d"}
    env = {"PATH": os.environ["PATH"], "REDIS_PASSWORD": passwords["default"]}
    env |= {f"REDIS_{u.upper()}_PASSWORD": p for u, p in passwords.items() if u != "default"}
    result = subprocess.run(
        ["sh", str(REDIS / "render-acl.sh"), str(REDIS / "users.acl"), str(target), "touch", str(marker)],
        env=env,
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert marker.exists()  # the command after the two paths ran
    assert "REDIS_KEDA_PASSWORD is not set" in result.stderr
    assert target.stat().st_mode & 0o077 == 0
    users = checks.parse_acl(target.read_text())
    for name, password in passwords.items():
        assert users[name].enabled
        assert users[name].password_hashes == [hashlib.sha256(password.encode()).hexdigest()]
    assert not users["keda"].enabled
    # Rules other than passwords are untouched.
    original = acl()
    assert {n: u.keys for n, u in users.items()} == {n: u.keys for n, u in original.items()}
    assert {n: u.command_rules for n, u in users.items()} == {n: u.command_rules for n, u in original.items()}


@pytest.mark.skipif(shutil.which("sh") is None, reason="no POSIX shell")
def test_render_acl_refuses_to_run_without_a_command(tmp_path: Path) -> None:
    result = subprocess.run(
        ["sh", str(REDIS / "render-acl.sh"), str(REDIS / "users.acl"), str(tmp_path / "x")],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert result.returncode == 64
    assert "usage" in result.stderr
