"""`python -m tests.deploy.live [base|images|test]`: what `make deploy-base/-images/-test` run.

- base: the Debian base image (debootstrap, cached), checked against requires-python;
- images: base, then the app and Redis images;
- test: images, then the compose stack end to end; prints one JSON summary line on stdout.

Each starts dockerd when none answers and stops it again; installs docker.io, docker-compose and
debootstrap from Debian's packages when missing (root).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import traceback
from pathlib import Path

from tests.deploy.live import engine, stack

DEFAULT_CACHE = Path.home() / ".cache" / "newsflow-deploy"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.deploy.live", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("base", "images", "test"), nargs="?", default="test")
    parser.add_argument(
        "--cache-dir", type=Path, default=DEFAULT_CACHE, help="debootstrap tarball, dockerd log"
    )
    parser.add_argument("--rebuild-base", action="store_true", help="import the base image again")
    parser.add_argument("--keep", action="store_true", help="test: leave the stack running")
    args = parser.parse_args(argv)
    if args.command == "test":
        try:
            result = stack.run_all(args.cache_dir, keep=args.keep, rebuild_base=args.rebuild_base)
        except (AssertionError, subprocess.CalledProcessError, OSError) as error:
            traceback.print_exc()
            # Still one line on stdout, for whoever collects the figures.
            result = {"ok": False, "error": f"{type(error).__name__}: {error}"[:500]}
        print(json.dumps(result), flush=True)
        return 0 if result["ok"] else 1
    engine.ensure_packages()
    with engine.docker_engine(args.cache_dir / "dockerd.log"):
        base = engine.build_base(args.cache_dir, rebuild=args.rebuild_base)
        if args.command == "images":
            engine.build_images(base)
        tags = [base] if args.command == "base" else [base, engine.REDIS_IMAGE, engine.APP_IMAGE]
        print(json.dumps({tag: engine.image_mb(tag) for tag in tags}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
