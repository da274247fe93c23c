"""Build the raw disk image with vmdb2 on a loop device, checking first that this machine can."""

from __future__ import annotations

import ast
import os
import subprocess
from pathlib import Path
from typing import Any

from tm351vce.shelf.errors import OperationFailed, UsageProblem
from tm351vce.shelf.progress import LOG_DIR, run_with_progress
from tm351vce.shelf.tools import as_root, find_tool
from tm351vce.vagrant.release.spec import spec_yaml

GIB = 1024**3
# The command each needs, and the Debian package that has it.
TOOLS = {
    "vmdb2": "vmdb2",
    "debootstrap": "debootstrap",
    "qemu-img": "qemu-utils",
    "zerofree": "zerofree",
    "losetup": "mount",
    "unshare": "util-linux",
    "parted": "parted",
}


def check_builder() -> None:
    """The preconditions of a build, each with its fix."""
    if os.geteuid() != 0:
        raise UsageProblem(
            "vm-release attaches a loop device, mounts it and runs a chroot: run it as root "
            f"(e.g. `{as_root('vm-release')} …`)."
        )
    missing = sorted({package for tool, package in TOOLS.items() if find_tool(tool) is None})
    if missing:
        raise UsageProblem(
            f"vm-release needs Debian's image tools: install them with `apt-get install {' '.join(missing)}`."
        )


def build_disk(spec: dict[str, Any], raw: Path, disk_gb: int, base_cache: Path) -> None:
    """Write a bootable raw disk of disk_gb GiB (sparse) from spec; base_cache keeps the Debian base between builds."""
    raw.parent.mkdir(parents=True, exist_ok=True)
    base_cache.parent.mkdir(parents=True, exist_ok=True)
    raw.unlink(missing_ok=True)
    with raw.open("wb") as disk:
        disk.truncate(disk_gb * GIB)
    spec_file = raw.with_suffix(".vmdb")
    spec_file.write_text(spec_yaml(spec), encoding="utf-8")
    details = LOG_DIR / "vmdb2.log"
    # vmdb2 finds a disk file's partitions with kpartx, which needs device-mapper; a loop device that the
    # kernel scans for partitions needs nothing more, and that is what --image is given.
    loop = _attach(raw)
    try:
        finished = run_with_progress(
            [
                "vmdb2",
                str(spec_file),
                "--image",
                loop,
                "--rootfs-tarball",
                str(base_cache),
                "--log",
                str(details),
                "-v",
            ],
            "Building the disk image (Debian, Docker, the stack)",
            LOG_DIR / "vm-release.log",
            summarise=_vmdb2_step,
        )
    finally:
        subprocess.run(["losetup", "--detach", loop], capture_output=True, check=False)
    if not finished.ok:
        raise OperationFailed(
            f"Building the disk image failed; its log: {finished.log} (every command's output: {details})",
            "\n".join(finished.tail),
        )


def _attach(raw: Path) -> str:
    attached = subprocess.run(
        ["losetup", "--find", "--show", "--partscan", str(raw)], capture_output=True, text=True, check=False
    )
    if attached.returncode != 0:
        raise OperationFailed(f"No loop device for {raw}: {attached.stderr.strip()} (is the loop module loaded?)")
    return attached.stdout.strip()


def _vmdb2_step(line: str) -> str | None:
    """The command vmdb2 runs, as a short line, from its `Exec: [argv]` output."""
    if line.startswith("TM351-PROVISION:"):
        return line
    if not line.startswith("Exec: ["):
        return None
    try:
        argv = ast.literal_eval(line.removeprefix("Exec: "))
    except (ValueError, SyntaxError):
        return None
    if argv[:1] == ["chroot"]:
        argv = argv[2:]
    return " ".join(str(argument) for argument in argv)[:100]
