"""deploy/redis: the ACL users have exactly their keys and commands; the config keeps the AOF.

Loading these files into a real redis-server is an integration test elsewhere; these read them.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from shared import streams
from tests.deploy import checks

REDIS = checks.DEPLOY / "redis"


def acl() -> dict[str, checks.AclUser]:
    return checks.parse_acl((REDIS / "users.acl").read_text())


def edit_line(user: str, edit: Callable[[str], str]) -> str:
    """users.acl with `user`'s line edited."""
    lines = (REDIS / "users.acl").read_text().splitlines()
    return "\n".join(edit(line) if line.startswith(f"user {user} ") else line for line in lines)


def test_acl_gives_each_user_exactly_its_keys_and_commands() -> None:
    assert checks.acl_problems(acl()) == []


def test_default_user_is_off_and_the_admin_is_a_named_user() -> None:
    users = acl()
    default = users["default"]
    assert not default.enabled
    assert (default.password_hashes, default.nopass, default.keys, default.allowed) == ([], False, set(), [])
    admin = users["admin"]
    assert admin.enabled
    assert admin.keys == {("RW", "*")}
    assert admin.allowed == ["@all"]
    assert admin.selectors == []


@pytest.mark.parametrize("rule", ["on", "nopass", "~*", "+@all", "#" + "0" * 64])
def test_acl_check_catches_a_default_user_let_back_in(rule: str) -> None:
    assert checks.acl_problems(checks.parse_acl(edit_line("default", lambda line: f"{line} {rule}")))


@pytest.mark.parametrize("user", ["ingest", "enrich", "publish"])
@pytest.mark.parametrize("rule", ["+eval", "+evalsha", "+script|load", "+function|load", "+@scripting"])
def test_acl_check_catches_a_service_that_may_run_its_own_lua(user: str, rule: str) -> None:
    assert checks.acl_problems(checks.parse_acl(edit_line(user, lambda line: f"{line} {rule}")))


def test_acl_check_catches_publish_writing_its_input_stream() -> None:
    text = edit_line("publish", lambda line: line.replace(" %R~articles.tagged ", " ~articles.tagged "))
    problems = checks.acl_problems(checks.parse_acl(text))
    assert any(f"reaches {streams.TAGGED}" in problem for problem in problems), problems
    widened = edit_line("publish", lambda line: line.removesuffix(")") + " +xadd)")
    assert checks.acl_problems(checks.parse_acl(widened))


def test_acl_holds_the_documented_placeholder_dev_passwords() -> None:
    readme = (checks.DEPLOY / "README.md").read_text()
    for user in (u for u in acl().values() if u.name != "default"):
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
    # Appended after enrich's selector: Redis applies a rule outside the parentheses to the user.
    assert checks.acl_problems(checks.parse_acl(edit_line(user, lambda line: f"{line} {rule}")))


@pytest.mark.parametrize(
    "rule",
    [
        "+xadd",  # forge an article on articles.raw or articles.published
        "+del",  # destroy an input stream
        "+xtrim",  # trim one away
        "+@stream",  # a category that holds both
        "~articles.tagged",  # its output, now reachable with the consumer commands too
        "%R~articles.inbound",  # a stream it has no business with
    ],
)
def test_acl_check_catches_a_widened_selector(rule: str) -> None:
    text = edit_line("enrich", lambda line: line.removesuffix(")") + f" {rule})")
    assert checks.acl_problems(checks.parse_acl(text))


def test_acl_check_catches_enrichs_inputs_granted_outside_the_selector() -> None:
    # The line before the selector: input streams among the root keys, where +xadd and +del apply.
    def unselect(line: str) -> str:
        rules, _, selector = line.partition(" (")
        keys = " ".join(word for word in selector.split() if "~" in word)
        return f"{rules} {keys}"

    users = checks.parse_acl(edit_line("enrich", unselect))
    assert users["enrich"].selectors == []
    problems = checks.acl_problems(users)
    assert any(f"reaches {streams.PUBLISHED}" in problem for problem in problems), problems


