"""deploy/k8s: every overlay renders, every object is valid, and the invariants the issue asks for hold."""

from __future__ import annotations

import hashlib
import ipaddress
from pathlib import Path

import pytest

from services.publish.webhooks import non_public_kind
from tests.deploy import checks
from tests.deploy.checks import SERVICES, Obj, find, one, rendered
from tests.deploy.kustomize import (
    UnsupportedKustomization,
    kustomize_command,
    render_in_python,
    render_with_binary,
)

KEDA_OVERLAYS = ("dev", "production")


def _identity(obj: Obj) -> tuple[str, str, str]:
    return obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"]


@pytest.mark.parametrize("overlay", checks.OVERLAYS)
def test_every_rendered_object_passes_its_schema(overlay: str) -> None:
    objects = rendered(overlay)
    assert objects
    problems = [p for obj in objects for p in checks.schema_problems(obj)]
    assert problems == []


@pytest.mark.parametrize("overlay", checks.OVERLAYS)
def test_python_renderer_matches_kustomize(overlay: str) -> None:
    command = kustomize_command()
    if command is None:
        pytest.skip("neither kustomize nor kubectl is installed: the renderer is the only one")
    directory = checks.K8S / "overlays" / overlay
    ours = sorted(render_in_python(directory), key=_identity)
    theirs = sorted(render_with_binary(directory, command), key=_identity)
    assert ours == theirs


