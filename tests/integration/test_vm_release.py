"""A VM release of the smallest recipe, built for real from Debian's archive by `vm-release`: its disks pass
qemu-img's check, Vagrant adds the libvirt box from the catalogue (checking its SHA-256) and loads its Vagrantfile,
and the VirtualBox box's OVF imports the vmdk beside it. VirtualBox cannot run here, so that box is checked only
for its structure. Then a student's `up --provider vagrant --vm libvirt --box CATALOGUE` boots the libvirt box
for real, under QEMU's software emulation (KVM guests do not run on these machines)."""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.helpers.cli import run_cli
from tests.helpers.jupyter_kernel import browser_session
from tests.helpers.net import free_port
from tm351vce.shelf.catalogue import load_shelf

pytestmark = pytest.mark.needs("root", "loop-devices", "debootstrap", "vmdb2", "qemu-img", "vagrant", "libvirt")

RECIPE = "jupyter"  # the smallest recipe
GIB = 1024**3
OVF = "{http://schemas.dmtf.org/ovf/envelope/1}"


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
def student(release, tmp_path) -> Iterator[Student]:
    """A student's computer: Vagrant's and the tool's own folders kept apart from this machine's, and the
    machine, its libvirt volumes and its box removed afterwards."""
    env = {
        "VAGRANT_HOME": str(tmp_path / "vagrant.d"),
        "XDG_DATA_HOME": str(tmp_path / "share"),
        "VAGRANT_DEFAULT_PROVIDER": "libvirt",
    }
    you = Student(env, tmp_path / "share" / "tm351" / "vagrant" / "libvirt", tmp_path / "TM351VCE", free_port())
    try:
        yield you
    finally:
        if (you.machine / "Vagrantfile").is_file():
            you.vagrant("destroy", "--force")
        volumes = subprocess.run(["virsh", "vol-list", "default"], capture_output=True, text=True).stdout
        for volume in (line.split()[0] for line in volumes.splitlines()[2:] if line.strip()):
            if volume.startswith(f"tm351-VAGRANTSLASH-{RECIPE}_vagrant_box_image"):
                subprocess.run(["virsh", "vol-delete", volume, "--pool", "default"], capture_output=True)


@dataclass
class Student:
    env: dict[str, str]
    machine: Path  # where `up --provider vagrant --vm libvirt` keeps the machine
    folder: Path  # the student's folder on the host
    port: int

    def vagrant(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["vagrant", *args], cwd=self.machine, env={**os.environ, **self.env},
            capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip

    def get(self, path: str, password: str | None = None, **kwargs) -> requests.Response:
        auth = ("student", password) if password else None
        return requests.get(f"http://127.0.0.1:{self.port}{path}", auth=auth, timeout=30, **kwargs)


@pytest.mark.needs("qemu-system")
def test_vagrant_up_of_the_release_serves_the_stack_on_the_students_folder(release, student):
    """The documented path through `up`, as a student without KVM runs it: Vagrant adds the box from the
    catalogue, boots it under QEMU's emulation and the stack answers with the password made on first boot."""
    (student.folder / "notebooks").mkdir(parents=True)
    (student.folder / "notebooks" / "from-the-host.txt").write_text("written on the host\n")
    started = time.monotonic()
    # fmt: off
    result = run_cli(
        "up", "--provider", "vagrant", "--vm", "libvirt", "--no-kvm",
        "--box", str(release / f"tm351-{RECIPE}.json"),
        "--data-dir", str(student.folder), "--port", str(student.port),
        env=student.env, timeout=2400,
    )
    # fmt: on
    up_seconds = time.monotonic() - started
    console_log = student.machine / "console.log"  # only there once libvirt has made the machine
    console = console_log.read_text(errors="replace") if console_log.is_file() else ""
    assert result.returncode == 0, result.stdout + result.stderr + console[-3000:]
    assert f"open http://127.0.0.1:{student.port}/jupyter/" in result.stdout

    told = run_cli("password", "--provider", "vagrant", "--vm", "libvirt", env=student.env, timeout=120)
    assert told.returncode == 0, told.stdout + told.stderr
    password = told.stdout.strip()
    assert len(password) >= 16
    # The serial console, kept beside the Vagrantfile, shows the same password and says when the stack is up.
    assert f"log in as student with the password {password}" in console
    assert "TM351-PROVISION: OK: the stack is up" in console

    assert student.get("/jupyter/", allow_redirects=False).status_code == 401
    assert student.get("/jupyter/", "not-the-password", allow_redirects=False).status_code == 401
    listed = student.get("/jupyter/api/contents/notebooks", password)
    assert listed.status_code == 200, listed.text
    assert "from-the-host.txt" in [item["name"] for item in listed.json()["content"]]
    notebook = {"type": "notebook", "content": {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}}
    jupyter = f"http://127.0.0.1:{student.port}/jupyter/"
    saved = browser_session(jupyter, auth=("student", password)).put(
        f"{jupyter}api/contents/notebooks/from-the-vm.ipynb", data=json.dumps(notebook), timeout=30
    )
    assert saved.status_code in (200, 201), saved.text
    assert (student.folder / "notebooks" / "from-the-vm.ipynb").is_file()
    print(f"vagrant up of the release under emulation, to the stack answering: {up_seconds:.0f} s")
