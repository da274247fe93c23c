#!/usr/bin/env python3
"""Measure a VM release: build time, box sizes, and the first boot under QEMU to a healthy stack.

    sudo python bench/vm_release.py [RECIPE] [-o DIR] [--disk-gb 20] [--no-boot] [--kvm]

Builds the recipe's release with `vm-release` into DIR (kept) or a temporary folder (the Debian base stays
cached, so a second run shows the warm build), prints each box's size against the 1.5 GB target, then boots the libvirt
box's disk (under a throwaway overlay) with the gateway's port forwarded and times, from QEMU's start: the
TM351-LOGIN line on the serial console, the gateway taking that password, and the TM351-PROVISION: OK line.
Without --kvm QEMU emulates the CPU (as on machines without hardware virtualisation); expect minutes.
"""

from __future__ import annotations

import argparse
import re
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from base64 import b64encode
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tm351vce.shelf.catalogue import load_shelf  # noqa: E402
from tm351vce.vagrant.options import DEFAULT_DISK_GB, BoxFormat  # noqa: E402
from tm351vce.vagrant.release.boxes import LIBVIRT_DISK  # noqa: E402
from tm351vce.vagrant.release.build import vm_release  # noqa: E402
from tm351vce.vagrant.render import vm_memory_mib  # noqa: E402

TARGET_BYTES = 1.5 * 1000**3  # the compressed box, per the release's target
LOGIN = re.compile(r"TM351-LOGIN: open (\S+) and log in as student with the password (\S+)")
READY = "TM351-PROVISION: OK: the stack is up"
BOOT_LIMIT_S = 1800


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe", nargs="?", default="jupyter-postgres")
    parser.add_argument("-o", "--output", type=Path, help="keep the release in this folder")
    parser.add_argument("--disk-gb", type=int, default=DEFAULT_DISK_GB)
    parser.add_argument("--no-boot", action="store_true", help="build and measure sizes only")
    parser.add_argument("--kvm", action="store_true", help="boot with KVM instead of emulating the CPU")
    args = parser.parse_args()
    shelf = load_shelf()
    recipe = shelf.recipe(args.recipe)
    with tempfile.TemporaryDirectory(prefix="tm351-bench-") as scratch:
        folder = Path(scratch)
        started = time.monotonic()
        release = vm_release(shelf, recipe, args.output or folder / "release", BoxFormat.all, args.disk_gb)
        print(f"\nvm-release {args.recipe}: {time.monotonic() - started:.0f} s in all")
        for step, seconds in release.seconds.items():
            print(f"  {step}: {seconds:.0f} s")
        for provider, box in release.boxes.items():
            size = box.stat().st_size
            verdict = "within" if size <= TARGET_BYTES else "OVER"
            print(f"  {provider} box: {size / 1024**2:.0f} MiB ({size / 1000**3:.2f} GB, {verdict} the 1.5 GB target)")
        if not args.no_boot:
            boot(release.boxes["libvirt"], folder, args.recipe, args.kvm)


def boot(box: Path, folder: Path, recipe: str, kvm: bool) -> None:
    with tarfile.open(box) as archive:
        archive.extract(LIBVIRT_DISK, folder, filter="data")
    overlay, serial = folder / "overlay.qcow2", folder / "serial.log"
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(folder / LIBVIRT_DISK), "-F", "qcow2", str(overlay)],
        check=True,
    )
    shelf = load_shelf()
    port = free_port()
    # fmt: off
    command = [
        "qemu-system-x86_64", "-accel", "kvm" if kvm else "tcg", "-cpu", "host" if kvm else "max",
        "-m", str(vm_memory_mib(shelf, shelf.recipe(recipe))), "-smp", "2",
        "-nographic", "-monitor", "none", "-serial", f"file:{serial}",
        "-drive", f"file={overlay},format=qcow2,if=virtio",
        "-netdev", f"user,id=n0,hostfwd=tcp:127.0.0.1:{port}-:{shelf.defaults.port}",
        "-device", "virtio-net-pci,netdev=n0",
    ]
    # fmt: on
    started = time.monotonic()
    machine = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    marks: dict[str, float] = {}
    try:
        while time.monotonic() - started < BOOT_LIMIT_S and len(marks) < 3:
            console = serial.read_text(errors="replace") if serial.exists() else ""
            login = LOGIN.search(console)
            if login and "login line" not in marks:
                marks["login line"] = time.monotonic() - started
            if login and "gateway takes the password" not in marks and answers(port, login[1], login[2]):
                marks["gateway takes the password"] = time.monotonic() - started
            if READY in console and "stack healthy (TM351-PROVISION: OK)" not in marks:
                marks["stack healthy (TM351-PROVISION: OK)"] = time.monotonic() - started
            time.sleep(2)
    finally:
        machine.terminate()
        machine.wait(timeout=60)
    mode = "KVM" if kvm else "software emulation (TCG)"
    print(f"\nfirst boot of the libvirt disk under {mode}, 2 CPUs:")
    for mark, seconds in marks.items():
        print(f"  {mark}: {seconds:.0f} s")
    if len(marks) < 3:
        print(f"  (gave up after {BOOT_LIMIT_S} s; the console is lost with the scratch folder)")


def answers(port: int, url: str, password: str) -> bool:
    path = "/" + url.split("/", 3)[3]
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    request.add_header("Authorization", "Basic " + b64encode(f"student:{password}".encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback http
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


if __name__ == "__main__":
    main()
