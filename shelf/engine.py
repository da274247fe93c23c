"""The Docker engine and the Compose v2 CLI, reached with a clear message when either is missing."""

from __future__ import annotations

import shutil
import subprocess
from functools import cache

import docker
from docker.errors import DockerException, ImageNotFound

from shelf.errors import UsageProblem

INSTALL_HINT = (
    "start the engine (e.g. `sudo systemctl start docker`) or install Docker Engine with the "
    "Compose v2 plugin: https://docs.docker.com/engine/install/"
)


@cache
def docker_client() -> docker.DockerClient:
    try:
        client = docker.from_env()
        client.ping()
    except DockerException as error:
        reason = str(error).split("(", 1)[0].strip() or type(error).__name__
        raise UsageProblem(f"No Docker engine is reachable ({reason}): {INSTALL_HINT}.") from None
    return client


@cache
def compose_cli() -> list[str]:
    """The command that runs Compose v2, checked once."""
    docker_cli = shutil.which("docker")
    if docker_cli is None:
        raise UsageProblem(f"The docker command is not installed: {INSTALL_HINT}.")
    probe = subprocess.run([docker_cli, "compose", "version", "--short"], capture_output=True, text=True, check=False)
    if probe.returncode != 0 or not probe.stdout.strip().lstrip("v").startswith("2"):
        raise UsageProblem(
            "Docker Compose v2 is missing (`docker compose version` failed): install the Compose plugin, "
            "e.g. `sudo apt-get install docker-compose-plugin`, see https://docs.docker.com/compose/install/."
        )
    return [docker_cli, "compose"]


def image_present(client: docker.DockerClient, reference: str) -> bool:
    try:
        client.images.get(reference)
        return True
    except ImageNotFound:
        return False
