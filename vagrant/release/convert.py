"""The raw disk as each hypervisor's format (qemu-img), converted side by side, then checked."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tm351vce.shelf.errors import OperationFailed
from tm351vce.shelf.progress import LOG_DIR, wait_with_progress

# zstd compresses ten times faster than qcow2's default zlib, and smaller; QEMU reads it since 5.1 (2020).
QCOW2 = ["-O", "qcow2", "-c", "-o", "compression_type=zstd", "-W"]
# What VirtualBox imports from an OVF: one compressed stream, written in order.
VMDK = ["-O", "vmdk", "-o", "subformat=streamOptimized"]
FORMAT_ARGS = {"qcow2": QCOW2, "vmdk": VMDK}
CONVERT_TIMEOUT_S = 60 * 60


def convert_disk(raw: Path, targets: dict[str, Path]) -> None:
    """Write raw as each {format: path} in targets, all at once (each conversion is mostly one core's work)."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    running: dict[str, subprocess.Popen] = {}
    logs = {fmt: LOG_DIR / f"qemu-img-{fmt}.log" for fmt in targets}
    try:
        for fmt, path in targets.items():
            path.unlink(missing_ok=True)
            with logs[fmt].open("w", encoding="utf-8") as log:
                command = ["qemu-img", "convert", "-f", "raw", *FORMAT_ARGS[fmt], str(raw), str(path)]
                running[fmt] = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        title = f"Converting the disk to {', '.join(targets)}"
        if not wait_with_progress(
            lambda: all(p.poll() is not None for p in running.values()), title, CONVERT_TIMEOUT_S
        ):
            raise OperationFailed(f"Converting the disk took over {CONVERT_TIMEOUT_S // 60} min; stopped it.")
    finally:
        for process in running.values():
            if process.poll() is None:
                process.terminate()
                process.wait()
    for fmt, process in running.items():
        if process.returncode != 0:
            output = logs[fmt].read_text(encoding="utf-8", errors="replace").strip()
            raise OperationFailed(f"Converting the disk to {fmt} failed: {output or 'no output'}")


def check_disk(path: Path, fmt: str) -> None:
    """qemu-img's consistency check of a converted disk."""
    checked = subprocess.run(["qemu-img", "check", "-f", fmt, str(path)], capture_output=True, text=True, check=False)
    if checked.returncode != 0:
        raise OperationFailed(f"`qemu-img check` finds {path} damaged: {(checked.stdout + checked.stderr).strip()}")


def virtual_size(path: Path, fmt: str) -> int:
    """The disk's size as the machine sees it, in bytes."""
    info = subprocess.run(
        ["qemu-img", "info", "--output=json", "-f", fmt, str(path)], capture_output=True, text=True, check=False
    )
    if info.returncode != 0:
        raise OperationFailed(f"`qemu-img info` cannot read {path}: {info.stderr.strip()}")
    return int(json.loads(info.stdout)["virtual-size"])
