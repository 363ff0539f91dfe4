"""Render a kustomization: with the kustomize binary (or `kubectl kustomize`) when one is on PATH,
else with the small renderer below.

The renderer implements only what deploy/k8s uses, and refuses anything else with
`UnsupportedKustomization` rather than rendering it wrongly:
`resources` (files and directories), `components`, `namespace`, `labels` (metadata only),
`images`, `patches` (inline JSON 6902 with a kind/name target) and `configMapGenerator` from files
with `generatorOptions.disableNameSuffixHash: true`. Where both are available a test checks that it
renders exactly what kustomize renders.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml

Obj = dict[str, Any]

KUSTOMIZATION_KINDS = {"Kustomization", "Component"}
SUPPORTED_KEYS = {
    "apiVersion",
    "kind",
    "namespace",
    "resources",
    "components",
    "labels",
    "images",
    "patches",
    "configMapGenerator",
    "generatorOptions",
}
# Kinds without a namespace among those deploy/k8s might use; `Namespace` itself is renamed.
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "ClusterTriggerAuthentication"}


class UnsupportedKustomization(Exception):
    """The kustomization uses a feature this renderer does not implement."""


def kustomize_command() -> list[str] | None:
    """The command that renders a kustomization directory, or None when no binary is installed."""
    kustomize = shutil.which("kustomize")
    if kustomize:
        return [kustomize, "build"]
    kubectl = shutil.which("kubectl")
    if kubectl:
        return [kubectl, "kustomize"]
    return None


def render_with_binary(directory: Path, command: list[str]) -> list[Obj]:
    result = subprocess.run(
        [*command, str(directory)], capture_output=True, text=True, timeout=60, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} {directory} failed:\n{result.stderr}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc is not None]


def render(directory: Path) -> list[Obj]:
    command = kustomize_command()
    if command is None:
        return render_in_python(directory)
    return render_with_binary(directory, command)


def render_in_python(directory: Path) -> list[Obj]:
    return _build(directory.resolve(), component=False)


# --- the renderer ------------------------------------------------------------------------------


def _load_kustomization(directory: Path) -> Obj:
    path = directory / "kustomization.yaml"
    if not path.is_file():
        raise UnsupportedKustomization(f"{directory}: no kustomization.yaml")
    spec = yaml.safe_load(path.read_text())
    if not isinstance(spec, dict):
        raise UnsupportedKustomization(f"{path}: not a mapping")
    unknown = set(spec) - SUPPORTED_KEYS
    if unknown:
        raise UnsupportedKustomization(f"{path}: unsupported fields {sorted(unknown)}")
    if spec.get("kind", "Kustomization") not in KUSTOMIZATION_KINDS:
        raise UnsupportedKustomization(f"{path}: kind {spec.get('kind')!r}")
    return spec


def _load_documents(path: Path) -> list[Obj]:
    docs = [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
    for doc in docs:
        if not isinstance(doc, dict) or "kind" not in doc:
            raise UnsupportedKustomization(f"{path}: a document is not a Kubernetes object")
    return docs


def _build(directory: Path, *, component: bool) -> list[Obj]:
    spec = _load_kustomization(directory)
    is_component = spec.get("kind") == "Component"
    if is_component != component:
        raise UnsupportedKustomization(f"{directory}: Component used as resource or vice versa")
    objects: list[Obj] = []
    _accumulate(directory, spec, objects)
    for entry in spec.get("components", []):
        _apply_component((directory / entry).resolve(), objects)
    _transform(directory, spec, objects)
    return objects


def _accumulate(directory: Path, spec: Obj, objects: list[Obj]) -> None:
    for entry in spec.get("resources", []):
        target = (directory / entry).resolve()
        if target.is_dir():
            objects.extend(_build(target, component=False))
        elif target.is_file():
            if directory not in target.parents:
                raise UnsupportedKustomization(f"{directory}: {entry} is outside the kustomization")
            objects.extend(_load_documents(target))
        else:
            raise UnsupportedKustomization(f"{directory}: resource {entry!r} not found")
    objects.extend(_generate_config_maps(directory, spec))


def _apply_component(directory: Path, objects: list[Obj]) -> None:
    """A component adds its resources to the parent's, then transforms the whole set."""
    spec = _load_kustomization(directory)
    if spec.get("kind") != "Component":
        raise UnsupportedKustomization(f"{directory}: listed in components but is not a Component")
    _accumulate(directory, spec, objects)
    for entry in spec.get("components", []):
        _apply_component((directory / entry).resolve(), objects)
    _transform(directory, spec, objects)


