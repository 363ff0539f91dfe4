"""deploy/Dockerfile and /.dockerignore, read statically (no Docker engine runs here): a cached
two-phase locked install, a runtime stage without build tools, non-root, the service by command."""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field

import pytest

from tests.deploy import checks
from tests.deploy.checks import SERVICES, find

DOCKERFILE = checks.DEPLOY / "Dockerfile"


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def arguments(self, instruction: str) -> list[str]:
        return [args for name, args in self.instructions if name == instruction]


def parse_stages(text: str) -> list[Stage]:
    """Instructions per stage, continuation lines joined and comments dropped."""
    logical = re.sub(r"\\\n", " ", text)
    stages: list[Stage] = []
    for line in logical.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, args = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            base, _, name = args.partition(" AS ")
            stages.append(Stage(base.strip(), name.strip()))
        elif stages:
            stages[-1].instructions.append((instruction, " ".join(args.split())))
    return stages


def stages() -> list[Stage]:
    return parse_stages(DOCKERFILE.read_text())


def test_build_is_multi_stage_on_one_python_image() -> None:
    build, runtime = stages()
    assert (build.name, runtime.name) == ("build", "runtime")
    assert build.base == runtime.base == "${PYTHON_IMAGE}"


def test_dependencies_install_from_the_lock_before_the_project_is_copied() -> None:
    build = stages()[0]
    names = [name for name, _ in build.instructions]
    syncs = [i for i, (name, args) in enumerate(build.instructions) if "uv sync" in args]
    first_copy = names.index("COPY")
    assert len(syncs) == 2
    deps, project = (build.instructions[i][1] for i in syncs)
    assert syncs[0] < first_copy < syncs[1]
    for command in (deps, project):
        assert "--frozen" in command
        assert "--no-dev" in command
        assert "--no-default-groups" in command  # neither the dev nor the tools group
        assert "--mount=type=cache,target=/root/.cache/uv" in command
    assert "--no-install-project" in deps
    assert "--no-editable" in project


def test_uv_is_the_version_the_makefile_pins() -> None:
    makefile = (checks.REPO / "Makefile").read_text()
    pinned = re.search(r"^UV_VERSION := (\S+)$", makefile, re.MULTILINE)
    assert pinned
    assert f"uv=={pinned.group(1)}" in " ".join(stages()[0].arguments("RUN"))


def test_runtime_stage_has_no_build_tools_and_runs_non_root() -> None:
    runtime = stages()[1]
    runs = " ".join(runtime.arguments("RUN"))
    for tool in ("apt-get", "gcc", "make", "pip ", "uv "):
        assert tool not in runs
    assert runtime.arguments("COPY") == ["--from=build /app/.venv /app/.venv"]
    (user,) = runtime.arguments("USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit()
    assert int(uid) != 0
    assert gid.isdigit()


def test_service_is_chosen_by_command() -> None:
    runtime = stages()[1]
    assert [json.loads(a) for a in runtime.arguments("ENTRYPOINT")] == [["newsflow"]]
    assert [json.loads(a) for a in runtime.arguments("CMD")] == [["run", "ingest"]]
    (exposed,) = runtime.arguments("EXPOSE")
    assert sorted(map(int, exposed.split())) == sorted(s.port for s in SERVICES)


@pytest.mark.parametrize("overlay", ["dev", "production"])
def test_kubernetes_runs_the_images_user(overlay: str) -> None:
    (user,) = stages()[1].arguments("USER")
    uid, _, gid = user.partition(":")
    for deployment in find(checks.rendered(overlay), "Deployment"):
        context = checks.pod_spec(deployment)["securityContext"]
        assert (context["runAsUser"], context["runAsGroup"]) == (int(uid), int(gid))


def test_build_context_allows_only_what_the_wheel_needs() -> None:
    lines = [
        line
        for line in (checks.REPO / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert lines[0] == "*"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    project = tomllib.loads((checks.REPO / "pyproject.toml").read_text())
    packages = set(project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"])
    assert allowed == {"pyproject.toml", "uv.lock", project["project"]["readme"], *packages}
    copied = stages()[0].arguments("COPY")
    for package in packages:
        assert f"{package} ./{package}" in copied
