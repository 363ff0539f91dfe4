"""deploy/compose.yaml and deploy/prometheus.yml: valid against the Compose Specification, and wired
the way the issue asks (health-gated start, scalable enrich, passwords only from the environment)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy import checks
from tests.deploy.checks import SERVICES

COMPOSE = checks.DEPLOY / "compose.yaml"


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def test_compose_file_passes_the_compose_spec_schema() -> None:
    assert checks.compose_schema_problems(COMPOSE) == []


def test_compose_schema_rejects_an_invalid_key(tmp_path: Path) -> None:
    broken = tmp_path / "compose.yaml"
    broken.write_text(COMPOSE.read_text().replace("    restart: unless-stopped", "    restrat: x", 1))
    problems = checks.compose_schema_problems(broken)
    assert problems
    assert "restrat" in problems[0]


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_each_service_waits_for_a_healthy_redis_and_checks_its_own_readiness(
    service: checks.Service,
) -> None:
    spec = compose()["services"][service.name]
    assert spec["command"] == ["run", service.name]
    assert spec["depends_on"] == {
        "redis": {"condition": "service_healthy"},
        "redis-functions": {"condition": "service_completed_successfully"},
    }
    assert spec["restart"] in {"unless-stopped", "always", "on-failure"}
    probe = " ".join(spec["healthcheck"]["test"])
    assert f"http://127.0.0.1:{service.port}/readyz" in probe
    assert "curl" not in probe
    environment = spec["environment"]
    assert environment["REDIS_USERNAME"] == service.name
    assert environment["REDIS_PASSWORD"].startswith(f"${{REDIS_{service.name.upper()}_PASSWORD:?")


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_every_variable_compose_sets_is_a_setting_of_the_service(service: checks.Service) -> None:
    environment = compose()["services"][service.name]["environment"]
    assert checks.unknown_settings(environment, service) == []


def test_enrich_can_be_scaled() -> None:
    enrich = compose()["services"]["enrich"]
    assert "container_name" not in enrich
    assert "ports" not in enrich


def test_redis_has_aof_config_acl_file_health_check_and_a_required_password() -> None:
    redis = compose()["services"]["redis"]
    assert redis["image"].startswith("redis:7")
    assert "./redis:/etc/redis:ro" in redis["volumes"]
    assert redis["command"][-2:] == ["redis-server", "/etc/redis/redis.conf"]
    assert redis["command"][1:4] == [
        "/etc/redis/render-acl.sh",
        "/etc/redis/users.acl",
        checks.redis_conf()["aclfile"],
    ]
    assert redis["environment"]["REDIS_ADMIN_PASSWORD"].startswith("${REDIS_ADMIN_PASSWORD:?")
    assert "REDIS_PASSWORD" not in redis["environment"]  # `default` is off: it has no password
    assert "redis-cli --user admin ping" in " ".join(redis["healthcheck"]["test"])
    assert redis["restart"] == "unless-stopped"
    # The same Redis as the Kubernetes StatefulSet.
    statefulset = checks.one(checks.rendered("production"), "StatefulSet", "newsflow-redis")
    assert redis["image"] == checks.pod_spec(statefulset)["containers"][0]["image"]


def test_every_password_and_token_comes_from_the_environment() -> None:
    for name, spec in compose()["services"].items():
        for variable, value in spec.get("environment", {}).items():
            if re.search("PASSWORD|TOKEN", variable):
                assert re.fullmatch(r"\$\{[A-Z_]+:[?-][^}]*\}", str(value)), (name, variable)


def test_prometheus_is_optional_and_scrapes_every_service_on_its_port() -> None:
    prometheus = compose()["services"]["prometheus"]
    assert prometheus["profiles"] == ["monitoring"]
    assert "./prometheus.yml:/etc/prometheus/prometheus.yml:ro" in prometheus["volumes"]
    config = yaml.safe_load((checks.DEPLOY / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {s.name for s in SERVICES}
    for service in SERVICES:
        (discovery,) = jobs[service.name]["dns_sd_configs"]
        assert discovery == {
            "names": [service.name],
            "type": "A",
            "port": service.port,
            "refresh_interval": "30s",
        }
        assert jobs[service.name]["metrics_path"] == "/metrics"


def test_the_functions_library_is_loaded_by_the_admin_before_the_services_start() -> None:
    spec = compose()["services"]["redis-functions"]
    assert spec["command"] == ["redis", "functions", "load"]
    assert spec["image"] == compose()["services"]["ingest"]["image"]
    assert spec["depends_on"] == {"redis": {"condition": "service_healthy"}}
    assert spec["restart"] == "on-failure"  # done once it succeeds; `unless-stopped` would loop
    environment = spec["environment"]
    assert environment["REDIS_USERNAME"] == "admin"
    assert environment["REDIS_PASSWORD"].startswith("${REDIS_ADMIN_PASSWORD:?")
    # Only it holds the admin password.
    holders = {
        name
        for name, service in compose()["services"].items()
        if any("REDIS_ADMIN_PASSWORD" in str(value) for value in service.get("environment", {}).values())
    }
    assert holders == {"redis", "redis-functions"}
