#!/usr/bin/env python3
"""Measure a recipe: cold build, no-op rebuild, `up` to healthy, idle memory per service, image sizes, the
memory with course-sized notebook sessions running (tests/helpers/course_kernel.py), and for a recipe whose apps
sleep until opened, how long a sleeping OpenRefine takes to its first page and the memory with every app awake.

    python bench/bench.py [RECIPE | --all] [--idle-seconds N] [--kernels N] [--no-cold-build]

Runs in a Compose project of its own (tm351-bench) on a free port with a throw-away student folder,
and removes it afterwards. The cold build rebuilds every step (--no-cache) on the base image in use.
"""

from __future__ import annotations

import argparse
import base64
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

from openrefine_wake import Gateway  # noqa: E402 - beside this script

from tests.helpers.course_kernel import COURSE_SESSION  # noqa: E402
from tests.helpers.jupyter_kernel import execute  # noqa: E402
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


def service_memory() -> dict[str, float | None]:
    """Each running service's memory in MiB, as `status --json` reports it."""
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
    return {service["name"]: service["memory_mib"] for service in status["services"]}


def measure(recipe_name: str | None, idle_seconds: float, kernels: int, cold_build: bool) -> dict[str, object]:
    shelf = load_shelf()
    recipe = shelf.recipe(recipe_name)
    apps = recipe.apps
    figures: dict[str, object] = {"recipe": recipe.name, "version": shelf.version}

    if cold_build:
        figures["cold_build_s"] = round(cli("build", *apps, "--no-cache"), 1)
    figures["noop_rebuild_s"] = round(cli("build", *apps), 1)
    client = docker_client()
    figures["image_size_mb"] = {
        app: round(client.images.get(shelf.apps[app].image_ref(shelf.version)).attrs["Size"] / 1e6) for app in apps
    }

    with tempfile.TemporaryDirectory(prefix="tm351-bench-") as data_dir:
        try:
            port = free_port()
            figures["up_to_healthy_s"] = round(cli("up", recipe.name, "--data-dir", data_dir, "--port", str(port)), 1)
            time.sleep(idle_seconds)
            memory = service_memory()
            figures["idle_memory_mib"] = memory
            figures["idle_memory_total_mib"] = round(sum(value or 0 for value in memory.values()), 1)
            figures["awake_budget_mib"] = shelf.awake_budget_mib(recipe)
            figures["budget_mib"] = shelf.budget_mib(recipe)
            password = (Path(data_dir) / ".tm351" / "password").read_text().strip()
            if "jupyter" in apps:
                login = base64.b64encode(f"student:{password}".encode())
                for count in range(1, kernels + 1):
                    session = execute(f"http://127.0.0.1:{port}/jupyter/", {"Authorization": f"Basic {login.decode()}"},
                                      COURSE_SESSION, timeout=300, keep=True)  # fmt: skip
                    if session.status != "ok":
                        sys.exit(f"course session {count} failed: {session.errors}")
                    time.sleep(5)
                    memory = service_memory()
                    figures[f"with_{count}_kernels_memory_mib"] = memory
                    figures[f"with_{count}_kernels_total_mib"] = round(sum(value or 0 for value in memory.values()), 1)
            if "openrefine" in apps:
                # Asleep since `up`: opened as a student opens it, then every app is awake.
                figures["openrefine_first_page_s"] = round(Gateway(port, password).first_page_s(), 1)
                time.sleep(idle_seconds)
                memory = service_memory()
                figures["all_awake_memory_mib"] = memory
                figures["all_awake_total_mib"] = round(sum(value or 0 for value in memory.values()), 1)
        finally:
            cli("down", "--purge", "--yes")
    return figures


def table(measured: list[dict[str, object]]) -> str:
    """The figures of every recipe as one markdown table."""
    lines = [
        "| recipe | images (MB) | `up` to healthy (s) | idle (MiB), per service | with one course session (MiB) "
        "| budget awake (MiB) | OpenRefine's first page (s) | all awake (MiB) | budget all (MiB) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for figures in measured:
        idle = figures["idle_memory_mib"]
        per_service = ", ".join(f"{name} {value:g}" for name, value in idle.items() if value is not None)
        with_kernel = figures.get("with_1_kernels_total_mib", "-")
        woken, all_awake = figures.get("openrefine_first_page_s", "-"), figures.get("all_awake_total_mib", "-")
        lines.append(
            f"| {figures['recipe']} | {sum(figures['image_size_mb'].values())} | {figures['up_to_healthy_s']} "
            f"| {figures['idle_memory_total_mib']} ({per_service}) | {with_kernel} | {figures['awake_budget_mib']} "
            f"| {woken} | {all_awake} | {figures['budget_mib']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe", nargs="?")
    parser.add_argument("--all", action="store_true", help="every recipe, one after another, then a table")
    parser.add_argument("--idle-seconds", type=float, default=20, help="wait before reading idle memory")
    parser.add_argument("--kernels", type=int, default=1, help="course-sized sessions to run, one after another")
    parser.add_argument("--no-cold-build", action="store_true", help="skip the --no-cache build (minutes)")
    arguments = parser.parse_args()
    names = list(load_shelf().recipes) if arguments.all else [arguments.recipe]
    measured = [measure(name, arguments.idle_seconds, arguments.kernels, not arguments.no_cold_build) for name in names]
    print(json.dumps(measured if arguments.all else measured[0], indent=2))
    if arguments.all:
        print(table(measured))


if __name__ == "__main__":
    main()
