"""Validators and invariants for the deployment files, each a function that returns its problems.

The tests call every function twice: on the real files (no problems) and on a deliberately broken
copy (at least one problem), so a check that cannot fail is caught.
"""

from __future__ import annotations

import copy
import fnmatch
import ipaddress
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
from services.enrich.settings import EnrichSettings
from services.ingest.settings import IngestSettings
from services.publish.listing import INDEX_PREFIX as LISTING_PREFIX
from services.publish.settings import PublishSettings

# Not in shared.streams yet (webhooks.py says they will move there); imported, not spelt.
from services.publish.webhooks import WEBHOOK_DLQ_PREFIX, WEBHOOK_FOLLOWED_PREFIX
from shared import streams
from shared.settings import ServiceSettings
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
    """`newsflow:ingest:ledger` -> `newsflow:ingest:*`: the pattern a service owns.

    A trailing hash tag (a Redis Cluster slot or partition) is not part of the name:
    `newsflow:publish:versions:{articles.published}` -> `newsflow:publish:*`.
    """
    return streams.base_of(key).rsplit(":", 1)[0] + ":*"


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
    """Redis accepts connections only from the three services, the functions Job (and the KEDA
    operator)."""
    policies = [
        p
        for p in find(objects, "NetworkPolicy")
        if p["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/name") == "newsflow-redis"
        or p["spec"]["podSelector"] == {}
    ]
    if not any(p["spec"]["podSelector"] == {} and not p["spec"].get("ingress") for p in policies):
        return ["no default-deny ingress policy"]
    problems = []
    # And the Job that loads the Functions library as the admin user (base/redis-functions.yaml).
    allowed_components = {s.name for s in SERVICES} | {"redis-functions"}
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


# Destinations no newsflow pod may open a connection to (cluster and private ranges, loopback, the
# metadata address, their IPv6 spellings), and ones publish must reach for webhooks.
FORBIDDEN_EGRESS = (
    "10.0.0.1",
    "10.96.0.1",
    "172.16.0.1",
    "192.168.1.1",
    "100.64.0.1",
    "127.0.0.1",
    "169.254.169.254",
    "0.0.0.0",
    "224.0.0.1",
    "::1",
    "fd00::1",
    "fe80::1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "64:ff9b::a9fe:a9fe",
)
PUBLIC_EGRESS = ("93.184.216.34", "2606:4700::1111")
WEBHOOK_PORTS = frozenset({80, 443})
DNS_PEER = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
}
REDIS_PEER = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "newsflow-redis"}}}


