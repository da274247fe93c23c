"""box.ovf: the machine VirtualBox imports from a box (OVF 1.0, as VirtualBox itself exports one)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

OVF = "http://schemas.dmtf.org/ovf/envelope/1"
RASD = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData"
VSSD = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData"
VBOX = "http://www.virtualbox.org/ovf/machine"
STREAM_OPTIMIZED = "http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"
DEBIAN_64 = ("96", "Debian_64")  # CIM operating system id, and VirtualBox's own name for it
# CIM resource types.
CPU, MEMORY, SATA_CONTROLLER, ETHERNET, DISK = 3, 4, 20, 10, 17


@dataclass(frozen=True)
class Machine:
    name: str
    disk_file: str  # the vmdk beside box.ovf
    disk_bytes: int  # the vmdk file's size
    capacity_bytes: int  # the disk's size as the machine sees it
    memory_mib: int
    cpus: int = 2


def render_ovf(machine: Machine) -> str:
    for prefix, uri in (("ovf", OVF), ("rasd", RASD), ("vssd", VSSD), ("vbox", VBOX)):
        ET.register_namespace(prefix, uri)
    envelope = ET.Element(_q(OVF, "Envelope"), {_q(OVF, "version"): "1.0"})
    references = ET.SubElement(envelope, _q(OVF, "References"))
    ET.SubElement(
        references,
        _q(OVF, "File"),
        {_q(OVF, "id"): "file1", _q(OVF, "href"): machine.disk_file, _q(OVF, "size"): str(machine.disk_bytes)},
    )
    disks = _section(envelope, "DiskSection", "List of the virtual disks used in the package")
    ET.SubElement(
        disks,
        _q(OVF, "Disk"),
        {
            _q(OVF, "capacity"): str(machine.capacity_bytes),
            _q(OVF, "diskId"): "vmdisk1",
            _q(OVF, "fileRef"): "file1",
            _q(OVF, "format"): STREAM_OPTIMIZED,
        },
    )
    networks = _section(envelope, "NetworkSection", "Logical networks used in the package")
    network = ET.SubElement(networks, _q(OVF, "Network"), {_q(OVF, "name"): "NAT"})
    ET.SubElement(network, _q(OVF, "Description")).text = "Logical network used by this appliance."

    system = ET.SubElement(envelope, _q(OVF, "VirtualSystem"), {_q(OVF, "id"): machine.name})
    ET.SubElement(system, _q(OVF, "Info")).text = "A virtual machine"
    os_id, os_type = DEBIAN_64
    operating_system = _section(system, "OperatingSystemSection", "The kind of installed guest operating system")
    operating_system.set(_q(OVF, "id"), os_id)
    ET.SubElement(operating_system, _q(OVF, "Description")).text = os_type
    ET.SubElement(operating_system, _q(VBOX, "OSType"), {_q(OVF, "required"): "false"}).text = os_type

    hardware = _section(system, "VirtualHardwareSection", "Virtual hardware requirements for a virtual machine")
    settings = ET.SubElement(hardware, _q(OVF, "System"))
    for key, value in (
        ("ElementName", "Virtual Hardware Family"),
        ("InstanceID", "0"),
        ("VirtualSystemIdentifier", machine.name),
        ("VirtualSystemType", "virtualbox-2.2"),
    ):
        ET.SubElement(settings, _q(VSSD, key)).text = value
    controller = {
        "Address": 0,
        "Caption": "sataController0",
        "ResourceSubType": "AHCI",
        "ResourceType": SATA_CONTROLLER,
    }
    items = [
        {"Caption": f"{machine.cpus} virtual CPU", "ResourceType": CPU, "VirtualQuantity": machine.cpus},
        {
            "AllocationUnits": "MegaBytes",
            "Caption": f"{machine.memory_mib} MB of memory",
            "ResourceType": MEMORY,
            "VirtualQuantity": machine.memory_mib,
        },
        controller,
        {
            "AutomaticAllocation": "true",
            "Caption": "Ethernet adapter on 'NAT'",
            "Connection": "NAT",
            "ResourceSubType": "E1000",
            "ResourceType": ETHERNET,
        },
    ]
    disk = {"AddressOnParent": 0, "Caption": "disk1", "HostResource": "/disk/vmdisk1", "ResourceType": DISK}
    items.append({**disk, "Parent": items.index(controller) + 1})
    for instance, fields in enumerate(items, start=1):
        item = ET.SubElement(hardware, _q(OVF, "Item"))
        fields = {**fields, "ElementName": fields["Caption"], "InstanceID": instance}
        # The CIM schema orders a resource's fields alphabetically.
        for key in sorted(fields):
            ET.SubElement(item, _q(RASD, key)).text = str(fields[key])
    ET.indent(envelope)
    return ET.tostring(envelope, encoding="unicode", xml_declaration=True) + "\n"


def _section(parent: ET.Element, name: str, info: str) -> ET.Element:
    section = ET.SubElement(parent, _q(OVF, name))
    ET.SubElement(section, _q(OVF, "Info")).text = info
    return section


def _q(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"
