"""The files for a machine without an image registry, read statically: deploy/local/compose.yaml
runs only images built here and never pulls, deploy/local/redis.Dockerfile gives compose's Redis
what the official image gives it, and nothing asks a registry at build time. `make deploy-test`
builds and runs them for real."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from tests.deploy import checks
from tests.deploy.live import engine
from tests.deploy.test_dockerfile import parse_stages

LOCAL = checks.DEPLOY / "local"
OVERRIDE = LOCAL / "compose.yaml"
REDIS_DOCKERFILE = LOCAL / "redis.Dockerfile"


def load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


def local_override_problems(base: dict[str, Any], override: dict[str, Any]) -> list[str]:
    """Services the base file starts by default whose image is not a local one or may be pulled."""
    problems = []
    local = {"redis": engine.REDIS_IMAGE, "app": engine.APP_IMAGE}
    for name, spec in base["services"].items():
        if spec.get("profiles"):
            continue  # started only on request (prometheus)
        local_spec = override.get("services", {}).get(name, {})
        image = re.sub(r"\$\{[A-Z_]+:-([^}]+)\}", r"\1", str(local_spec.get("image", spec.get("image"))))
        if image != local["redis" if name == "redis" else "app"]:
            problems.append(f"{name}: runs {image}, not the image built here")
        if local_spec.get("pull_policy") != "never":
            problems.append(f"{name}: pull_policy is not `never`")
    return problems


def test_local_override_passes_the_compose_spec_schema() -> None:
    assert checks.compose_schema_problems(OVERRIDE) == []


def test_local_override_runs_only_images_built_here() -> None:
    assert local_override_problems(load(checks.DEPLOY / "compose.yaml"), load(OVERRIDE)) == []


def test_local_override_check_fails_on_a_service_left_to_a_registry() -> None:
    override = load(OVERRIDE)
    del override["services"]["redis"]
    override["services"]["enrich"]["pull_policy"] = "missing"
    problems = local_override_problems(load(checks.DEPLOY / "compose.yaml"), override)
    assert any(p.startswith("redis: runs redis:7") for p in problems)
    assert "enrich: pull_policy is not `never`" in problems


def test_compose_file_loads_in_compose_v1() -> None:
    # Debian's docker-compose (1.29) rejects a top-level `name`; the project name is in .env.
    assert "name" not in load(checks.DEPLOY / "compose.yaml")
    assert "COMPOSE_PROJECT_NAME=newsflow" in (checks.DEPLOY / ".env.example").read_text().splitlines()


def syntax_directives(text: str) -> list[str]:
    """`# syntax=` parser directives: BuildKit pulls the frontend image they name."""
    return re.findall(r"^#\s*syntax\s*=.*$", text, re.MULTILINE | re.IGNORECASE)


def test_no_dockerfile_needs_a_registry_for_its_frontend() -> None:
    for dockerfile in (checks.DEPLOY / "Dockerfile", REDIS_DOCKERFILE):
        assert syntax_directives(dockerfile.read_text()) == [], dockerfile
    assert syntax_directives("# syntax=docker/dockerfile:1.7\nFROM scratch\n")


def test_local_redis_image_is_debians_redis_7_run_by_its_user() -> None:
    (stage,) = parse_stages(REDIS_DOCKERFILE.read_text())
    assert stage.base == "${BASE_IMAGE}"
    (install,) = stage.arguments("RUN")
    assert "apt-get install --yes --no-install-recommends redis-server" in install
    # A new named volume takes the owner of the folder it is mounted on.
    assert "install -d -o redis -g redis -m 0750 /data" in install
    assert stage.arguments("USER") == ["redis"]
    assert load(checks.DEPLOY / "compose.yaml")["services"]["redis"]["user"] == "redis"
