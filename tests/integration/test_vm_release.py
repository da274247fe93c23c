"""A VM release of the smallest recipe, built for real from Debian's archive by `vm-release`: its disks pass
qemu-img's check, Vagrant adds the libvirt box from the catalogue (checking its SHA-256) and loads its Vagrantfile,
and the VirtualBox box's OVF imports the vmdk beside it. VirtualBox cannot run here, so that box is checked only
for its structure. With `-m slow`, the libvirt disk also boots under QEMU's software emulation."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tarfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from compose.catalogue import load_shelf
from tests.conftest import run_cli
from tests.integration.conftest import free_port, wait_until
from vagrant.render import vm_memory_mib

pytestmark = pytest.mark.integration

RECIPE = "jupyter"  # the smallest recipe
GIB = 1024**3
OVF = "{http://schemas.dmtf.org/ovf/envelope/1}"
SLOW_REASON = (
    "boots the release under QEMU's software emulation (no KVM here): measured on 2 cores, the login line after "
    "74 s, the gateway taking the password after 156 s and the stack healthy after 161 s; with a cold build first "
    "this file then takes about 7 min, beyond CI's budget: run it with -m slow"
)


@pytest.fixture(scope="module")
def release(built, tmp_path_factory) -> Path:
    if os.geteuid() != 0:
        pytest.fail("vm-release builds with loop devices and chroot: run the tests as root, as .ci/run does.")
    folder = tmp_path_factory.mktemp("release")
    result = run_cli("vm-release", RECIPE, "-o", str(folder), "--format", "all", timeout=1800)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "vagrant box add file://" in result.stdout
    return folder


@pytest.fixture(scope="module")
def disks(release, tmp_path_factory) -> dict[str, Path]:
    """Each box's disk, taken out of it."""
    folder = tmp_path_factory.mktemp("disks")
    members = {"libvirt": "box.img", "virtualbox": "box-disk001.vmdk"}
    for provider, member in members.items():
        with tarfile.open(box_path(release, provider)) as box:
            box.extract(member, folder, filter="data")
    return {provider: folder / member for provider, member in members.items()}


def box_path(release: Path, provider: str) -> Path:
    return release / f"tm351-{RECIPE}-{load_shelf().version}-{provider}.box"


def box_text(release: Path, provider: str, member: str) -> str:
    with tarfile.open(box_path(release, provider)) as box:
        return box.extractfile(member).read().decode()


def qemu_img(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["qemu-img", *args], capture_output=True, text=True, check=False)


@pytest.mark.parametrize(("provider", "fmt"), [("libvirt", "qcow2"), ("virtualbox", "vmdk")])
def test_disks_pass_qemu_img_check(disks, provider, fmt):
    checked = qemu_img("check", "-f", fmt, str(disks[provider]))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    info = json.loads(qemu_img("info", "--output=json", "-f", fmt, str(disks[provider])).stdout)
    assert info["virtual-size"] == 20 * GIB


