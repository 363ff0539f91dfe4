"""yamllint (config: /.yamllint.yaml) on every YAML file under deploy/."""

from __future__ import annotations

from pathlib import Path

from tests.deploy import checks


def test_deploy_yaml_passes_yamllint() -> None:
    assert checks.yamllint_problems(checks.DEPLOY, checks.REPO / ".yamllint.yaml") == []


def test_yamllint_rejects_a_duplicate_key_and_trailing_spaces(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: 1\nb: 2 \na: 3\n")
    (problems,) = checks.yamllint_problems(broken)
    assert "key-duplicates" in problems
    assert "trailing-spaces" in problems
