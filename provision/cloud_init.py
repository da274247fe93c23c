"""cloud-init user-data (cloud-config) that writes the host bundle and runs provision.sh, built as data."""

from __future__ import annotations

import base64
import gzip
from typing import Any

import yaml

from tm351vce.provision.bundle import BundleFile, HostSettings, host_bundle
from tm351vce.shelf.catalogue import Recipe, Shelf
from tm351vce.shelf.constants import INSTALL_DIR, PROVISIONED_MARKER

# EC2 refuses user-data above 16 KiB, so files travel gzip-compressed.
USER_DATA_LIMIT = 16 * 1024


def render_cloud_config(files: list[BundleFile], power_off: bool = False) -> dict[str, Any]:
    document: dict[str, Any] = {
        "write_files": [
            {
                "path": str(INSTALL_DIR / file.name),
                "permissions": f"0{file.mode:o}",
                "owner": "root:root",
                "encoding": "gz+b64",
                "content": base64.b64encode(gzip.compress(file.content.encode(), mtime=0)).decode(),
            }
            for file in files
        ],
        "runcmd": [[str(INSTALL_DIR / "provision.sh")]],
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
