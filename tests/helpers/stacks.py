"""One install of a recipe on the real engine, and removing whatever a test left of a Compose project."""

from __future__ import annotations

import base64
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import docker
import requests

from tests.helpers.cli import run_cli
from tests.helpers.jupyter_kernel import Execution, execute


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

    def up(self, recipe: str, timeout: float = 900) -> subprocess.CompletedProcess:
        return self.cli("up", recipe, "--data-dir", str(self.data_dir), "--port", str(self.port), timeout=timeout)

    def started(self, recipe: str, timeout: float = 120) -> Stack:
        """This stack with the recipe up; the test fails with the command's output when it does not start."""
        result = self.up(recipe, timeout=timeout)
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

    def get(self, path: str, headers: dict[str, str] | None = None) -> requests.Response:
        return requests.get(self.url(path), headers=headers or {}, timeout=10)

    def health(self) -> dict[str, str]:
        """Each service's health as `status --json` reports it."""
        status = json.loads(self.cli("status", "--json").stdout)
        return {service["name"]: service["health"] for service in status["services"]}

    def run(self, code: str) -> Execution:
        """Run code in a new kernel, through the gateway, as the logged-in student."""
        return execute(self.url("/jupyter/"), self.login(), code)


def openrefine_version(stack: Stack) -> dict[str, str]:
    """OpenRefine's page and version answer at /openrefine/ with the login, and only with it."""
    assert stack.get("/openrefine/").status_code == 401
    page = stack.get("/openrefine/", stack.login())
    assert page.status_code == 200
    assert "<title>OpenRefine</title>" in page.text
    return stack.get("/openrefine/command/core/get-version", stack.login()).json()


def remove_project(client: docker.DockerClient, project: str) -> None:
    """Remove every container, volume and network of the project, whatever state a test left it in."""
    label = {"label": f"com.docker.compose.project={project}"}
    for container in client.containers.list(all=True, filters=label):
        container.remove(force=True)
    for volume in client.volumes.list(filters=label):
        volume.remove(force=True)
    for network in client.networks.list(filters=label):
        network.remove()
