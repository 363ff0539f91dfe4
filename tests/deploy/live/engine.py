"""The Docker side of `make deploy-test`: packages, the engine, and images built without a registry.

No image registry is reachable from these machines, so every image is built here from Debian's
packages: a base image (`debootstrap` of Debian bookworm, `docker import`ed), the app image
(deploy/Dockerfile with `--build-arg PYTHON_IMAGE=<base>`) and a Redis image
(deploy/local/redis.Dockerfile). The debootstrap tarball is kept in a cache folder and the images
in Docker, so a second run rebuilds only what changed.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from packaging.specifiers import SpecifierSet

REPO = Path(__file__).resolve().parents[3]
DEPLOY = REPO / "deploy"

BASE_IMAGE = "newsflow-base:bookworm"
REDIS_IMAGE = "newsflow-redis:local"
APP_IMAGE = "newsflow:dev"
SUITE = "bookworm"
# python3 for the app, pip to install uv (the Dockerfile's first step), the CA bundle for TLS.
BASE_PACKAGES = ("python3", "python3-pip", "ca-certificates")
# Debian's packages: docker.io carries the engine and a client with BuildKit built in (the
# RUN --mount caches need it); docker-compose is Compose v1, the one bookworm has.
APT_PACKAGES = {
    "dockerd": "docker.io",
    "docker-compose": "docker-compose",
    "debootstrap": "debootstrap",
}
DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEFAULT_SECURITY_MIRROR = "http://deb.debian.org/debian-security"
# Debian's client: the one on PATH may be a newer client without the buildx plugin, which cannot
# run a BuildKit build.
DEBIAN_DOCKER = Path("/usr/bin/docker")
ENGINE_START_TIMEOUT_S = 60.0


def log(message: str) -> None:
    print(f"[deploy-test] {message}", file=sys.stderr, flush=True)


def run(
    args: Sequence[str | Path],
    *,
    env: dict[str, str] | None = None,
    capture: bool = False,
    check: bool = True,
    timeout: float | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command; its output goes to stderr (the one JSON line owns stdout) unless captured."""
    return subprocess.run(
        [str(a) for a in args],
        env=env,
        stdout=subprocess.PIPE if capture else sys.stderr,
        stderr=subprocess.PIPE if capture else sys.stderr,
        text=True,
        check=check,
        timeout=timeout,
        cwd=cwd,
    )


# --- packages ----------------------------------------------------------------------------------


def missing_packages() -> list[str]:
    missing = [package for tool, package in APT_PACKAGES.items() if shutil.which(tool) is None]
    if not DEBIAN_DOCKER.exists() and "docker.io" not in missing:
        missing.append("docker.io")
    return missing


