"""The Compose v2 plugin for the image: the same pinned, checksummed archive provision.sh downloads on a host."""

from __future__ import annotations

import hashlib
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from shelf.constants import COMPOSE_PLUGIN_SHA256, COMPOSE_PLUGIN_URL
from shelf.errors import OperationFailed

BINARY = "src/compose/docker-compose"  # its path in the archive, under the archive's top folder


def compose_plugin(cache: Path) -> Path:
    """The docker-compose binary, downloaded once into cache and checked against its pinned SHA-256."""
    binary = cache / f"docker-compose-{COMPOSE_PLUGIN_SHA256[:16]}"
    if binary.is_file():
        return binary
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as work:
        archive = Path(work) / "compose.tar.gz"
        try:
            with urllib.request.urlopen(COMPOSE_PLUGIN_URL, timeout=120) as response:  # noqa: S310 - a pinned https URL
                archive.write_bytes(response.read())
        except (urllib.error.URLError, OSError) as error:
            raise OperationFailed(
                f"Downloading the Compose v2 plugin from {COMPOSE_PLUGIN_URL} failed: {error}"
            ) from None
        digest = hashlib.sha256(archive.read_bytes()).hexdigest()
        if digest != COMPOSE_PLUGIN_SHA256:
            raise OperationFailed(
                f"The Compose v2 plugin archive from {COMPOSE_PLUGIN_URL} has SHA-256 {digest}, "
                f"not the pinned {COMPOSE_PLUGIN_SHA256}: not using it."
            )
        with tarfile.open(archive) as bundle:
            member = next((m for m in bundle.getmembers() if m.isfile() and m.name.endswith("/" + BINARY)), None)
            source = bundle.extractfile(member) if member is not None else None
            if source is None:
                raise OperationFailed(f"The Compose v2 plugin archive from {COMPOSE_PLUGIN_URL} has no {BINARY}.")
            partial = binary.with_suffix(".partial")
            partial.write_bytes(source.read())
    partial.chmod(0o755)
    partial.replace(binary)
    return binary