def selects(selector: Obj, labels: dict[str, str]) -> bool:
    """Whether a label selector (matchLabels, matchExpressions In/NotIn/Exists) picks `labels`."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        present = key in labels
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def egress_rules(objects: list[Obj], labels: dict[str, str]) -> list[tuple[str, Obj]] | None:
    """(policy name, rule) of every egress rule for a pod with `labels`; None: no policy, all open."""
    policies = [
        p
        for p in find(objects, "NetworkPolicy")
        if "Egress" in p["spec"].get("policyTypes", []) and selects(p["spec"]["podSelector"], labels)
    ]
    if not policies:
        return None
    return [(p["metadata"]["name"], rule) for p in policies for rule in p["spec"].get("egress", [])]


def _ip_block_admits(block: Obj, address: str) -> bool:
    ip = ipaddress.ip_address(address)
    network = ipaddress.ip_network(block["cidr"])
    if ip.version != network.version or ip not in network:
        return False
    return not any(
        ip in ipaddress.ip_network(e)
        for e in block.get("except", [])
        if ipaddress.ip_network(e).version == ip.version
    )


def _ports(rule: Obj) -> set[tuple[str, int]] | None:
    if "ports" not in rule:
        return None  # every port
    return {(p.get("protocol", "TCP"), p["port"]) for p in rule["ports"]}


def egress_problems(objects: list[Obj]) -> list[str]:
    """Ingest and enrich reach only DNS and Redis; publish also the public internet on 80/443."""
    if not any(
        p["spec"]["podSelector"] == {}
        and "Egress" in p["spec"].get("policyTypes", [])
        and not p["spec"].get("egress")
        for p in find(objects, "NetworkPolicy")
    ):
        return ["no default-deny egress policy"]
    problems: list[str] = []
    for service in SERVICES:
        labels = one(objects, "Deployment", service.deployment)["spec"]["template"]["metadata"]["labels"]
        rules = egress_rules(objects, labels)
        if rules is None:
            problems.append(f"{service.name}: no egress policy selects it, so egress is open")
            continue
        reached: set[str] = set()
        for name, rule in rules:
            ports = _ports(rule)
            if "to" not in rule:
                problems.append(f"{name}: a rule without `to` lets {service.name} reach anything")
                continue
            for peer in rule["to"]:
                if peer == DNS_PEER and ports is not None and ports <= {("UDP", 53), ("TCP", 53)}:
                    reached.add("dns")
                elif peer == REDIS_PEER and ports == {("TCP", 6379)}:
                    reached.add("redis")
                elif "ipBlock" in peer and service.name == "publish" and ports is not None:
                    if {port for _, port in ports} - WEBHOOK_PORTS or {proto for proto, _ in ports} != {
                        "TCP"
                    }:
                        problems.append(f"{name}: webhook egress on ports {sorted(ports)}")
                    leaks = [a for a in FORBIDDEN_EGRESS if _ip_block_admits(peer["ipBlock"], a)]
                    if leaks:
                        problems.append(f"{name}: lets publish reach {leaks}")
                    reached |= {a for a in PUBLIC_EGRESS if _ip_block_admits(peer["ipBlock"], a)}
                else:
                    problems.append(f"{name}: lets {service.name} reach {peer} on {ports or 'every port'}")
        needed = {"dns", "redis"} | (set(PUBLIC_EGRESS) if service.name == "publish" else set())
        if needed - reached:
            problems.append(f"{service.name}: cannot reach {sorted(needed - reached)}")
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


# Where a user's line grants a key: its own (root) rules, or a selector's.
ROOT, SELECTOR = "root", "selector"


@dataclass
class AclRules:
    """Key patterns, channels and command rules: a user's own (root) permissions, or a selector's."""

    # (mode, pattern) with mode R, W or RW.
    keys: set[tuple[str, str]] = field(default_factory=set)
    channels: set[str] = field(default_factory=set)
    # `+cmd`, `-@category`, ... in file order (Redis applies them left to right).
    command_rules: list[str] = field(default_factory=list)

    @property
    def allowed(self) -> list[str]:
        return [rule[1:] for rule in self.command_rules if rule.startswith("+")]

    def modes(self, key: str) -> set[str]:
        """The modes (R, W, RW) of the patterns that match `key`."""
        return {mode for mode, pattern in self.keys if fnmatch.fnmatchcase(key, pattern)}


@dataclass(kw_only=True)
class AclUser(AclRules):
    name: str
    enabled: bool = False
    password_hashes: list[str] = field(default_factory=list)
    plaintext_passwords: int = 0
    nopass: bool = False
    # Redis 7 selectors, `(~key +cmd ...)`: Redis runs a command if the root rules allow it and
    # cover all its keys, or if one selector does; rules after a selector are the root's again.
    # https://redis.io/docs/latest/operate/oss_and_stack/management/security/acl/#selectors
    selectors: list[AclRules] = field(default_factory=list)

    def access(self, key: str) -> set[tuple[str, str]]:
        """(mode, ROOT or SELECTOR) for the root rules and each selector whose patterns match `key`."""
        found = {(mode, ROOT) for mode in self.modes(key)}
        return found | {(mode, SELECTOR) for selector in self.selectors for mode in selector.modes(key)}


def parse_acl(text: str) -> dict[str, AclUser]:
    """Parse a Redis ACL file (https://redis.io/docs/latest/operate/oss_and_stack/management/security/acl/)."""
    users: dict[str, AclUser] = {}
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split()
        if not words:
            continue
        if words[0] != "user" or len(words) < 2:
            raise ValueError(f"line {number}: ACL files have only `user` lines (no comments)")
        user = users.setdefault(words[1], AclUser(name=words[1]))
        for rule in _merge_selectors(words[2:], number):
            if rule.startswith("("):
                selector = AclRules()
                for selector_rule in rule[1:-1].split():
                    if not _apply_permission_rule(selector, selector_rule):
                        raise ValueError(
                            f"line {number}: rule {selector_rule!r} is not allowed in a selector"
                        )
                user.selectors.append(selector)
            elif not _apply_permission_rule(user, rule) and not _apply_user_rule(user, rule):
                raise ValueError(f"line {number}: rule {rule!r} is not understood here")
    return users


def _merge_selectors(words: list[str], number: int) -> Iterator[str]:
    """The words of a line, each selector `(...)` joined into one (as Redis does when loading)."""
    selector: list[str] = []
    for word in words:
        if selector or word.startswith("("):
            selector.append(word)
            if word.endswith(")"):
                yield " ".join(selector)
                selector = []
        else:
            yield word
    if selector:
        raise ValueError(f"line {number}: selector {' '.join(selector)!r} is not closed")


def _apply_permission_rule(rules: AclRules, rule: str) -> bool:
    """A key, channel or command rule: the only kinds a selector may hold. False if not one."""
    key_rule = re.fullmatch(r"(?:%(R|W|RW))?~(.+)", rule)
    if key_rule:
        rules.keys.add((key_rule.group(1) or "RW", key_rule.group(2)))
    elif rule == "allkeys":
        rules.keys.add(("RW", "*"))
    elif rule == "resetkeys":
        rules.keys.clear()
    elif rule.startswith("&"):
        rules.channels.add(rule[1:])
    elif rule == "allchannels":
        rules.channels.add("*")
    elif rule == "resetchannels":
        rules.channels.clear()
    elif rule[0] in "+-":
        rules.command_rules.append(rule.lower())
    elif rule in ("allcommands", "nocommands"):
        rules.command_rules.append("+@all" if rule == "allcommands" else "-@all")
    else:
        return False
    return True


def _apply_user_rule(user: AclUser, rule: str) -> bool:
    """A rule of the user itself (on/off, passwords, selectors). False if not one."""
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
    elif rule == "clearselectors":
        user.selectors.clear()
    else:
        return False
    return True


# What a consumer of a stream runs on it (shared/runtime/consumer.py): its group, reads, acks, takes over
# and cleans up; XLEN and XINFO for the lag gauges (shared/runtime/metrics.py). No XADD, DEL or XTRIM.
CONSUMER_COMMANDS = frozenset(
    {
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
        "xlen",
    }
)
# The consumer commands that write the stream's group state (XACK, XAUTOCLAIM, XGROUP): what a user
# that only reads a stream otherwise (publish on articles.tagged) is granted in a selector.
CONSUMER_WRITE_COMMANDS = frozenset(
    {"xack", "xautoclaim", "xgroup|create", "xgroup|createconsumer", "xgroup|delconsumer"}
)
# What every service runs: a consumer group on its input stream(s), XADD for its outputs,
# MULTI/EXEC and WATCH, and FCALL_RO for the check of the Functions library at each connection
# (shared/runtime/functions.py). No EVAL, EVALSHA or SCRIPT: no Lua of its own.
BASE_SERVICE_COMMANDS = CONSUMER_COMMANDS | frozenset(
    {
        "ping",
        "hello",
        "client|setname",
        "client|getname",
        "xadd",
        "multi",
        "exec",
        "discard",
        "watch",
        "unwatch",
        "fcall_ro",
    }
)
# The list; the rest of BASE_SERVICE_COMMANDS is what the code uses besides.
REQUIRED_SERVICE_COMMANDS = frozenset(
    {"xreadgroup", "xack", "xautoclaim", "xpending", "xinfo|groups", "xgroup|create"}
    | {"xgroup|createconsumer", "xgroup|delconsumer", "xadd", "multi", "exec", "fcall_ro"}
    | {"ping", "client|setname"}
)
# Per service, beyond the base: commands, and categories whose commands all name their keys (so the
# key patterns bound them) with no admin command among them.
EXTRA_SERVICE_COMMANDS = {
    # Ingest trims articles.inbound, which producers outside newsflow never trim (XTRIM).
    "ingest": frozenset({"xtrim"}),
    # The related index drops an article's hash when it is re-indexed (services/enrich/related.py);
    # FCALL: the entity registry's functions.
    "enrich": frozenset({"del", "fcall"}),
    # The read API pages and follows articles.published; the listing checks a key exists; FCALL:
    # the version guard, the embargo release, the registry's edits and the dead-letter replay.
    "publish": frozenset({"xrevrange", "xread", "exists", "fcall"}),
}
# The commands of each user's one selector, on the streams stream_access() grants there.
SELECTOR_COMMANDS = {"enrich": CONSUMER_COMMANDS, "publish": CONSUMER_WRITE_COMMANDS}
SERVICE_CATEGORIES = {
    "ingest": {"@hash"},
    # Sets: the entity registry's candidate indexes (services/enrich/registry.py).
    "enrich": {"@hash", "@sortedset", "@set"},
    "publish": {"@hash", "@sortedset", "@string", "@set"},
}
KEDA_COMMANDS = frozenset({"ping", "hello", "client|setname", "xinfo|groups", "xpending", "xlen"})

ALL_STREAMS = (streams.INBOUND, streams.RAW, streams.TAGGED, streams.PUBLISHED, streams.DLQ)
# Split into `<stream>:{p}` on a Redis Cluster (shared/streams.py partitioned(); the services read
# and write all_partitions()/for_article() of these). articles.inbound has producers' own streams
# spelt the same way, `articles.inbound:{agency-a}` (streams.inbound_of), which ingest reads.
PARTITIONED_STREAMS = frozenset({streams.RAW, streams.TAGGED, streams.INBOUND})
# Partitions of the example keys the checks try: any count above one, any partition of it.
EXAMPLE_PARTITIONS = 4


def stream_keys(stream: str) -> list[str]:
    """Example keys of a stream: its name, and one of its partitions if it is partitioned."""
    keys = [stream]
    if stream in PARTITIONED_STREAMS:
        keys.append(streams.partitioned(stream, EXAMPLE_PARTITIONS - 1, EXAMPLE_PARTITIONS))
    return keys


def stream_patterns(mode: str, stream: str) -> set[tuple[str, str]]:
    """`articles.raw` -> its name and `articles.raw:*`, the pattern of its partitions.

    stream_key_problems() checks that the pattern matches what streams.partitioned() makes.
    """
    return {(mode, stream)} | ({(mode, f"{stream}:*")} if stream in PARTITIONED_STREAMS else set())


Grant = tuple[str, str]


def stream_access() -> dict[str, dict[str, frozenset[Grant]]]:
    """The streams each user reaches: each grant (mode R, W or RW; ROOT or SELECTOR, where its
    line grants it)."""
    root_w, root_rw = frozenset({("W", ROOT)}), frozenset({("RW", ROOT)})
    return {
        # It writes articles.raw and never reads it back.
        "ingest": {streams.INBOUND: root_rw, streams.RAW: root_w, streams.DLQ: root_w},
        "enrich": {
            # Read-write (XACK is a write) but in a selector with CONSUMER_COMMANDS only: the +xadd
            # and +del enrich needs elsewhere cannot forge or destroy its inputs.
            streams.RAW: frozenset({("RW", SELECTOR)}),
            # Its second group (ENRICH_INDEX_GROUP) keeps the related index current.
            streams.PUBLISHED: frozenset({("RW", SELECTOR)}),
            streams.TAGGED: root_w,
            streams.DLQ: root_w,
        },
        "publish": {
            # Its input, read-only (XREADGROUP, XPENDING, XINFO and XLEN only read it), and its
            # group's writes (XACK, XAUTOCLAIM, XGROUP) in a selector: XADD to it is refused.
            streams.TAGGED: frozenset({("R", ROOT), ("RW", SELECTOR)}),
            # Written here, read back by the read API and by the webhook subscribers' groups.
            streams.PUBLISHED: root_rw,
            streams.DLQ: root_w,
        },
        "keda": {s.stream: frozenset({("R", ROOT)}) for s in SERVICES},
    }


def owned_keys() -> dict[str, dict[str, str]]:
    """Example keys each service writes, with the access its user needs: R, W or RW."""
    return {
        "ingest": {
            streams.INGEST_LEDGER: "RW",
            # On a Redis Cluster the ledger is partitioned beside articles.raw.
            streams.partitioned(streams.INGEST_LEDGER, 1, EXAMPLE_PARTITIONS): "RW",
        },
        "enrich": {
            f"{RELATED_PREFIX}:articles": "RW",
            f"{streams.ENTITY_PREFIX}:doc": "RW",
            f"{streams.SAME_STORY_PREFIX}:sig": "RW",
        },
        "publish": {
            # The entities read and edit API (services/publish/entities_api.py).
            f"{streams.ENTITY_PREFIX}:doc": "RW",
            streams.PUBLISH_VERSIONS: "RW",
            streams.PUBLISH_LATEST: "RW",
            streams.PUBLISH_TAGGED: "RW",
            f"{LISTING_PREFIX}:all": "RW",
            f"{WEBHOOK_FOLLOWED_PREFIX}subscriber": "RW",
            f"{WEBHOOK_DLQ_PREFIX}subscriber": "W",
        },
    }


def expected_acl_keys() -> dict[str, set[tuple[str, str]]]:
    """Each user's root key patterns, from shared.streams: its streams' and its own keys'."""
    publish_keys = (streams.PUBLISH_LATEST, streams.PUBLISH_TAGGED, f"{LISTING_PREFIX}:all")
    assert all(fnmatch.fnmatchcase(k, key_prefix(streams.PUBLISH_VERSIONS)) for k in publish_keys)
    own = {
        "ingest": {("RW", key_prefix(streams.INGEST_LEDGER))},
        # Its prefix without the hash tag that keeps the index on one Cluster slot.
        "enrich": {
            ("RW", f"{streams.base_of(RELATED_PREFIX)}:*"),
            ("RW", f"{streams.base_of(streams.ENTITY_PREFIX)}:*"),
            ("RW", f"{streams.base_of(streams.SAME_STORY_PREFIX)}:*"),
        },
        "publish": {
            ("RW", f"{streams.base_of(streams.ENTITY_PREFIX)}:*"),
            ("RW", key_prefix(streams.PUBLISH_VERSIONS)),
            ("W", f"{WEBHOOK_DLQ_PREFIX}*"),
            ("RW", f"{WEBHOOK_FOLLOWED_PREFIX}*"),
        },
        "keda": set(),
    }
    return {user: own[user] | _stream_patterns_in(access, ROOT) for user, access in stream_access().items()}


def expected_acl_selectors() -> dict[str, list[tuple[set[tuple[str, str]], frozenset[str]]]]:
    """Each user's selectors as (key patterns, commands): one for the streams it only consumes."""
    expected: dict[str, list[tuple[set[tuple[str, str]], frozenset[str]]]] = {}
    for user, access in stream_access().items():
        keys = _stream_patterns_in(access, SELECTOR)
        expected[user] = [(keys, SELECTOR_COMMANDS[user])] if keys else []
    return expected


def _stream_patterns_in(access: dict[str, frozenset[Grant]], where: str) -> set[tuple[str, str]]:
    return {
        pattern
        for stream, grants in access.items()
        for mode, granted_in in grants
        if granted_in == where
        for pattern in stream_patterns(mode, stream)
    }


def _commands_problems(
    where: str, rules: AclRules, expected: frozenset[str], categories: set[str]
) -> list[str]:
    problems = []
    if rules.command_rules[:1] != ["-@all"] or "@all" in rules.allowed:
        problems.append(f"{where}: must start from -@all and never add @all")
    commands = {c for c in rules.allowed if not c.startswith("@")}
    if commands != expected:
        problems.append(
            f"{where}: missing {sorted(expected - commands)}, extra {sorted(commands - expected)}"
        )
    found = {c for c in rules.allowed if c.startswith("@")}
    if found != categories:
        problems.append(f"{where}: categories {sorted(found)}, expected {sorted(categories)}")
    return problems


def stream_key_problems(users: dict[str, AclUser]) -> list[str]:
    """Each stream's keys, its partitions' too, are in exactly its users' patterns, where expected."""
    problems = []
    for name, access in stream_access().items():
        if name not in users:
            continue
        for stream in ALL_STREAMS:
            expected = set(access.get(stream, ()))
            for key in stream_keys(stream):
                found = users[name].access(key)
                if found != expected:
                    problems.append(f"{name}: reaches {key} as {sorted(found)}, expected {sorted(expected)}")
    return problems


def _default_and_admin_problems(users: dict[str, AclUser]) -> list[str]:
    """`default` (a connection that never AUTHs) is off and may do nothing; `admin` may do all."""
    problems = []
    default = users.get("default")
    if default is not None and (
        default.enabled
        or default.password_hashes
        or default.plaintext_passwords
        or default.nopass
        or default.keys
        or default.channels
        or default.allowed
        or default.selectors
    ):
        problems.append("default: must be off, without password, keys, channels or commands")
    admin = users.get("admin")
    if admin is not None and (admin.keys != {("RW", "*")} or admin.allowed != ["@all"] or admin.selectors):
        problems.append("admin: must reach every key with every command")
    return problems


def acl_problems(users: dict[str, AclUser]) -> list[str]:
    problems = []
    expected_keys = expected_acl_keys()
    expected_selectors = expected_acl_selectors()
    if set(users) != {"default", "admin", *expected_keys}:
        problems.append(f"users are {sorted(users)}, expected default, admin + {sorted(expected_keys)}")
    problems += _default_and_admin_problems(users)
    for user in (u for u in users.values() if u.name != "default"):
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
        if user.channels or any(s.channels for s in user.selectors):
            problems.append(f"{name}: may use pub/sub channels")
        if name == "keda":
            problems += _commands_problems(name, user, KEDA_COMMANDS, set())
        else:
            expected = BASE_SERVICE_COMMANDS | EXTRA_SERVICE_COMMANDS[name]
            problems += _commands_problems(name, user, expected, SERVICE_CATEGORIES[name])
        selectors = expected_selectors[name]
        if len(user.selectors) != len(selectors):
            problems.append(f"{name}: {len(user.selectors)} selectors, expected {len(selectors)}")
        for number, (selector, (selector_keys, commands)) in enumerate(
            zip(user.selectors, selectors, strict=False), 1
        ):
            where = f"{name} selector {number}"
            if selector.keys != selector_keys:
                problems.append(f"{where}: keys {sorted(selector.keys)}, expected {sorted(selector_keys)}")
            problems += _commands_problems(where, selector, commands, set())
    return problems + stream_key_problems(users)
