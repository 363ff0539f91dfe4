"""Validators and invariants for the deployment files, each a function that returns its problems.

The tests call every function twice: on the real files (no problems) and on a deliberately broken
copy (at least one problem), so a check that cannot fail is caught.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import re
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
from pydantic import AliasChoices

from services.enrich.related import DEFAULT_PREFIX as RELATED_PREFIX
from services.publish.listing import INDEX_PREFIX as LISTING_PREFIX

# Not in shared.streams yet (webhooks.py says they will move there); imported, not spelt.
from services.publish.webhooks import WEBHOOK_DLQ_PREFIX, WEBHOOK_FOLLOWED_PREFIX
from shared import streams
from shared.settings import EnrichSettings, IngestSettings, PublishSettings, ServiceSettings
from tests.deploy.kustomize import render

Obj = dict[str, Any]

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
OVERLAYS = ("dev", "production", "hpa")
BIN = Path(sys.executable).parent

# A version kubernetes-validate carries; the oldest minor still in upstream support when written.
KUBERNETES_VERSION = "1.31"
KEDA_SCHEMAS = {
    "ScaledObject": "keda-scaledobject.json",
    "TriggerAuthentication": "keda-triggerauthentication.json",
}


@dataclass(frozen=True)
class Service:
    name: str
    stream: str
    group: str
    settings: type[ServiceSettings]
    # The ceiling for the container's memory limit, in MiB.
    max_memory_mib: int

    @property
    def port(self) -> int:
        default = self.settings.model_fields["http_port"].default
        assert isinstance(default, int)
        return default

    @property
    def deployment(self) -> str:
        return f"newsflow-{self.name}"


SERVICES = (
    Service("ingest", streams.INBOUND, streams.INGEST_GROUP, IngestSettings, 256),
    Service("enrich", streams.RAW, streams.ENRICH_GROUP, EnrichSettings, 512),
    Service("publish", streams.TAGGED, streams.PUBLISH_GROUP, PublishSettings, 256),
)
API_SERVICES = ("ingest", "publish")
# In a service's environment for KEDA's redis-streams trigger (host:port), not for the service.
NOT_SETTINGS = frozenset({"REDIS_ADDRESS"})


def settings_env_names(settings: type[ServiceSettings]) -> set[str]:
    """The environment variables a settings class reads: its aliases, else prefix + field name."""
    prefix = str(settings.model_config.get("env_prefix", ""))
    names = set()
    for name, info in settings.model_fields.items():
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            names |= {choice for choice in alias.choices if isinstance(choice, str)}
        else:
            names.add(f"{prefix}{name}".upper())
    return names


def unknown_settings(names: Iterable[str], service: Service) -> list[str]:
    """Variables given to a service that no setting of it reads: a typo, or a setting renamed."""
    return sorted(set(names) - settings_env_names(service.settings) - NOT_SETTINGS)


def key_prefix(key: str) -> str:
    """`newsflow:ingest:ledger` -> `newsflow:ingest:*`: the pattern a service owns."""
    return key.rsplit(":", 1)[0] + ":*"


# --- tools -------------------------------------------------------------------------------------


def run_tool(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """Run a console script of this virtualenv (check-jsonschema, yamllint, ...)."""
    return subprocess.run(
        [str(BIN / args[0]), *args[1:]],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        check=False,
    )


def compose_schema_problems(path: Path) -> list[str]:
    result = run_tool("check-jsonschema", "--builtin-schema", "vendor.compose-spec", str(path))
    return [] if result.returncode == 0 else [result.stdout + result.stderr]


def yamllint_problems(*paths: Path) -> list[str]:
    config = REPO / ".yamllint.yaml"
    result = run_tool("yamllint", "--strict", "-c", str(config), *map(str, paths))
    return [] if result.returncode == 0 else [result.stdout + result.stderr]


# --- rendering -------------------------------------------------------------------------------


@cache
def _rendered(overlay: str) -> tuple[Obj, ...]:
    return tuple(render(K8S / "overlays" / overlay))


def rendered(overlay: str) -> list[Obj]:
    """The overlay's objects, a fresh copy: a test may break it without touching the others."""
    return copy.deepcopy(list(_rendered(overlay)))


# --- schema validation -------------------------------------------------------------------------


@cache
def keda_validator(kind: str) -> jsonschema.protocols.Validator:
    schema = json.loads((Path(__file__).parent / "schemas" / KEDA_SCHEMAS[kind]).read_text())
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator: jsonschema.protocols.Validator = validator_class(schema)
    return validator


