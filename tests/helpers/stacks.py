"""One install of a recipe on the real engine, and removing whatever a test left of a Compose project."""

from __future__ import annotations

import base64
import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import docker
import requests
from docker.models.containers import Container

from tests.helpers.cli import run_cli
from tests.helpers.jupyter_kernel import Execution, execute, execute_cells


@dataclass
class Stack:
    """One install of a recipe under test: its own Compose project, port and student folder."""

    project: str
    port: int
    data_dir: Path

    @property
    def env(self) -> dict[str, str]:
        return {"TM351_PROJECT": self.project}

    def cli(self, *args: str, timeout: float = 900, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return run_cli(*args, env={**self.env, **(env or {})}, timeout=timeout)

    def up(self, recipe: str, *options: str, timeout: float = 900) -> subprocess.CompletedProcess:
        where = ("--data-dir", str(self.data_dir), "--port", str(self.port))
        return self.cli("up", recipe, *where, *options, timeout=timeout)

    def started(self, recipe: str, *options: str, timeout: float = 120) -> Stack:
        """This stack with the recipe up; the test fails with the command's output when it does not start."""
        result = self.up(recipe, *options, timeout=timeout)
        assert result.returncode == 0, result.stdout + result.stderr
        return self

    def secret(self, name: str) -> str:
        return (self.data_dir / ".tm351" / name).read_text().strip()

    def password(self) -> str:
        return self.secret("password")

    def login(self, password: str | None = None) -> dict[str, str]:
        """The Authorization header a script sends to log in as the student."""
        credentials = base64.b64encode(f"student:{password or self.password()}".encode()).decode()
        return {"Authorization": f"Basic {credentials}"}

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path: str, headers: dict[str, str] | None = None, timeout: float = 10) -> requests.Response:
        return requests.get(self.url(path), headers=headers or {}, timeout=timeout)

    def health(self) -> dict[str, str]:
        """Each service's health as `status --json` reports it."""
        status = json.loads(self.cli("status", "--json").stdout)
        return {service["name"]: service["health"] for service in status["services"]}

    def run(self, code: str) -> Execution:
        """Run code in a new kernel, through the gateway, as the logged-in student."""
        return execute(self.url("/jupyter/"), self.login(), code)

    def run_cells(self, cells: list[str], notebook: str | None = None, timeout: float = 120) -> list[Execution]:
        """Run cells in turn in one new kernel, as a notebook's (in that notebook's session and folder, if given)."""
        return execute_cells(self.url("/jupyter/"), self.login(), cells, timeout, notebook=notebook)


# An app that starts on demand answers its first page within this, however busy the machine (measured: 6-29 s).
WAKE_BOUND_S = 120


def is_starting_page(page: requests.Response) -> bool:
    """The page the gateway shows while an app that starts on demand sleeps or starts."""
    return page.status_code == 503 and "is starting</title>" in page.text


def opened(stack: Stack, path: str, timeout: float = WAKE_BOUND_S) -> requests.Response:
    """PATH with the login once it answers as itself: an app asleep gives the starting page until it is awake. Its
    first answer may take a while (OpenRefine holds the first request until it has loaded), as a browser waits."""
    deadline = time.monotonic() + timeout
    while True:
        page = stack.get(path, stack.login(), timeout=max(deadline - time.monotonic(), 10))
        if not is_starting_page(page) or time.monotonic() > deadline:
            return page
        time.sleep(0.5)


def openrefine_version(stack: Stack) -> dict[str, str]:
    """OpenRefine's page and version answer at /openrefine/ with the login, and only with it (woken if asleep)."""
    assert stack.get("/openrefine/").status_code == 401
    page = opened(stack, "/openrefine/")
    assert page.status_code == 200
    assert "<title>OpenRefine</title>" in page.text
    return stack.get("/openrefine/command/core/get-version", stack.login()).json()


def service_container(client: docker.DockerClient, stack: Stack, service: str) -> Container:
    """The stack's one container of a service."""
    (container,) = client.containers.list(
        all=True,
        filters={"label": [f"com.docker.compose.project={stack.project}", f"com.docker.compose.service={service}"]},
    )
    return container


def remove_project(client: docker.DockerClient, project: str) -> None:
    """Remove every container, volume and network of the project, whatever state a test left it in."""
    label = {"label": f"com.docker.compose.project={project}"}
    for container in client.containers.list(all=True, filters=label):
        container.remove(force=True)
    for volume in client.volumes.list(filters=label):
        volume.remove(force=True)
    for network in client.networks.list(filters=label):
        network.remove()