def _generate_config_maps(directory: Path, spec: Obj) -> list[Obj]:
    generators = spec.get("configMapGenerator", [])
    if not generators:
        return []
    options = spec.get("generatorOptions", {})
    if options != {"disableNameSuffixHash": True}:
        raise UnsupportedKustomization(
            f"{directory}: only generatorOptions.disableNameSuffixHash: true is implemented"
        )
    generated = []
    for generator in generators:
        if set(generator) - {"name", "files"}:
            raise UnsupportedKustomization(f"{directory}: configMapGenerator supports name, files")
        data = {}
        for entry in generator["files"]:
            key, _, source = entry.rpartition("=") if "=" in entry else ("", "", entry)
            path = (directory / source).resolve()
            if directory not in path.parents:
                raise UnsupportedKustomization(f"{directory}: {entry} is outside the kustomization")
            data[key or path.name] = path.read_text()
        generated.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": generator["name"]},
                "data": data,
            }
        )
    return generated


def _transform(directory: Path, spec: Obj, objects: list[Obj]) -> None:
    for patch in spec.get("patches", []):
        _apply_patch(directory, patch, objects)
    namespace = spec.get("namespace")
    if namespace:
        for obj in objects:
            if obj["kind"] == "Namespace":
                obj["metadata"]["name"] = namespace
            elif obj["kind"] not in CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = namespace
    for label in spec.get("labels", []):
        if set(label) - {"pairs", "includeSelectors"} or label.get("includeSelectors", False):
            raise UnsupportedKustomization(f"{directory}: labels support pairs only")
        for obj in objects:
            obj["metadata"].setdefault("labels", {}).update(label["pairs"])
    for image in spec.get("images", []):
        if set(image) - {"name", "newName", "newTag", "digest"}:
            raise UnsupportedKustomization(f"{directory}: images support name/newName/newTag/digest")
        for obj in objects:
            for container in _containers(obj):
                container["image"] = _retag(container["image"], image)


def _containers(node: Any) -> Iterable[Obj]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in {"containers", "initContainers"} and isinstance(value, list):
                yield from (c for c in value if isinstance(c, dict) and "image" in c)
            else:
                yield from _containers(value)
    elif isinstance(node, list):
        for item in node:
            yield from _containers(item)


def _split_image(image: str) -> tuple[str, str]:
    """`registry:5000/name:tag@sha256:...` -> (`registry:5000/name`, `:tag@sha256:...`)."""
    name, at, digest = image.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon:] + at + digest
    return name, at + digest


def _retag(image: str, rule: Obj) -> str:
    name, suffix = _split_image(image)
    if name != rule["name"]:
        return image
    new_name = str(rule.get("newName", name))
    if "digest" in rule:
        return f"{new_name}@{rule['digest']}"
    if "newTag" in rule:
        return f"{new_name}:{rule['newTag']}"
    return new_name + suffix


def _apply_patch(directory: Path, patch: Obj, objects: list[Obj]) -> None:
    if set(patch) != {"target", "patch"} or set(patch["target"]) - {"kind", "name"}:
        raise UnsupportedKustomization(
            f"{directory}: patches need an inline `patch` and a kind/name `target`"
        )
    operations = yaml.safe_load(patch["patch"])
    if not isinstance(operations, list):
        raise UnsupportedKustomization(f"{directory}: only JSON 6902 patches (a list) are implemented")
    target = patch["target"]
    matched = [
        obj
        for obj in objects
        if obj["kind"] == target.get("kind", obj["kind"])
        and obj["metadata"]["name"] == target.get("name", obj["metadata"]["name"])
    ]
    if not matched:
        raise UnsupportedKustomization(f"{directory}: patch target {target} matches nothing")
    for obj in matched:
        for operation in operations:
            _json_patch(obj, operation)


def _json_patch(obj: Obj, operation: Obj) -> None:
    op = operation["op"]
    tokens = [t.replace("~1", "/").replace("~0", "~") for t in operation["path"].split("/")[1:]]
    parent: Any = obj
    for token in tokens[:-1]:
        parent = parent[int(token)] if isinstance(parent, list) else parent[token]
    last = tokens[-1]
    handlers: dict[str, Callable[[], None]] = {
        "add": lambda: _add(parent, last, copy.deepcopy(operation["value"])),
        "replace": lambda: _replace(parent, last, copy.deepcopy(operation["value"])),
        "remove": lambda: _remove(parent, last),
    }
    if op not in handlers:
        raise UnsupportedKustomization(f"JSON patch op {op!r} is not implemented")
    handlers[op]()


def _add(parent: Any, key: str, value: Any) -> None:
    if isinstance(parent, list):
        parent.insert(len(parent) if key == "-" else int(key), value)
    else:
        parent[key] = value


def _replace(parent: Any, key: str, value: Any) -> None:
    if isinstance(parent, list):
        parent[int(key)] = value
    elif key in parent:
        parent[key] = value
    else:
        raise KeyError(f"replace: no {key!r} to replace")


def _remove(parent: Any, key: str) -> None:
    if isinstance(parent, list):
        del parent[int(key)]
    else:
        del parent[key]
