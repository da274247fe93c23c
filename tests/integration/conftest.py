"""Fixtures for tests on the real Docker engine: a project of their own, a free port, a clean-up that always runs."""

from __future__ import annotations

import base64
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest
import requests

from tests.conftest import run_cli
from tests.integration.jupyter_kernel import Execution, execute
from tm351vce.shelf.catalogue import load_shelf


@pytest.fixture(scope="session")
def engine() -> docker.DockerClient:
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as error:
        pytest.fail(f"Integration tests need a running Docker engine ({error}); run .ci/run or start dockerd.")
    return client


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(check: Callable[[], bool], timeout: float, pause: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(pause)
    return False


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

    def run(self, code: str) -> Execution:
        """Run code in a new kernel, through the gateway, as the logged-in student."""
        return execute(self.url("/jupyter/"), self.login(), code)


def remove_project(client: docker.DockerClient, project: str) -> None:
    """Remove every container, volume and network of the project, whatever state a test left it in."""
    label = {"label": f"com.docker.compose.project={project}"}
    for container in client.containers.list(all=True, filters=label):
        container.remove(force=True)
    for volume in client.volumes.list(filters=label):
        volume.remove(force=True)
    for network in client.networks.list(filters=label):
        network.remove()


@pytest.fixture(scope="session")
def built(engine) -> docker.models.images.Image:
    """The images of the recipes built from Debian's archive and PyPI alone, built by the CLI as the course team
    would (MongoDB and OpenRefine need upstream downloads: test_full_shelf.py builds those); returns jupyter's."""
    shelf = load_shelf()
    apps = dict.fromkeys(name for recipe in ("jupyter", "jupyter-postgres") for name in shelf.recipe(recipe).apps)
    result = run_cli("build", *apps)
    assert result.returncode == 0, result.stdout + result.stderr
    return engine.images.get(f"tm351/jupyter:{load_shelf().version}")


@pytest.fixture(scope="module")
def stack(engine, tmp_path_factory) -> Iterator[Stack]:
    project = f"tm351-test-{uuid.uuid4().hex[:8]}"
    installed = Stack(project=project, port=free_port(), data_dir=tmp_path_factory.mktemp("student") / "TM351VCE")
    try:
        yield installed
    finally:
        remove_project(engine, project)
