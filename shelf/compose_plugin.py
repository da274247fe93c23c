"""The Compose v2 plugin: the pinned, checksummed archive provision.sh downloads on a host, for a VM image or a user."""

from __future__ import annotations

import hashlib
import os
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from tm351vce.shelf.constants import COMPOSE_PLUGIN_SHA256, COMPOSE_PLUGIN_URL
from tm351vce.shelf.errors import OperationFailed

BINARY = "src/compose/docker-compose"  # its path in the archive, under the archive's top folder


def compose_plugin(cache: Path, url: str = COMPOSE_PLUGIN_URL, sha256: str = COMPOSE_PLUGIN_SHA256) -> Path:
    """The docker-compose binary, downloaded once into cache and checked against its pinned SHA-256."""
    binary = cache / f"docker-compose-{sha256[:16]}"
    if binary.is_file():
        return binary
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as work:
        archive = Path(work) / "compose.tar.gz"
        try:
            with urllib.request.urlopen(url, timeout=120) as response:  # noqa: S310 - a pinned URL
                archive.write_bytes(response.read())
        except (urllib.error.URLError, OSError) as error:
            raise OperationFailed(f"Downloading the Compose v2 plugin from {url} failed: {error}") from None
        digest = hashlib.sha256(archive.read_bytes()).hexdigest()
        if digest != sha256:
            raise OperationFailed(
                f"The Compose v2 plugin archive from {url} has SHA-256 {digest}, not the pinned {sha256}: not using it."
            )
        with tarfile.open(archive) as bundle:
            member = next((m for m in bundle.getmembers() if m.isfile() and m.name.endswith("/" + BINARY)), None)
            source = bundle.extractfile(member) if member is not None else None
            if source is None:
                raise OperationFailed(f"The Compose v2 plugin archive from {url} has no {BINARY}.")
            partial = binary.with_suffix(".partial")
            partial.write_bytes(source.read())
    partial.chmod(0o755)
    partial.replace(binary)
    return binary


def user_plugin_dir() -> Path:
    """Where the docker CLI looks for a user's own plugins: $DOCKER_CONFIG/cli-plugins, else ~/.docker/cli-plugins."""
    return Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker") / "cli-plugins"


def install_for_user(cache: Path, url: str = COMPOSE_PLUGIN_URL, sha256: str = COMPOSE_PLUGIN_SHA256) -> Path:
    """Install the pinned plugin as this user's `docker compose` (no root); returns where it went."""
    binary = compose_plugin(cache, url, sha256)
    target = user_plugin_dir() / "docker-compose"
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    partial.write_bytes(binary.read_bytes())
    partial.chmod(0o755)
    partial.replace(target)
    return target
