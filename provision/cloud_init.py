"""cloud-init user-data (cloud-config) that writes the host bundle and runs provision.sh, built as data."""

from __future__ import annotations

import base64
import gzip
import io
import tarfile
from typing import Any

import yaml

from tm351vce.provision.bundle import BundleFile, HostSettings, host_bundle
from tm351vce.shelf.catalogue import Recipe, Shelf
from tm351vce.shelf.constants import INSTALL_DIR, PROVISIONED_MARKER

# EC2 refuses user-data above 16 KiB, so the files travel as one gzip-compressed tar: compressed together, they
# take a sixth less than each compressed on its own.
USER_DATA_LIMIT = 16 * 1024
BUNDLE_ARCHIVE = "bundle.tar.gz"


def bundle_archive(files: list[BundleFile]) -> bytes:
    """The files as a tar (root's, each with its mode), gzip-compressed; the same bytes for the same files."""
    packed = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=packed, mode="wb", mtime=0) as compressed,
        tarfile.open(fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT) as archive,
    ):
        for file in files:
            content = file.content.encode()
            member = tarfile.TarInfo(file.name)
            member.size, member.mode = len(content), file.mode
            archive.addfile(member, io.BytesIO(content))
    return packed.getvalue()


def render_cloud_config(files: list[BundleFile], power_off: bool = False) -> dict[str, Any]:
    archive = INSTALL_DIR / BUNDLE_ARCHIVE
    document: dict[str, Any] = {
        "write_files": [
            {
                "path": str(archive),
                "permissions": "0600",
                "owner": "root:root",
                "encoding": "b64",
                "content": base64.b64encode(bundle_archive(files)).decode(),
            }
        ],
        # One command, so provision.sh runs only when every file is in place.
        "runcmd": [
            ["sh", "-c", f"tar -xzf {archive} -C {INSTALL_DIR} && rm {archive} && exec {INSTALL_DIR}/provision.sh"]
        ],
    }
    if power_off:
        # Baking: a stopped machine means provisioning succeeded; a failed one stays up with the FAILED
        # line on its console, which the bake reads, so a broken host is never imaged.
        document["power_state"] = {
            "mode": "poweroff",
            "message": "TM351 provisioning finished; powering off for imaging",
            "timeout": 30,
            "condition": f"test -f {PROVISIONED_MARKER}",
        }
    return document


def host_user_data(shelf: Shelf, recipe: Recipe, settings: HostSettings, power_off: bool = False) -> str:
    """The user-data that provisions a host for a recipe: what `render`, `bake` and Vagrant's machines all boot."""
    return to_user_data(render_cloud_config(host_bundle(shelf, recipe, settings), power_off=power_off))


def to_user_data(document: dict[str, Any]) -> str:
    return "#cloud-config\n" + yaml.safe_dump(document, sort_keys=False, width=1_000_000)