def schema_problems(obj: Obj) -> list[str]:
    """Kubernetes objects against the API schema (strict: unknown fields fail), KEDA's against ours."""
    where = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
    if obj.get("apiVersion", "").startswith("keda.sh/"):
        if obj.get("kind") not in KEDA_SCHEMAS:
            return [f"{where}: no schema for this KEDA kind"]
        errors = keda_validator(obj["kind"]).iter_errors(obj)
        return [f"{where}: {'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors]
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        path = "/".join(map(str, error.absolute_path))
        return [f"{where}: {path}: {error.message}"]
    except kubernetes_validate.SchemaNotFoundError as error:
        return [f"{where}: {error.message}"]
    return []


# --- Kubernetes invariants ---------------------------------------------------------------------


def find(objects: Iterable[Obj], kind: str, name: str | None = None) -> list[Obj]:
    return [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


def one(objects: Iterable[Obj], kind: str, name: str) -> Obj:
    found = find(objects, kind, name)
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


_QUANTITY = re.compile(r"^([0-9.]+)(Ki|Mi|Gi|Ti|k|M|G|T)?$")
_FACTORS = {
    None: 1,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
}


def memory_bytes(quantity: str | int) -> float:
    match = _QUANTITY.match(str(quantity))
    if match is None:
        raise ValueError(f"not a memory quantity: {quantity!r}")
    return float(match.group(1)) * _FACTORS[match.group(2)]


def pod_spec(workload: Obj) -> Obj:
    spec: Obj = workload["spec"]["template"]["spec"]
    return spec


def security_problems(workload: Obj) -> list[str]:
    """Pod Security "restricted" plus a read-only root filesystem, for every container."""
    name = workload["metadata"]["name"]
    spec = pod_spec(workload)
    pod = spec.get("securityContext", {})
    problems = []
    if pod.get("runAsNonRoot") is not True:
        problems.append(f"{name}: pod securityContext.runAsNonRoot is not true")
    if pod.get("runAsUser", 0) == 0:
        problems.append(f"{name}: pod securityContext.runAsUser is unset or root")
    if pod.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        problems.append(f"{name}: pod seccompProfile is not RuntimeDefault")
    for container in spec["containers"] + spec.get("initContainers", []):
        context = container.get("securityContext", {})
        where = f"{name}/{container['name']}"
        if context.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{where}: root filesystem is writable")
        if context.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{where}: allowPrivilegeEscalation is not false")
        if context.get("capabilities", {}).get("drop") != ["ALL"]:
            problems.append(f"{where}: capabilities are not dropped")
    return problems


def deployment_problems(deployment: Obj, service: Service) -> list[str]:
    name = deployment["metadata"]["name"]
    containers = pod_spec(deployment)["containers"]
    if len(containers) != 1:
        return [f"{name}: expected one container, found {len(containers)}"]
    container = containers[0]
    problems = security_problems(deployment)
    if container.get("args") != ["run", service.name]:
        problems.append(f"{name}: args {container.get('args')} do not start {service.name}")
    ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    if ports.get("http") != service.port:
        problems.append(f"{name}: port `http` is not the settings' default {service.port}")
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        http_get = container.get(probe, {}).get("httpGet", {})
        if http_get.get("path") != path or http_get.get("port") not in ("http", service.port):
            problems.append(f"{name}: {probe} is not GET {path} on the service port")
    resources = container.get("resources", {})
    for section in ("requests", "limits"):
        missing = {"cpu", "memory"} - set(resources.get(section, {}))
        if missing:
            problems.append(f"{name}: resources.{section} lacks {sorted(missing)}")
    limit = resources.get("limits", {}).get("memory")
    if limit is not None and memory_bytes(limit) > service.max_memory_mib * 2**20:
        problems.append(f"{name}: memory limit {limit} is above {service.max_memory_mib}Mi")
    if "replicas" in deployment["spec"]:
        problems.append(f"{name}: sets replicas, which the autoscaler owns")
    return problems


def container_env_names(objects: list[Obj], container: Obj) -> set[str]:
    """Variables a container gets from `env` and from ConfigMaps/Secrets in `envFrom`."""
    names = {e["name"] for e in container.get("env", [])}
    for source in container.get("envFrom", []):
        for kind, ref in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
            if ref in source:
                for obj in find(objects, kind, source[ref]["name"]):
                    names |= set(obj.get("data", {})) | set(obj.get("stringData", {}))
    return names


def scaled_object_problems(objects: list[Obj], service: Service) -> list[str]:
    found = [
        s for s in find(objects, "ScaledObject") if s["spec"]["scaleTargetRef"]["name"] == service.deployment
    ]
    if len(found) != 1:
        return [f"{service.name}: {len(found)} ScaledObjects target {service.deployment}"]
    scaled = found[0]
    name = scaled["metadata"]["name"]
    target_kind = scaled["spec"]["scaleTargetRef"].get("kind", "Deployment")
    deployments = find(objects, target_kind, service.deployment)
    if not deployments:
        return [f"{name}: target {target_kind}/{service.deployment} is not rendered"]
    container = pod_spec(deployments[0])["containers"][0]
    problems = []
    triggers = [t for t in scaled["spec"]["triggers"] if t["type"] == "redis-streams"]
    if not triggers:
        problems.append(f"{name}: no redis-streams trigger")
    for trigger in triggers:
        meta = trigger["metadata"]
        if meta.get("stream") != service.stream:
            problems.append(f"{name}: stream {meta.get('stream')!r} is not {service.stream!r}")
        if meta.get("consumerGroup") != service.group:
            problems.append(f"{name}: group {meta.get('consumerGroup')!r} is not {service.group!r}")
        if "lagCount" not in meta:
            problems.append(f"{name}: does not scale on consumer-group lag (lagCount)")
        for key in ("addressFromEnv", "hostFromEnv", "usernameFromEnv", "passwordFromEnv"):
            if key in meta and meta[key] not in container_env_names(objects, container):
                problems.append(f"{name}: {key} {meta[key]} is not in the target's environment")
        auth = trigger.get("authenticationRef")
        if auth and not find(objects, auth.get("kind", "TriggerAuthentication"), auth["name"]):
            problems.append(f"{name}: TriggerAuthentication {auth['name']} is not rendered")
    return problems


def secret_references(objects: list[Obj]) -> Iterator[tuple[str, str, bool]]:
    """(secret, key, optional) for every secretKeyRef and KEDA secretTargetRef."""

    def walk(node: Any) -> Iterator[tuple[str, str, bool]]:
        if isinstance(node, dict):
            ref = node.get("secretKeyRef")
            if isinstance(ref, dict):
                yield ref["name"], ref["key"], bool(ref.get("optional", False))
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for item in node:
                yield from walk(item)

    for obj in objects:
        yield from walk(obj)
        if obj["kind"] == "TriggerAuthentication":
            for ref in obj["spec"].get("secretTargetRef", []):
                yield ref["name"], ref["key"], False


def missing_secret_keys(objects: list[Obj]) -> list[str]:
    """Required secret keys that no rendered Secret provides."""
    provided = {
        (s["metadata"]["name"], key)
        for s in find(objects, "Secret")
        for key in {**s.get("data", {}), **s.get("stringData", {})}
    }
    return sorted(
        {
            f"{secret}/{key}"
            for secret, key, optional in secret_references(objects)
            if not optional and (secret, key) not in provided
        }
    )


def redis_ingress_problems(objects: list[Obj]) -> list[str]:
    """Redis accepts connections only from the three services (and the KEDA operator)."""
    policies = [
        p
        for p in find(objects, "NetworkPolicy")
        if p["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/name") == "newsflow-redis"
        or p["spec"]["podSelector"] == {}
    ]
    if not any(p["spec"]["podSelector"] == {} and not p["spec"].get("ingress") for p in policies):
        return ["no default-deny ingress policy"]
    problems = []
    allowed_components = {s.name for s in SERVICES}
    for policy in policies:
        for rule in policy["spec"].get("ingress", []):
            if "from" not in rule:
                problems.append(f"{policy['metadata']['name']}: a rule without `from` admits all")
            for peer in rule.get("from", []):
                if "namespaceSelector" in peer:
                    labels = peer["namespaceSelector"].get("matchLabels", {})
                    pod_labels = peer.get("podSelector", {}).get("matchLabels", {})
                    if labels.get("kubernetes.io/metadata.name") != "keda" or (
                        pod_labels.get("app.kubernetes.io/name") != "keda-operator"
                    ):
                        problems.append(f"{policy['metadata']['name']}: admits {peer}")
                    continue
                expressions = peer.get("podSelector", {}).get("matchExpressions", [])
                components = {
                    value
                    for e in expressions
                    if e["key"] == "app.kubernetes.io/component" and e["operator"] == "In"
                    for value in e["values"]
                }
                if not expressions or not components <= allowed_components:
                    problems.append(f"{policy['metadata']['name']}: admits {peer}")
    return problems


# --- Redis ------------------------------------------------------------------------------------


def redis_conf() -> dict[str, str]:
    """The directives of deploy/redis/redis.conf (each appears once), quotes removed."""
    directives: dict[str, str] = {}
    for line in (DEPLOY / "redis" / "redis.conf").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.strip().partition(" ")
            assert name not in directives, f"redis.conf sets {name} twice"
            directives[name] = value.strip().strip('"')
    return directives


@dataclass
class AclUser:
    name: str
    enabled: bool = False
    password_hashes: list[str] = field(default_factory=list)
    plaintext_passwords: int = 0
    nopass: bool = False
    # (mode, pattern) with mode R, W or RW.
    keys: set[tuple[str, str]] = field(default_factory=set)
    channels: set[str] = field(default_factory=set)
    # `+cmd`, `-@category`, ... in file order (Redis applies them left to right).
    command_rules: list[str] = field(default_factory=list)

    @property
    def allowed(self) -> list[str]:
        return [rule[1:] for rule in self.command_rules if rule.startswith("+")]


def parse_acl(text: str) -> dict[str, AclUser]:
    """Parse a Redis ACL file (https://redis.io/docs/latest/operate/oss_and_stack/management/security/acl/)."""
    users: dict[str, AclUser] = {}
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split()
        if not words:
            continue
        if words[0] != "user" or len(words) < 2:
            raise ValueError(f"line {number}: ACL files have only `user` lines (no comments)")
        user = users.setdefault(words[1], AclUser(words[1]))
        for rule in words[2:]:
            _apply_acl_rule(user, rule, number)
    return users


def _apply_acl_rule(user: AclUser, rule: str, number: int) -> None:
    key_rule = re.fullmatch(r"(?:%(R|W|RW))?~(.+)", rule)
    if rule in ("on", "off"):
        user.enabled = rule == "on"
    elif rule.startswith("#"):
        user.password_hashes.append(rule[1:])
    elif rule.startswith(">"):
        user.plaintext_passwords += 1
    elif rule == "nopass":
        user.nopass = True
    elif rule == "resetpass":
        user.password_hashes.clear()
        user.plaintext_passwords = 0
        user.nopass = False
    elif key_rule:
        user.keys.add((key_rule.group(1) or "RW", key_rule.group(2)))
    elif rule == "allkeys":
        user.keys.add(("RW", "*"))
    elif rule == "resetkeys":
        user.keys.clear()
    elif rule.startswith("&"):
        user.channels.add(rule[1:])
    elif rule == "allchannels":
        user.channels.add("*")
    elif rule == "resetchannels":
        user.channels.clear()
    elif rule[0] in "+-":
        user.command_rules.append(rule.lower())
    elif rule in ("allcommands", "nocommands"):
        user.command_rules.append("+@all" if rule == "allcommands" else "-@all")
    else:
        raise ValueError(f"line {number}: rule {rule!r} is not understood here (selectors?)")


# What every service runs: a consumer group on its input stream(s) (shared/consumer.py), XADD and
# the guarded-XADD Lua script for its outputs, MULTI/EXEC and WATCH, lag/DLQ gauges (shared/metrics.py).
BASE_SERVICE_COMMANDS = frozenset(
    {
        "ping",
        "hello",
        "client|setname",
        "client|getname",
        "xreadgroup",
        "xack",
        "xautoclaim",
        "xpending",
        "xinfo|groups",
        "xinfo|consumers",
        "xinfo|stream",
        "xgroup|create",
        "xgroup|createconsumer",
        "xgroup|delconsumer",
        "xadd",
        "xlen",
        "multi",
        "exec",
        "discard",
        "watch",
        "unwatch",
        "eval",
        "evalsha",
        "script|load",
    }
)
# The list; the rest of BASE_SERVICE_COMMANDS is what the code uses besides.
REQUIRED_SERVICE_COMMANDS = frozenset(
    {"xreadgroup", "xack", "xautoclaim", "xpending", "xinfo|groups", "xgroup|create"}
    | {"xgroup|createconsumer", "xgroup|delconsumer", "xadd", "multi", "exec", "evalsha", "eval"}
    | {"ping", "client|setname"}
)
# Per service, beyond the base: commands, and categories whose commands all name their keys (so the
# key patterns bound them) with no admin command among them.
EXTRA_SERVICE_COMMANDS = {
    "ingest": frozenset(),
    # The related index drops an article's hash when it is re-indexed (services/enrich/related.py).
    "enrich": frozenset({"del"}),
    # The read API pages and follows articles.published; the listing checks a key exists.
    "publish": frozenset({"xrevrange", "xread", "exists"}),
}
SERVICE_CATEGORIES = {
    "ingest": {"@hash"},
    "enrich": {"@hash", "@sortedset"},
    "publish": {"@hash", "@sortedset", "@string"},
}
KEDA_COMMANDS = frozenset({"ping", "hello", "client|setname", "xinfo|groups", "xpending", "xlen"})


def owned_keys() -> dict[str, dict[str, str]]:
    """Example keys each service writes, with the access its user needs: R, W or RW."""
    return {
        "ingest": {streams.INGEST_LEDGER: "RW"},
        "enrich": {f"{RELATED_PREFIX}:articles": "RW"},
        "publish": {
            streams.PUBLISH_VERSIONS: "RW",
            streams.PUBLISH_LATEST: "RW",
            streams.PUBLISH_NINJS3: "RW",
            f"{LISTING_PREFIX}:all": "RW",
            f"{WEBHOOK_FOLLOWED_PREFIX}subscriber": "RW",
            f"{WEBHOOK_DLQ_PREFIX}subscriber": "W",
        },
    }


def expected_acl_keys() -> dict[str, set[tuple[str, str]]]:
    """Each user's key access, from shared.streams: RW on its input and its own keys, W elsewhere."""
    publish_keys = (streams.PUBLISH_LATEST, streams.PUBLISH_NINJS3, f"{LISTING_PREFIX}:all")
    assert all(fnmatch.fnmatchcase(k, key_prefix(streams.PUBLISH_VERSIONS)) for k in publish_keys)
    return {
        "ingest": {
            ("RW", streams.INBOUND),
            ("W", streams.RAW),
            ("W", streams.DLQ),
            ("RW", key_prefix(streams.INGEST_LEDGER)),
        },
        "enrich": {
            ("RW", streams.RAW),
            # Its second group (ENRICH_INDEX_GROUP) keeps the related index current.
            ("RW", streams.PUBLISHED),
            ("W", streams.TAGGED),
            ("W", streams.DLQ),
            ("RW", f"{RELATED_PREFIX}:*"),
        },
        "publish": {
            ("RW", streams.TAGGED),
            # Written here, read back by the read API and by the webhook subscribers' groups.
            ("RW", streams.PUBLISHED),
            ("W", streams.DLQ),
            ("RW", key_prefix(streams.PUBLISH_VERSIONS)),
            ("W", f"{WEBHOOK_DLQ_PREFIX}*"),
            ("RW", f"{WEBHOOK_FOLLOWED_PREFIX}*"),
        },
        "keda": {("R", s.stream) for s in SERVICES},
    }


def acl_problems(users: dict[str, AclUser]) -> list[str]:
    problems = []
    expected_keys = expected_acl_keys()
    if set(users) != {"default", *expected_keys}:
        problems.append(f"users are {sorted(users)}, expected default + {sorted(expected_keys)}")
    for user in users.values():
        if user.plaintext_passwords or user.nopass:
            problems.append(f"{user.name}: a plaintext password or nopass (only #<sha256> hashes)")
        if len(user.password_hashes) != 1 or not re.fullmatch(r"[0-9a-f]{64}", user.password_hashes[0]):
            problems.append(f"{user.name}: needs exactly one #<sha256> password hash")
        if not user.enabled:
            problems.append(f"{user.name}: is off")
    for name, keys in expected_keys.items():
        if name not in users:
            continue
        user = users[name]
        if user.keys != keys:
            problems.append(f"{name}: keys {sorted(user.keys)}, expected {sorted(keys)}")
        if user.channels:
            problems.append(f"{name}: may use pub/sub channels {sorted(user.channels)}")
        if user.command_rules[:1] != ["-@all"] or "@all" in user.allowed:
            problems.append(f"{name}: must start from -@all and never add @all")
        commands = {c for c in user.allowed if not c.startswith("@")}
        categories = {c for c in user.allowed if c.startswith("@")}
        if name == "keda":
            if commands != KEDA_COMMANDS or categories:
                problems.append(f"keda: commands {sorted(user.allowed)}, expected read-only lag")
            continue
        expected = BASE_SERVICE_COMMANDS | EXTRA_SERVICE_COMMANDS[name]
        if commands != expected:
            problems.append(
                f"{name}: missing {sorted(expected - commands)}, extra {sorted(commands - expected)}"
            )
        if categories != SERVICE_CATEGORIES[name]:
            problems.append(f"{name}: categories {sorted(categories)}")
    return problems
