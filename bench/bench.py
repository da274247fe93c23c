#!/usr/bin/env python3
"""Measure a recipe: cold build, no-op rebuild, `up` to healthy, idle memory per service, image sizes.

    python bench/bench.py [RECIPE] [--idle-seconds N]

Runs in a Compose project of its own (tm351-bench) on a free port with a throw-away student folder,
and removes it afterwards. The cold build rebuilds every step (--no-cache) on the base image in use.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tm351vce.shelf.catalogue import load_shelf  # noqa: E402
from tm351vce.shelf.engine import docker_client  # noqa: E402

PROJECT = "tm351-bench"


def cli(*args: str) -> float:
    """Run a tasks.py command; returns the seconds it took, stops the bench if it failed."""
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "tasks.py", *args], cwd=REPO, env={**os.environ, "TM351_PROJECT": PROJECT}, check=False
    )
    if result.returncode != 0:
        sys.exit(f"`tasks.py {' '.join(args)}` failed with exit code {result.returncode}")
    return time.monotonic() - started


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe", nargs="?")
    parser.add_argument("--idle-seconds", type=float, default=20, help="wait before reading idle memory")
    arguments = parser.parse_args()
    shelf = load_shelf()
    recipe = shelf.recipe(arguments.recipe)
    apps = recipe.apps
    figures: dict[str, object] = {"recipe": recipe.name, "version": shelf.version}

    figures["cold_build_s"] = round(cli("build", *apps, "--no-cache"), 1)
    figures["noop_rebuild_s"] = round(cli("build", *apps), 1)
    client = docker_client()
    figures["image_size_mb"] = {
        app: round(client.images.get(shelf.apps[app].image_ref(shelf.version)).attrs["Size"] / 1e6) for app in apps
    }

    with tempfile.TemporaryDirectory(prefix="tm351-bench-") as data_dir:
        try:
            figures["up_to_healthy_s"] = round(
                cli("up", recipe.name, "--data-dir", data_dir, "--port", str(free_port())), 1
            )
            time.sleep(arguments.idle_seconds)
            status = json.loads(
                subprocess.run(
                    [sys.executable, "tasks.py", "status", "--json"],
                    cwd=REPO,
                    env={**os.environ, "TM351_PROJECT": PROJECT},
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
            )
            memory = {service["name"]: service["memory_mib"] for service in status["services"]}
            figures["idle_memory_mib"] = memory
            figures["idle_memory_total_mib"] = round(sum(value or 0 for value in memory.values()), 1)
            figures["memory_budget_mib"] = shelf.memory_mib(recipe)
        finally:
            cli("down", "--purge", "--yes")

    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