def test_catalogue_lists_both_boxes_with_their_checksums(release):
    catalogue = json.loads((release / f"tm351-{RECIPE}.json").read_text())
    assert catalogue["name"] == f"tm351/{RECIPE}"
    [version] = catalogue["versions"]
    assert version["version"] == load_shelf().version
    sums = dict(reversed(line.split("  ")) for line in (release / "SHA256SUMS").read_text().splitlines())
    for provider in version["providers"]:
        box = box_path(release, provider["name"])
        assert provider["url"] == box.as_uri()
        assert provider["checksum_type"] == "sha256"
        assert provider["checksum"] == sums[box.name]
    assert sorted(p["name"] for p in version["providers"]) == ["libvirt", "virtualbox"]
    checked = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=release, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_vagrant_adds_the_libvirt_box_from_the_catalogue_and_loads_its_vagrantfile(release, tmp_path):
    env = {**os.environ, "VAGRANT_HOME": str(tmp_path / "vagrant.d"), "VAGRANT_DEFAULT_PROVIDER": "libvirt"}

    def vagrant(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["vagrant", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)

    catalogue = (release / f"tm351-{RECIPE}.json").as_uri()
    added = vagrant("box", "add", "--provider", "libvirt", catalogue)
    assert added.returncode == 0, added.stdout + added.stderr
    assert "Calculating and comparing box checksum" in added.stdout
    listed = vagrant("box", "list")
    assert f"tm351/{RECIPE} (libvirt, {load_shelf().version})" in listed.stdout
    assert json.loads(box_text(release, "libvirt", "metadata.json")) == {
        "provider": "libvirt",
        "format": "qcow2",
        "virtual_size": 20,
    }
    assert vagrant("init", "--minimal", f"tm351/{RECIPE}").returncode == 0
    # Validating reads the box's own Vagrantfile too: the libvirt plugin checks its settings.
    validated = vagrant("validate")
    assert validated.returncode == 0, validated.stdout + validated.stderr


def test_virtualbox_box_ovf_imports_the_vmdk_beside_it(release, disks):
    with tarfile.open(box_path(release, "virtualbox")) as box:
        members = set(box.getnames())
    assert {"box.ovf", "box-disk001.vmdk", "metadata.json", "Vagrantfile"} <= members
    assert json.loads(box_text(release, "virtualbox", "metadata.json")) == {"provider": "virtualbox"}
    envelope = ET.fromstring(box_text(release, "virtualbox", "box.ovf"))  # noqa: S314 - the release just built
    href = envelope.find(f"{OVF}References/{OVF}File").get(f"{OVF}href")
    assert href in members
    disk = envelope.find(f"{OVF}DiskSection/{OVF}Disk")
    vmdk = json.loads(qemu_img("info", "--output=json", str(disks["virtualbox"])).stdout)
    assert vmdk["format-specific"]["data"]["create-type"] == "streamOptimized"
    assert int(disk.get(f"{OVF}capacity")) == vmdk["virtual-size"]
    vagrantfile = box_text(release, "virtualbox", "Vagrantfile")
    assert 'config.vm.provider "virtualbox"' in vagrantfile and "forwarded_port" in vagrantfile


@pytest.fixture
def booted(disks, tmp_path) -> Iterator[tuple[Path, int]]:
    """The libvirt disk (under a throwaway overlay) running in QEMU without KVM: its serial log and gateway port."""
    if shutil.which("qemu-system-x86_64") is None:
        pytest.fail("The boot test needs QEMU: `apt-get install qemu-system-x86`.")
    overlay = tmp_path / "overlay.qcow2"
    created = qemu_img("create", "-q", "-f", "qcow2", "-b", str(disks["libvirt"]), "-F", "qcow2", str(overlay))
    assert created.returncode == 0, created.stderr
    serial, port = tmp_path / "serial.log", free_port()
    shelf = load_shelf()
    memory = vm_memory_mib(shelf, shelf.recipe(RECIPE))
    # fmt: off
    machine = subprocess.Popen(
        [
            "qemu-system-x86_64", "-accel", "tcg", "-m", str(memory), "-smp", "2", "-nographic", "-monitor", "none",
            "-serial", f"file:{serial}", "-drive", f"file={overlay},format=qcow2,if=virtio",
            "-netdev", f"user,id=n0,hostfwd=tcp:127.0.0.1:{port}-:{shelf.defaults.port}",
            "-device", "virtio-net-pci,netdev=n0",
        ],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    # fmt: on
    try:
        yield serial, port
    finally:
        machine.terminate()
        machine.wait(timeout=60)


@pytest.mark.slow
@pytest.mark.skipif("'slow' not in config.getoption('markexpr')", reason=SLOW_REASON)
def test_release_boots_and_serves_the_stack_with_its_first_boot_password(booted):
    serial, port = booted
    started = time.monotonic()
    login = re.compile(r"TM351-LOGIN: open (\S+) and log in as student with the password (\S+)")

    def console(pattern: re.Pattern[str]) -> re.Match[str] | None:
        return pattern.search(serial.read_text(errors="replace")) if serial.exists() else None

    assert wait_until(lambda: console(login) is not None, timeout=600, pause=2), "no TM351-LOGIN line on the console"
    url, password = console(login).groups()
    seen_login = time.monotonic() - started
    entrance = f"http://127.0.0.1:{port}/{url.split('/', 3)[3]}"

    def answers(auth: tuple[str, str] | None) -> int:
        try:
            return requests.get(entrance, auth=auth, allow_redirects=False, timeout=30).status_code
        except requests.RequestException:
            return 0

    assert wait_until(lambda: answers(("student", password)) in (200, 302), timeout=900, pause=5)
    seen_gateway = time.monotonic() - started
    assert answers(None) == 401
    assert answers(("student", "not-the-password")) == 401
    ready = re.compile(r"TM351-PROVISION: OK: the stack is up")
    assert wait_until(lambda: console(ready) is not None, timeout=1200, pause=5), "no TM351-PROVISION: OK line"
    print(
        f"login line after {seen_login:.0f} s, gateway with the password after {seen_gateway:.0f} s, "
        f"stack healthy after {time.monotonic() - started:.0f} s (software emulation)"
    )