def test_acl_parser_reads_selectors_and_the_rules_after_them() -> None:
    users = checks.parse_acl("user u on (~a %R~b -@all +get) #00 ( ~c +set ) resetpass #ff off\n")
    user = users["u"]
    assert (user.keys, user.allowed, user.password_hashes, user.enabled) == (set(), [], ["ff"], False)
    assert [(s.keys, s.command_rules) for s in user.selectors] == [
        ({("RW", "a"), ("R", "b")}, ["-@all", "+get"]),
        ({("RW", "c")}, ["+set"]),
    ]
    assert user.access("b") == {("R", checks.SELECTOR)}


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("user u on (~a +get", "not closed"),
        ("user u on (~a #00)", "not allowed in a selector"),
        ("user u on (~a on)", "not allowed in a selector"),
    ],
)
def test_acl_parser_rejects_a_broken_selector(line: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        checks.parse_acl(line)


def test_acl_parser_rejects_comments_which_redis_refuses() -> None:
    with pytest.raises(ValueError, match="no comments"):
        checks.parse_acl("# users\nuser default on nopass ~* +@all\n")


def test_each_services_keys_fall_in_its_own_users_patterns_only() -> None:
    users = acl()
    # A key may belong to several services (the entity registry: enrich writes, publish edits).
    owners: dict[str, dict[str, str]] = {}
    for owner, keys in checks.owned_keys().items():
        for key, access in keys.items():
            owners.setdefault(key, {})[owner] = access
    for key, by_user in owners.items():
        for user in ("ingest", "enrich", "publish", "keda"):
            matches = users[user].access(key)
            expected = {(by_user[user], checks.ROOT)} if user in by_user else set()
            assert matches == expected, (key, user)


def test_each_stream_and_its_cluster_partitions_fall_in_exactly_its_users_patterns() -> None:
    users = acl()
    assert checks.stream_key_problems(users) == []
    for stream in checks.PARTITIONED_STREAMS:
        partition = streams.partitioned(stream, 2, 3)
        assert partition != stream
        readers = {name for name, user in users.items() if name != "admin" and user.access(partition)}
        assert readers == {name for name, access in checks.stream_access().items() if stream in access}


@pytest.mark.parametrize(
    ("user", "pattern"),
    [("ingest", "%W~articles.raw:*"), ("publish", "~articles.tagged:*"), ("keda", "%R~articles.raw:*")],
)
def test_stream_check_catches_a_user_that_misses_the_partitions(user: str, pattern: str) -> None:
    text = edit_line(user, lambda line: line.replace(f" {pattern} ", " "))
    assert text != edit_line(user, lambda line: line)
    problems = checks.stream_key_problems(checks.parse_acl(text))
    assert any(":{" in problem for problem in problems), problems


def test_stream_check_catches_a_partition_pattern_in_the_wrong_place() -> None:
    users = acl()
    users["enrich"].keys.add(("RW", f"{streams.RAW}:*"))  # root: XADD and DEL would reach them
    assert checks.stream_key_problems(users)


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
    passwords = {"admin": "a", "ingest": "b", "enrich": "c", "publish": "d"}
    # REDIS_PASSWORD (which named default's password before) gives default none.
    env = {"PATH": os.environ["PATH"], "REDIS_PASSWORD": "e"}
    env |= {f"REDIS_{u.upper()}_PASSWORD": p for u, p in passwords.items()}
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
    assert not users["default"].enabled
    assert users["default"].password_hashes == []
    # Rules other than passwords are untouched.
    original = acl()
    assert {n: u.keys for n, u in users.items()} == {n: u.keys for n, u in original.items()}
    assert {n: u.command_rules for n, u in users.items()} == {n: u.command_rules for n, u in original.items()}
    assert {n: u.selectors for n, u in users.items()} == {n: u.selectors for n, u in original.items()}
    assert users["enrich"].selectors


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
