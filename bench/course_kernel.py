#!/usr/bin/env python3
"""Measure the Jupyter image with the course's environment: its size, the memory of a student's kernel once it has
imported pandas, the SQL magic and matplotlib, on its first start (Python compiles the modules it imports and keeps
the bytecode in the student's home) and on later ones, and Jupyter's memory with course-sized notebooks open
(tests/helpers/course_kernel.py) against its limit.

    python bench/course_kernel.py [--kernels N] [--sessions N]

Starts the jupyter recipe in a Compose project of its own (tm351-bench-kernel-PID) on a free port with a
throw-away student folder, and removes it afterwards. The image must be built (`python3 tasks.py build jupyter`).
Prints JSON: sizes in MB (10^6 bytes, as `docker image ls` shows them), memory in MiB.
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

from tests.helpers.course_kernel import COURSE_SESSION  # noqa: E402
from tests.helpers.jupyter_kernel import execute  # noqa: E402
from tm351vce.shelf.catalogue import load_shelf  # noqa: E402
from tm351vce.shelf.engine import docker_client  # noqa: E402

PROJECT = f"tm351-bench-kernel-{os.getpid()}"

# The brief's kernel: pandas, matplotlib and the SQL magic, then what the kernel's process holds. USS is what it
# alone holds; PSS shares the libraries it has in common with the server; RSS counts them whole. The image's
# start-up settings (images/jupyter/course_startup) import all three as the kernel starts, so imports_s is what is
# left of them (nothing) and start_to_done_s, from asking for the kernel to its answer, is the figure to read.
KERNEL = """
import time
started = time.perf_counter()
import pandas, matplotlib
%load_ext sql
seconds = time.perf_counter() - started
import json, psutil
memory = psutil.Process().memory_full_info()
print(json.dumps({"rss_mib": round(memory.rss / 2**20, 1), "pss_mib": round(memory.pss / 2**20, 1),
                  "uss_mib": round(memory.uss / 2**20, 1), "imports_s": round(seconds, 2)}))
"""


def cli(*args: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "tasks.py", *args],
        cwd=REPO,
        env={**os.environ, "TM351_PROJECT": PROJECT},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        sys.exit(f"`tasks.py {' '.join(args)}` failed ({result.returncode}): {result.stdout}{result.stderr}")
    return result


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def jupyter_memory() -> float | None:
    status = json.loads(cli("status", "--json").stdout)
    return next(service["memory_mib"] for service in status["services"] if service["name"] == "jupyter")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kernels", type=int, default=3, help="kernels to start one after another (the first is cold)")
    parser.add_argument("--sessions", type=int, default=2, help="course-sized notebooks to open, and keep open, after")
    arguments = parser.parse_args()
    shelf = load_shelf()
    image = docker_client().images.get(shelf.apps["jupyter"].image_ref(shelf.version))
    figures: dict[str, object] = {
        "image": image.tags[0],
        "image_size_mb": round(image.attrs["Size"] / 1e6),
        "jupyter_limit_mib": shelf.apps["jupyter"].memory_mib,
    }
    with tempfile.TemporaryDirectory(prefix="tm351-bench-") as data_dir:
        try:
            port = free_port()
            started = time.monotonic()
            cli("up", "jupyter", "--data-dir", data_dir, "--port", str(port))
            figures["up_to_healthy_s"] = round(time.monotonic() - started, 1)
            time.sleep(10)
            figures["jupyter_idle_mib"] = jupyter_memory()
            password = (Path(data_dir) / ".tm351" / "password").read_text().strip()
            login = {"Authorization": "Basic " + base64.b64encode(f"student:{password}".encode()).decode()}
            for count in range(1, arguments.kernels + 1):
                started = time.monotonic()
                run = execute(f"http://127.0.0.1:{port}/jupyter/", login, KERNEL, timeout=300)
                if run.status != "ok":
                    sys.exit(f"kernel {count} failed: {run.errors}")
                kernel = json.loads(run.stdout.strip().splitlines()[-1])
                kernel["start_to_done_s"] = round(time.monotonic() - started, 1)
                figures[f"kernel_{count}{' (first start)' if count == 1 else ''}"] = kernel
            for count in range(1, arguments.sessions + 1):
                run = execute(f"http://127.0.0.1:{port}/jupyter/", login, COURSE_SESSION, timeout=300, keep=True)
                if run.status != "ok":
                    sys.exit(f"course session {count} failed: {run.errors}")
                time.sleep(5)
                figures[f"jupyter_with_{count}_sessions_mib"] = jupyter_memory()
        finally:
            cli("down", "--purge", "--yes")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
