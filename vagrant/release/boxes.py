"""Vagrant boxes of a release disk: libvirt (qcow2) and VirtualBox (vmdk and box.ovf), each with its Vagrantfile."""

from __future__ import annotations

import io
import json
import math
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tm351vce.vagrant.release.ovf import Machine, render_ovf
from tm351vce.vagrant.ruby_template import ruby_template

TEMPLATE = Path(__file__).with_name("box_Vagrantfile.j2")
GIB = 1024**3
LIBVIRT_DISK = "box.img"
VIRTUALBOX_DISK = "box-disk001.vmdk"
CPUS = 2
# The gateway's forwarded port, by id: a Vagrantfile using the box replaces it by giving the same id.
FORWARD_ID = "tm351-gateway"
# Made by the release's banner.sh when the stack is up; the box's provisioner removes it before restarting.
READY_FILE = "/run/tm351-ready"


@dataclass(frozen=True)
class BoxSettings:
    """What the box's own Vagrantfile sets up: its name, the forwarded gateway and the synced student folder."""

    box_name: str  # e.g. tm351/jupyter
    recipe: str
    version: str
    url: str
    guest_port: int
    host_port: int
    data_folder: str  # the student's folder, under the home folder of whoever runs Vagrant
    guest_data_dir: str
    service_uid: int
    folders: tuple[str, ...]
    memory_mib: int
    login_file: str


def box_file_name(recipe: str, version: str, provider: str) -> str:
    return f"tm351-{recipe}-{version}-{provider}.box"


def metadata(provider: str, virtual_size_bytes: int) -> dict[str, Any]:
    if provider == "libvirt":
        # vagrant-libvirt reads the disk's size in whole GB.
        return {"provider": "libvirt", "format": "qcow2", "virtual_size": math.ceil(virtual_size_bytes / GIB)}
    return {"provider": provider}


def box_vagrantfile(provider: str, settings: BoxSettings) -> str:
    return ruby_template(TEMPLATE).render(
        provider=provider, cpus=CPUS, forward_id=FORWARD_ID, ready_file=READY_FILE, **settings.__dict__
    )


def libvirt_box(disk: Path, virtual_size_bytes: int, settings: BoxSettings, box: Path) -> Path:
    """A libvirt box: the qcow2 disk as box.img, metadata.json and the Vagrantfile."""
    _write_box(
        box,
        {
            "metadata.json": json.dumps(metadata("libvirt", virtual_size_bytes), indent=2) + "\n",
            "Vagrantfile": box_vagrantfile("libvirt", settings),
        },
        {LIBVIRT_DISK: disk},
    )
    return box


def virtualbox_box(disk: Path, virtual_size_bytes: int, settings: BoxSettings, box: Path) -> Path:
    """A VirtualBox box: the streamOptimized vmdk, the box.ovf that imports it, metadata.json and the Vagrantfile."""
    machine = Machine(
        name=f"tm351-{settings.recipe}",
        disk_file=VIRTUALBOX_DISK,
        disk_bytes=disk.stat().st_size,
        capacity_bytes=virtual_size_bytes,
        memory_mib=settings.memory_mib,
        cpus=CPUS,
    )
    _write_box(
        box,
        {
            "metadata.json": json.dumps(metadata("virtualbox", virtual_size_bytes), indent=2) + "\n",
            "Vagrantfile": box_vagrantfile("virtualbox", settings),
            "box.ovf": render_ovf(machine),
        },
        {VIRTUALBOX_DISK: disk},
    )
    return box


def _write_box(box: Path, texts: dict[str, str], files: dict[str, Path]) -> None:
    """A box is a tar archive; left uncompressed, since its disk already is."""
    partial = box.with_name(box.name + ".partial")
    with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as archive:
        for name, text in texts.items():
            data = text.encode()
            member = tarfile.TarInfo(name)
            member.size, member.mode = len(data), 0o644
            archive.addfile(member, io.BytesIO(data))
        for name, path in files.items():
            archive.add(path, arcname=name, filter=_plain_member)
    partial.replace(box)


def _plain_member(member: tarfile.TarInfo) -> tarfile.TarInfo:
    member.uid = member.gid = 0
    member.uname = member.gname = ""
    member.mode = 0o644
    return member
