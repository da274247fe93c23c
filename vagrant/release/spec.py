"""The vmdb2 specification of a release VM's disk: Debian 12 from Debian's archive, then the stack in image mode."""

from __future__ import annotations

import hashlib
import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tm351vce.shelf.constants import DEBIAN_MIRROR as MIRROR
from tm351vce.shelf.constants import DEBIAN_SECURITY_MIRROR as SECURITY_MIRROR
from tm351vce.shelf.constants import DEBIAN_SUITE as SUITE

IMAGE_DIR = Path(__file__).with_name("image")
# AppArmor: Debian's kernel turns it on, and the engine then refuses to start containers without its parser.
# linux-image-amd64, not the cloud kernel: VirtualBox's disk and network adapters and 9p need its drivers.
PACKAGES = (
    "linux-image-amd64",
    "grub-pc",
    "systemd-sysv",
    "udev",
    "dbus",
    "ifupdown",
    "isc-dhcp-client",
    "openssh-server",
    "sudo",
    "cloud-init",
    "docker.io",
    "apparmor",
    "iptables",
    "ca-certificates",
    "curl",
    "zstd",
)
ROOT = "root"  # vmdb2's tag for the image's one partition and its filesystem
CACHED = "rootfs_unpacked"  # set by vmdb2 when it unpacked the cached base system


@dataclass(frozen=True)
class ImageInputs:
    bundle: Path  # provision/'s files for image mode, with the recipe's images.tar
    vagrant_key: Path  # Vagrant's insecure public key
    compose_plugin: Path  # the Compose v2 binary
    url: str  # where the student opens the stack, for the console banner


def base_cache_key() -> str:
    """Names the cached base system (Debian and its packages): it changes when what goes into it changes."""
    base = json.dumps([SUITE, MIRROR, SECURITY_MIRROR, PACKAGES, (IMAGE_DIR / "base.sh").read_text(encoding="utf-8")])
    return hashlib.sha256(base.encode()).hexdigest()[:16]


def image_spec(inputs: ImageInputs) -> dict[str, Any]:
    """vmdb2's steps. The disk is a loop device given with --image; the base system comes from the cache if any."""
    device = "{{ image }}"
    return {
        "steps": [
            {"mklabel": "msdos", "device": device},
            {"mkpart": "primary", "device": device, "start": "1MiB", "end": "100%", "tag": ROOT},
            {"mkfs": "ext4", "partition": ROOT},
            {"mount": ROOT},
            {"unpack-rootfs": ROOT},
            {"debootstrap": SUITE, "mirror": MIRROR, "target": ROOT, "variant": "minbase", "unless": CACHED},
            {"shell": _script("base.sh", SUITE, MIRROR, SECURITY_MIRROR), "root-fs": ROOT, "unless": CACHED},
            {"apt": "install", "packages": list(PACKAGES), "recommends": False, "tag": ROOT, "unless": CACHED},
            {"cache-rootfs": ROOT, "unless": CACHED},
            # A cached base system gets what the archive published since (security updates).
            {
                "chroot": ROOT,
                "shell": "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get dist-upgrade -y -q",
            },
            {"fstab": ROOT},
            {
                "shell": _script("configure.sh", inputs.vagrant_key, inputs.compose_plugin, inputs.url),
                "root-fs": ROOT,
            },
            {
                "shell": "unshare --mount --net --pid --fork --kill-child " + _script("preload.sh", inputs.bundle),
                "root-fs": ROOT,
            },
            {"grub": "bios", "tag": ROOT, "console": "serial", "image-dev": device},
            {"shell": _script("finish.sh"), "root-fs": ROOT},
        ]
    }


def spec_yaml(spec: dict[str, Any]) -> str:
    return yaml.safe_dump(spec, sort_keys=False, width=1000)


def _script(name: str, *arguments: object) -> str:
    """A shell line running one of image/'s scripts on the mounted image, whose path vmdb2 gives as $ROOT."""
    return " ".join([shlex.quote(str(IMAGE_DIR / name)), '"$ROOT"', *(shlex.quote(str(a)) for a in arguments)])