def test_python_renderer_refuses_what_it_does_not_implement(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: []\nreplicas: [{name: x, count: 2}]\n")
    with pytest.raises(UnsupportedKustomization, match="replicas"):
        render_in_python(tmp_path)


@pytest.mark.parametrize("overlay", checks.OVERLAYS)
@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_each_deployment_has_probes_limits_and_a_hardened_pod(overlay: str, service: checks.Service) -> None:
    deployment = one(rendered(overlay), "Deployment", service.deployment)
    assert checks.deployment_problems(deployment, service) == []


@pytest.mark.parametrize("overlay", checks.OVERLAYS)
def test_every_variable_a_deployment_sets_is_a_setting_of_its_service(overlay: str) -> None:
    objects = rendered(overlay)
    for service in SERVICES:
        container = checks.pod_spec(one(objects, "Deployment", service.deployment))["containers"][0]
        names = checks.container_env_names(objects, container)
        assert {"REDIS_URL", "REDIS_USERNAME", "REDIS_PASSWORD"} <= names
        assert checks.unknown_settings(names, service) == []


def test_settings_check_catches_a_misspelled_variable() -> None:
    objects = rendered("dev")
    container = checks.pod_spec(one(objects, "Deployment", "newsflow-publish"))["containers"][0]
    container["env"].append({"name": "NEWSFLOW_PUBLISH_PUBLIC_BASE_URL", "value": "https://x"})
    names = checks.container_env_names(objects, container)
    assert checks.unknown_settings(names, SERVICES[2]) == ["NEWSFLOW_PUBLISH_PUBLIC_BASE_URL"]


@pytest.mark.parametrize("overlay", checks.OVERLAYS)
def test_every_workload_runs_non_root_with_a_read_only_root(overlay: str) -> None:
    objects = rendered(overlay)
    workloads = find(objects, "Deployment") + find(objects, "StatefulSet") + find(objects, "Job")
    assert len(workloads) == 5
    assert [p for w in workloads for p in checks.security_problems(w)] == []
    namespace = one(objects, "Namespace", "newsflow")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


@pytest.mark.parametrize("overlay", checks.OVERLAYS)
def test_each_deployment_has_a_disruption_budget_and_apis_have_services(overlay: str) -> None:
    objects = rendered(overlay)
    for service in SERVICES:
        deployment = one(objects, "Deployment", service.deployment)
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        budget = one(objects, "PodDisruptionBudget", service.deployment)
        assert budget["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
        services = find(objects, "Service", service.deployment)
        assert len(services) == (1 if service.name in checks.API_SERVICES else 0)
        for svc in services:
            assert svc["spec"]["selector"].items() <= pod_labels.items()
            assert [p["port"] for p in svc["spec"]["ports"]] == [service.port]


@pytest.mark.parametrize("overlay", KEDA_OVERLAYS)
@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_each_consumer_scales_on_its_own_group_lag(overlay: str, service: checks.Service) -> None:
    assert checks.scaled_object_problems(rendered(overlay), service) == []


@pytest.mark.parametrize("overlay", KEDA_OVERLAYS)
def test_keda_reads_the_lag_as_the_keda_redis_user(overlay: str) -> None:
    objects = rendered(overlay)
    auth = one(objects, "TriggerAuthentication", "newsflow-keda-redis")
    refs = {r["parameter"]: r for r in auth["spec"]["secretTargetRef"]}
    assert set(refs) == {"username", "password"}
    acl = checks.parse_acl((checks.DEPLOY / "redis" / "users.acl").read_text())
    readable = {pattern for mode, pattern in acl["keda"].keys if "R" in mode}
    for scaled in find(objects, "ScaledObject"):
        for trigger in scaled["spec"]["triggers"]:
            assert trigger["metadata"]["stream"] in readable
            assert trigger["authenticationRef"]["name"] == auth["metadata"]["name"]


def test_hpa_overlay_is_production_with_hpas_instead_of_keda() -> None:
    keda_only = {"ScaledObject", "TriggerAuthentication"}
    production = [
        o
        for o in rendered("production")
        if o["kind"] not in keda_only and o["metadata"]["name"] != "newsflow-redis-ingress-keda"
    ]
    hpa = rendered("hpa")
    autoscalers = find(hpa, "HorizontalPodAutoscaler")
    rest = [o for o in hpa if o["kind"] != "HorizontalPodAutoscaler"]
    assert sorted(rest, key=_identity) == sorted(production, key=_identity)
    assert {a["spec"]["scaleTargetRef"]["name"] for a in autoscalers} == {s.deployment for s in SERVICES}
    for autoscaler in autoscalers:
        assert autoscaler["apiVersion"] == "autoscaling/v2"
        assert [m["resource"]["name"] for m in autoscaler["spec"]["metrics"]] == ["cpu"]
    scaled = {s["spec"]["scaleTargetRef"]["name"]: s for s in find(rendered("production"), "ScaledObject")}
    for autoscaler in autoscalers:
        twin = scaled[autoscaler["spec"]["scaleTargetRef"]["name"]]["spec"]
        bounds = (autoscaler["spec"]["minReplicas"], autoscaler["spec"]["maxReplicas"])
        assert bounds == (twin["minReplicaCount"], twin["maxReplicaCount"])


def test_dev_renders_placeholder_secrets_for_every_key_it_references() -> None:
    objects = rendered("dev")
    assert checks.missing_secret_keys(objects) == []
    acl = checks.parse_acl((checks.DEPLOY / "redis" / "users.acl").read_text())
    credentials = one(objects, "Secret", "newsflow-redis-credentials")["stringData"]
    for user in (u for u in acl.values() if u.name != "default"):  # default is off, no password
        password = credentials[f"{user.name}-password"]
        # The dev Secret holds the documented placeholders whose hashes users.acl carries.
        assert password == f"{user.name}-dev-password"
        assert hashlib.sha256(password.encode()).hexdigest() == user.password_hashes[0]


@pytest.mark.parametrize("overlay", ["production", "hpa"])
def test_production_renders_no_secret_and_documents_every_key_it_expects(overlay: str) -> None:
    objects = rendered(overlay)
    assert find(objects, "Secret") == []
    readme = (checks.DEPLOY / "README.md").read_text()
    for secret, key, _optional in checks.secret_references(objects):
        assert f"`{secret}`" in readme
        assert f"`{key}`" in readme


@pytest.mark.parametrize("overlay", checks.OVERLAYS)
def test_only_the_services_and_keda_reach_redis(overlay: str) -> None:
    assert checks.redis_ingress_problems(rendered(overlay)) == []


@pytest.mark.parametrize("overlay", checks.OVERLAYS)
def test_redis_runs_from_the_repository_config_with_data_on_a_volume(overlay: str) -> None:
    objects = rendered(overlay)
    statefulset = one(objects, "StatefulSet", "newsflow-redis")
    assert statefulset["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    container = checks.pod_spec(statefulset)["containers"][0]
    assert container["image"].startswith("redis:7")
    assert {"/data", "/etc/redis", "/run/redis"} <= {m["mountPath"] for m in container["volumeMounts"]}
    assert container["command"][:6] == [
        "sh",
        "/etc/redis/render-acl.sh",
        "/etc/redis/users.acl",
        "/run/redis/users.acl",
        "redis-server",
        "/etc/redis/redis.conf",
    ]
    config = one(objects, "ConfigMap", "newsflow-redis-config")["data"]
    for name in ("redis.conf", "users.acl", "render-acl.sh"):
        assert config[name] == (checks.DEPLOY / "redis" / name).read_text()


@pytest.mark.parametrize("overlay", checks.OVERLAYS)
def test_redis_endpoint_names_the_rendered_service_and_namespace(overlay: str) -> None:
    objects = rendered(overlay)
    endpoint = one(objects, "ConfigMap", "newsflow-redis-endpoint")["data"]
    redis = one(objects, "Service", "newsflow-redis")["metadata"]
    fqdn = f"{redis['name']}.{redis['namespace']}.svc.cluster.local:6379"
    assert endpoint["REDIS_ADDRESS"] == fqdn
    assert endpoint["REDIS_URL"] == f"redis://{fqdn}/0"


def test_images_are_pinned_per_overlay() -> None:
    def images(overlay: str) -> set[str]:
        return {
            c["image"]
            for w in find(rendered(overlay), "Deployment")
            for c in checks.pod_spec(w)["containers"]
        }

    assert images("dev") == {"newsflow:dev"}
    assert images("production") == images("hpa") == {"registry.example.org/newsflow:0.1.0"}


# --- each check fails on a broken copy -------------------------------------------------------


def _deployment(overlay: str = "dev", name: str = "newsflow-enrich") -> Obj:
    return one(rendered(overlay), "Deployment", name)


def test_kubernetes_schema_rejects_a_misspelled_field() -> None:
    deployment = _deployment()
    container = checks.pod_spec(deployment)["containers"][0]
    container["livenesProbe"] = container.pop("livenessProbe")
    problems = checks.schema_problems(deployment)
    assert problems
    assert "livenesProbe" in problems[0]


def test_kubernetes_schema_rejects_a_wrong_type_and_an_unknown_kind() -> None:
    deployment = _deployment()
    deployment["spec"]["replicas"] = "two"
    assert checks.schema_problems(deployment)
    assert checks.schema_problems({"apiVersion": "v1", "kind": "Deploymnet", "metadata": {"name": "x"}})


def test_keda_schema_rejects_a_scaled_object_without_scale_target_ref() -> None:
    scaled = one(rendered("dev"), "ScaledObject", "newsflow-enrich")
    del scaled["spec"]["scaleTargetRef"]
    assert any("scaleTargetRef" in p for p in checks.schema_problems(scaled))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("lagCount", 100),  # the CRD types metadata values as strings
        ("lagCountt", "100"),  # not a redis-streams parameter
        ("stream", None),  # required
    ],
)
def test_keda_schema_rejects_broken_redis_streams_metadata(field: str, value: object) -> None:
    scaled = one(rendered("dev"), "ScaledObject", "newsflow-enrich")
    metadata = scaled["spec"]["triggers"][0]["metadata"]
    if value is None:
        del metadata[field]
    else:
        metadata[field] = value
    assert checks.schema_problems(scaled)


def test_keda_schema_rejects_a_misspelled_trigger_authentication_field() -> None:
    auth = one(rendered("dev"), "TriggerAuthentication", "newsflow-keda-redis")
    auth["spec"]["secretTargetRefs"] = auth["spec"].pop("secretTargetRef")
    assert checks.schema_problems(auth)


@pytest.mark.parametrize(
    "breakage",
    ["no-readiness", "big-limit", "no-requests", "wrong-probe-path", "root", "writable-root"],
)
def test_deployment_invariants_catch_a_broken_deployment(breakage: str) -> None:
    deployment = _deployment()
    container = checks.pod_spec(deployment)["containers"][0]
    if breakage == "no-readiness":
        del container["readinessProbe"]
    elif breakage == "big-limit":
        container["resources"]["limits"]["memory"] = "1Gi"
    elif breakage == "no-requests":
        del container["resources"]["requests"]
    elif breakage == "wrong-probe-path":
        container["livenessProbe"]["httpGet"]["path"] = "/readyz"
    elif breakage == "root":
        deployment["spec"]["template"]["spec"]["securityContext"]["runAsUser"] = 0
    elif breakage == "writable-root":
        container["securityContext"]["readOnlyRootFilesystem"] = False
    assert checks.deployment_problems(deployment, SERVICES[1])


@pytest.mark.parametrize(
    ("field", "value"),
    [("stream", "articles.tagged"), ("consumerGroup", "publish"), ("addressFromEnv", "NOPE")],
)
def test_scaled_object_invariants_catch_a_wrong_stream_group_or_address(field: str, value: str) -> None:
    objects = rendered("dev")
    one(objects, "ScaledObject", "newsflow-enrich")["spec"]["triggers"][0]["metadata"][field] = value
    assert checks.scaled_object_problems(objects, SERVICES[1])


def test_secret_and_network_invariants_catch_broken_copies() -> None:
    objects = rendered("dev")
    one(objects, "Secret", "newsflow-redis-credentials")["stringData"].pop("enrich-password")
    assert checks.missing_secret_keys(objects) == ["newsflow-redis-credentials/enrich-password"]

    objects = rendered("dev")
    policy = one(objects, "NetworkPolicy", "newsflow-redis-ingress")
    policy["spec"]["ingress"][0]["from"] = [{"podSelector": {}}]
    assert checks.redis_ingress_problems(objects)


@pytest.mark.parametrize("overlay", checks.OVERLAYS)
def test_egress_is_only_dns_and_redis_plus_public_web_for_publish(overlay: str) -> None:
    assert checks.egress_problems(rendered(overlay)) == []


def _webhook_egress_block(objects: list[Obj]) -> Obj:
    policy = one(objects, "NetworkPolicy", "newsflow-publish-webhook-egress")
    block: Obj = policy["spec"]["egress"][0]["to"][0]["ipBlock"]
    return block


def test_egress_invariants_catch_broken_copies() -> None:
    objects = rendered("dev")
    _webhook_egress_block(objects)["except"].remove("169.254.0.0/16")
    assert checks.egress_problems(objects) == [
        "newsflow-publish-webhook-egress: lets publish reach ['169.254.169.254']"
    ]

    objects = rendered("dev")
    one(objects, "NetworkPolicy", "newsflow-publish-webhook-egress")["spec"]["egress"][0]["ports"].append(
        {"protocol": "TCP", "port": 6379}
    )
    assert any("ports" in p for p in checks.egress_problems(objects))

    objects = rendered("dev")
    dns = one(objects, "NetworkPolicy", "newsflow-dns-egress")
    dns["spec"]["podSelector"] = {"matchLabels": {"app.kubernetes.io/component": "ingest"}}
    assert checks.egress_problems(objects) == [
        "enrich: cannot reach ['dns']",
        "publish: cannot reach ['dns']",
    ]

    objects = rendered("dev")
    webhook = one(objects, "NetworkPolicy", "newsflow-publish-webhook-egress")
    webhook["spec"]["podSelector"] = {}
    assert any("lets ingest reach" in p for p in checks.egress_problems(objects))

    objects = rendered("dev")
    objects.remove(one(objects, "NetworkPolicy", "newsflow-default-deny-egress"))
    assert checks.egress_problems(objects) == ["no default-deny egress policy"]


def test_the_forbidden_destinations_are_the_ones_webhooks_refuse_too() -> None:
    for address in checks.FORBIDDEN_EGRESS:
        assert non_public_kind(ipaddress.ip_address(address)) is not None, address
    for address in checks.PUBLIC_EGRESS:
        assert non_public_kind(ipaddress.ip_address(address)) is None, address


@pytest.mark.parametrize("overlay", checks.OVERLAYS)
def test_a_job_loads_the_functions_library_as_the_admin_user(overlay: str) -> None:
    objects = rendered(overlay)
    job = one(objects, "Job", "newsflow-redis-functions")
    (container,) = checks.pod_spec(job)["containers"]
    assert container["args"] == ["redis", "functions", "load"]
    deployment = checks.pod_spec(one(objects, "Deployment", "newsflow-ingest"))["containers"][0]
    assert container["image"] == deployment["image"]
    env = {e["name"]: e for e in container["env"]}
    assert env["REDIS_USERNAME"]["value"] == "admin"
    assert env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == "admin-password"
    assert "REDIS_URL" in checks.container_env_names(objects, container)
    # Only this Job holds the admin password; each service has its own user's.
    holders = {
        o["metadata"]["name"]
        for o in objects
        if o["kind"] in {"Deployment", "Job"}
        and any(key == "admin-password" for _, key, _ in checks.secret_references([o]))
    }
    assert holders == {"newsflow-redis-functions"}
