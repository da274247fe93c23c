#!/usr/bin/env python3
"""How long a sleeping OpenRefine takes to answer its first page: the median of a few wakes.

    python bench/openrefine_wake.py [RECIPE] [--runs N]

Starts the recipe (openrefine by default) in a Compose project of its own (tm351-bench-wake) on a free port with a
throw-away student folder. Before each run it puts OpenRefine to sleep from the dashboard, as its idle time does;
then it opens /openrefine/ with the login and asks again, as the starting page does (every second), until
OpenRefine's own page answers. The project is removed afterwards.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PROJECT = "tm351-bench-wake"
# What the starting page waits between two tries.
POLL_S = 1.0
GIVE_UP_S = 300


def cli(*args: str) -> None:
    # Its output goes to stderr: stdout is for the figures.
    result = subprocess.run(
        [sys.executable, "tasks.py", *args],
        cwd=REPO,
        env={**os.environ, "TM351_PROJECT": PROJECT},
        stdout=sys.stderr,
        check=False,
    )
    if result.returncode != 0:
        sys.exit(f"`tasks.py {' '.join(args)}` failed with exit code {result.returncode}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Gateway:
    def __init__(self, port: int, password: str) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.login = "Basic " + base64.b64encode(f"student:{password}".encode()).decode()

    def request(self, path: str, method: str = "GET") -> tuple[int, str]:
        headers = {"Authorization": self.login}
        request = urllib.request.Request(self.base + path, method=method, headers=headers)  # noqa: S310 - http only
        try:
            # OpenRefine holds its first request until it has loaded (seconds, more on a busy machine), and a stop
            # waits for its grace period: as long as a browser would wait.
            with urllib.request.urlopen(request, timeout=GIVE_UP_S) as answer:  # noqa: S310 - the loopback gateway
                return answer.status, answer.read().decode(errors="replace")
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(errors="replace")

    def put_to_sleep(self) -> None:
        status, body = self.request("/dashboard/api/services/openrefine/stop", method="POST")
        if status != 200 or json.loads(body)["state"] != "sleeping":
            sys.exit(f"the dashboard did not put OpenRefine to sleep: {status} {body}")

    def first_page_s(self) -> float:
        """Seconds from opening /openrefine/ asleep to OpenRefine's own page."""
        began = time.monotonic()
        status, body = self.request("/openrefine/")
        if status != 503 or "is starting" not in body:
            sys.exit(f"OpenRefine was not asleep: {status}")
        while time.monotonic() - began < GIVE_UP_S:
            time.sleep(POLL_S)
            status, body = self.request("/openrefine/")
            if status == 200 and "<title>OpenRefine</title>" in body:
                return time.monotonic() - began
        sys.exit(f"OpenRefine did not answer within {GIVE_UP_S} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe", nargs="?", default="openrefine")
    parser.add_argument("--runs", type=int, default=5)
    arguments = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="tm351-bench-wake-") as data_dir:
        try:
            cli("up", arguments.recipe, "--data-dir", data_dir, "--port", str(port))
            password = (Path(data_dir) / ".tm351" / "password").read_text().strip()
            gateway = Gateway(port, password)
            runs = []
            for _ in range(arguments.runs):
                gateway.put_to_sleep()
                runs.append(round(gateway.first_page_s(), 1))
                print(f"first page after {runs[-1]} s", file=sys.stderr)
        finally:
            cli("down", "--purge", "--yes")
    figures = {"recipe": arguments.recipe, "runs_s": runs, "median_first_page_s": statistics.median(runs)}
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