def ensure_packages() -> None:
    """Install docker.io, docker-compose and debootstrap from Debian's packages when missing."""
    missing = missing_packages()
    if not missing:
        return
    if os.geteuid() != 0:
        raise SystemExit(f"needs root to install {missing} (apt-get) and to run dockerd")
    log(f"installing {' '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "--yes", "--no-install-recommends", *missing]
    if run(install, env=env, check=False).returncode != 0:
        # A new machine has no package lists yet.
        run(["apt-get", "update"], env=env)
        run(install, env=env)


def docker_client() -> str:
    return str(DEBIAN_DOCKER) if DEBIAN_DOCKER.exists() else shutil.which("docker") or "docker"


def compose_command() -> list[str]:
    """Compose v2 (`docker compose`) where the client has the plugin, else v1 (`docker-compose`)."""
    docker = docker_client()
    if run([docker, "compose", "version"], capture=True, check=False).returncode == 0:
        return [docker, "compose"]
    v1 = shutil.which("docker-compose")
    if v1 is None:
        raise SystemExit("neither `docker compose` nor `docker-compose` is installed")
    return [v1]


# --- the engine --------------------------------------------------------------------------------


def engine_running() -> bool:
    result = run([docker_client(), "info", "--format", "{{.ServerVersion}}"], capture=True, check=False)
    return result.returncode == 0


@contextmanager
def docker_engine(log_path: Path) -> Iterator[bool]:
    """A running dockerd: the one already running, else one started here and stopped on exit.

    Yields whether this call started it. `--iptables=false`: the engine cannot change the
    firewall on these machines. Published ports still work (docker-proxy, in user space), and so
    do containers on one compose network; containers reach nothing outside the machine (no NAT),
    so image builds use the host's network.
    """
    if engine_running():
        yield False
        return
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        raise SystemExit("dockerd is not installed (apt-get install docker.io)")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log(f"starting dockerd (log: {log_path})")
    with log_path.open("ab") as out:
        process = subprocess.Popen([dockerd, "--iptables=false"], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + ENGINE_START_TIMEOUT_S
        while not engine_running():
            if process.poll() is not None:
                raise SystemExit(f"dockerd exited with {process.returncode}; see {log_path}")
            if time.monotonic() > deadline:
                raise SystemExit(f"dockerd did not answer within {ENGINE_START_TIMEOUT_S:.0f} s")
            time.sleep(0.5)
        yield True
    finally:
        log("stopping the dockerd started here")
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def image_id(tag: str) -> str | None:
    result = run([docker_client(), "image", "inspect", "--format", "{{.Id}}", tag], capture=True, check=False)
    return result.stdout.strip() if result.returncode == 0 else None


def image_mb(tag: str) -> float:
    size = run([docker_client(), "image", "inspect", "--format", "{{.Size}}", tag], capture=True).stdout
    return round(int(size) / 1e6, 1)


# --- the base image ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Mirrors:
    debian: str
    security: str


def apt_mirrors(sources: Sequence[Path] | None = None) -> Mirrors:
    """The Debian mirror (and its security mirror) this machine's apt uses."""
    if sources is None:
        sources = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    uris: list[str] = []
    for path in sources:
        if path.is_file():
            text = path.read_text(errors="replace")
            uris += re.findall(r"^\s*URIs:\s*(\S+)", text, re.MULTILINE)
            uris += re.findall(r"^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)", text, re.MULTILINE)
    debian = [u for u in uris if u.rstrip("/").endswith("/debian")]
    security = [u for u in uris if u.rstrip("/").endswith("/debian-security")]
    return Mirrors(
        (debian or [DEFAULT_MIRROR])[0].rstrip("/"), (security or [DEFAULT_SECURITY_MIRROR])[0].rstrip("/")
    )


def requires_python() -> SpecifierSet:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    return SpecifierSet(project["project"]["requires-python"])


def debootstrap_tarball(cache: Path, mirrors: Mirrors) -> Path:
    """Debian bookworm (minbase + BASE_PACKAGES) as a tarball, made once and kept in `cache`."""
    tarball = cache / f"{SUITE}-minbase-python3.tar"
    if tarball.exists():
        log(f"base root file system cached: {tarball}")
        return tarball
    root = cache / "rootfs.partial"
    if root.exists():
        shutil.rmtree(root)
    log(f"debootstrap {SUITE} from {mirrors.debian} (a few minutes, once)")
    run(
        [
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(BASE_PACKAGES)}",
            SUITE,
            root,
            mirrors.debian,
        ]
    )
    (root / "etc/apt/sources.list").write_text(
        f"deb {mirrors.debian} {SUITE} main\n"
        f"deb {mirrors.debian} {SUITE}-updates main\n"
        f"deb {mirrors.security} {SUITE}-security main\n"
    )
    # Machines whose egress inspects TLS trust an extra CA: the build's pip and uv need it too.
    extra = sorted(Path("/usr/local/share/ca-certificates").glob("*.crt"))
    if extra:
        for cert in extra:
            shutil.copy2(cert, root / "usr/local/share/ca-certificates" / cert.name)
        run(["chroot", root, "update-ca-certificates"])
    # The image is built for one program: pip may install uv into the system Python (PEP 668).
    for marker in root.glob("usr/lib/python3*/EXTERNALLY-MANAGED"):
        marker.unlink()
    run(["chroot", root, "apt-get", "clean"])
    for junk in ("var/lib/apt/lists", "usr/share/doc", "usr/share/man", "usr/share/info"):
        for child in (root / junk).glob("*"):
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    partial = tarball.with_suffix(".partial")
    run(["tar", "--numeric-owner", "-C", root, "-cf", partial, "."])
    partial.rename(tarball)
    shutil.rmtree(root)
    return tarball


def build_base(cache: Path, *, rebuild: bool = False) -> str:
    """BASE_IMAGE, imported from the cached tarball unless Docker has it; checks its Python."""
    if rebuild or image_id(BASE_IMAGE) is None:
        cache.mkdir(parents=True, exist_ok=True)
        tarball = debootstrap_tarball(cache, apt_mirrors())
        log(f"docker import {tarball.name} as {BASE_IMAGE}")
        changes = [
            "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "ENV LANG=C.UTF-8",
            # uv brings its own CA roots unless told to read the system's bundle.
            "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
            'CMD ["bash"]',
        ]
        run([docker_client(), "import", *(f"--change={c}" for c in changes), tarball, BASE_IMAGE])
    probe = "import platform; print(platform.python_version())"
    command = [docker_client(), "run", "--rm", "--network=none", BASE_IMAGE, "python3", "-c", probe]
    version = run(command, capture=True).stdout.strip()
    if version not in requires_python():
        raise SystemExit(f"{BASE_IMAGE} has Python {version}, the project requires {requires_python()}")
    log(f"{BASE_IMAGE}: Python {version}")
    return BASE_IMAGE


# --- the app and Redis images ----------------------------------------------------------------


def docker_build(dockerfile: Path, context: Path, tag: str, build_args: dict[str, str]) -> None:
    """A BuildKit build on the host's network (the engine gives containers no NAT to the registries)."""
    env = {**os.environ, "DOCKER_BUILDKIT": "1"}
    args = [f"--build-arg={k}={v}" for k, v in build_args.items()]
    command = [docker_client(), "build", "--network=host", "--progress=plain", *args]
    run([*command, "-f", dockerfile, "-t", tag, context], env=env)


def build_images(base: str) -> None:
    log(f"building {REDIS_IMAGE}")
    docker_build(DEPLOY / "local" / "redis.Dockerfile", DEPLOY / "local", REDIS_IMAGE, {"BASE_IMAGE": base})
    log(f"building {APP_IMAGE}")
    docker_build(DEPLOY / "Dockerfile", REPO, APP_IMAGE, {"PYTHON_IMAGE": base})
