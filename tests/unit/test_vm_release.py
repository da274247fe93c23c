"""VM releases without building one: the vmdb2 steps, the boxes' metadata, Vagrantfile and OVF, the checksums and
the box catalogue, and the builder's preconditions."""

from __future__ import annotations

import os
import subprocess
import xml.etree.ElementTree as ET

import pytest

from tests.helpers.cli import invoke_cli
from tests.helpers.documents import parse_yaml
from tm351vce.shelf.errors import UsageProblem
from tm351vce.vagrant.release import disk, spec
from tm351vce.vagrant.release.boxes import BoxSettings, box_vagrantfile, metadata
from tm351vce.vagrant.release.catalogue import merge_catalogue, merge_checksums, provider_entry
from tm351vce.vagrant.release.insecure_key import insecure_key
from tm351vce.vagrant.release.ovf import Machine, render_ovf

GIB = 1024**3
OVF = "{http://schemas.dmtf.org/ovf/envelope/1}"
RASD = "{http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData}"

SETTINGS = BoxSettings(
    box_name="tm351/jupyter",
    recipe="jupyter",
    version="0.1.0",
    url="http://127.0.0.1:35180/jupyter/",
    guest_port=35180,
    host_port=35180,
    data_folder="TM351VCE",
    guest_data_dir="/srv/TM351VCE",
    service_uid=3510,
    folders=("notebooks", "data"),
    memory_mib=1280,
    login_file="/opt/tm351/secrets/password",
)


def test_libvirt_metadata_gives_the_disk_size_in_whole_gb():
    assert metadata("libvirt", 20 * GIB) == {"provider": "libvirt", "format": "qcow2", "virtual_size": 20}
    assert metadata("libvirt", 20 * GIB + 1)["virtual_size"] == 21
    assert metadata("virtualbox", 20 * GIB) == {"provider": "virtualbox"}


@pytest.mark.parametrize("provider", ["libvirt", "virtualbox"])
def test_box_vagrantfile_forwards_the_gateway_and_syncs_the_student_folder(provider, tmp_path):
    vagrantfile = box_vagrantfile(provider, SETTINGS)
    assert 'config.vm.network "forwarded_port", guest: 35180, host: 35180, host_ip: "127.0.0.1"' in vagrantfile
    # A Vagrantfile using the box moves the port by giving the same id (the default id is the host port).
    assert "auto_correct: true, id: 'tm351-gateway'" in vagrantfile
    assert "config.vm.synced_folder student_folder, '/srv/TM351VCE', create: true" in vagrantfile
    assert "ENV.fetch(\"TM351_DATA_DIR\", File.join(Dir.home, 'TM351VCE'))" in vagrantfile
    assert f'config.vm.provider "{provider}"' in vagrantfile
    assert "memory = 1280" in vagrantfile
    assert 'run: "always"' in vagrantfile and "if systemctl restart tm351.service; then" in vagrantfile
    # The restart waits for the boot's own start to end, and only then forgets that start's ready file.
    assert vagrantfile.index("= activating ]") < vagrantfile.index("rm -f /run/tm351-ready")
    assert vagrantfile.index("rm -f /run/tm351-ready") < vagrantfile.index("systemctl restart")
    # virtiofs, not 9p: libvirt's own user cannot write to a student's folder.
    assert ('type: "virtiofs"' in vagrantfile) == (provider == "libvirt")
    assert ('lv.memorybacking :access, mode: "shared"' in vagrantfile) == (provider == "libvirt")
    assert ("uid=3510" in vagrantfile) == (provider == "virtualbox")


@pytest.mark.needs("ruby")
@pytest.mark.parametrize("provider", ["libvirt", "virtualbox"])
def test_box_vagrantfile_is_valid_ruby(provider, tmp_path):
    (tmp_path / "Vagrantfile").write_text(box_vagrantfile(provider, SETTINGS))
    checked = subprocess.run(["ruby", "-c", str(tmp_path / "Vagrantfile")], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    assert "Syntax OK" in checked.stdout


def test_ovf_references_the_vmdk_and_attaches_it_to_the_sata_controller():
    text = render_ovf(Machine("tm351-jupyter", "box-disk001.vmdk", 123, 20 * GIB, 1280))
    envelope = ET.fromstring(text)  # noqa: S314 - our own output
    assert envelope.tag == f"{OVF}Envelope"
    file = envelope.find(f"{OVF}References/{OVF}File")
    assert file.get(f"{OVF}href") == "box-disk001.vmdk" and file.get(f"{OVF}size") == "123"
    disk_entry = envelope.find(f"{OVF}DiskSection/{OVF}Disk")
    assert disk_entry.get(f"{OVF}fileRef") == file.get(f"{OVF}id")
    assert disk_entry.get(f"{OVF}capacity") == str(20 * GIB)
    assert disk_entry.get(f"{OVF}format").endswith("#streamOptimized")
    items = {
        int(item.find(f"{RASD}InstanceID").text): {child.tag.removeprefix(RASD): child.text for child in item}
        for item in envelope.iter(f"{OVF}Item")
    }
    by_type = {int(fields["ResourceType"]): (instance, fields) for instance, fields in items.items()}
    controller_id, controller = by_type[20]
    assert controller["ResourceSubType"] == "AHCI"
    _, attached = by_type[17]
    assert attached["HostResource"] == f"/disk/{disk_entry.get(f'{OVF}diskId')}"
    assert int(attached["Parent"]) == controller_id
    assert by_type[4][1]["VirtualQuantity"] == "1280"
    assert by_type[10][1]["Connection"] == "NAT"
    for fields in items.values():
        assert list(fields) == sorted(fields), "the CIM schema orders a resource's fields alphabetically"


def test_catalogue_adds_versions_newest_first_and_replaces_a_rebuilt_one():
    first = merge_catalogue(None, "tm351/jupyter", "Jupyter", "0.9.0", [provider_entry("libvirt", "u1", "a" * 64)])
    assert first["name"] == "tm351/jupyter"
    assert first["versions"] == [
        {
            "version": "0.9.0",
            "providers": [{"name": "libvirt", "url": "u1", "checksum_type": "sha256", "checksum": "a" * 64}],
        }
    ]
    second = merge_catalogue(first, "tm351/jupyter", "Jupyter", "0.10.0", [provider_entry("libvirt", "u2", "b" * 64)])
    assert [entry["version"] for entry in second["versions"]] == ["0.10.0", "0.9.0"]
    rebuilt = merge_catalogue(
        second, "tm351/jupyter", "Jupyter", "0.9.0", [provider_entry("virtualbox", "u3", "c" * 64)]
    )
    assert [entry["version"] for entry in rebuilt["versions"]] == ["0.10.0", "0.9.0"]
    assert rebuilt["versions"][1]["providers"][0]["name"] == "virtualbox"


def test_catalogue_of_another_box_is_refused():
    other = {"name": "tm351/tm351", "versions": []}
    with pytest.raises(UsageProblem, match="its own folder"):
        merge_catalogue(other, "tm351/jupyter", "Jupyter", "0.1.0", [])


def test_checksums_replace_a_rebuilt_file_and_keep_the_others(tmp_path):
    merged = merge_checksums(f"{'a' * 64}  old.box\n{'b' * 64}  rebuilt.box\n", {"rebuilt.box": "c" * 64})
    assert merged == f"{'a' * 64}  old.box\n{'c' * 64}  rebuilt.box\n"
    (tmp_path / "old.box").write_bytes(b"")
    empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    (tmp_path / "SHA256SUMS").write_text(merge_checksums("", {"old.box": empty}))
    checked = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=tmp_path, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_spec_builds_from_the_cache_or_debian_and_applies_provision_in_a_chroot(tmp_path):
    inputs = spec.ImageInputs(tmp_path / "bundle", tmp_path / "vagrant.pub", tmp_path / "docker-compose", "http://x/")
    steps = parse_yaml(spec.spec_yaml(spec.image_spec(inputs)))["steps"]
    kinds = [next(iter(step)) for step in steps]
    assert kinds[:5] == ["mklabel", "mkpart", "mkfs", "mount", "unpack-rootfs"]
    assert kinds[-2:] == ["grub", "shell"]
    cached = [next(iter(step)) for step in steps if step.get("unless") == spec.CACHED]
    assert cached == ["debootstrap", "shell", "apt", "cache-rootfs"]
    packages = next(step for step in steps if "apt" in step)["packages"]
    assert {"linux-image-amd64", "grub-pc", "systemd-sysv", "cloud-init", "docker.io", "apparmor"} <= set(packages)
    preload = next(step["shell"] for step in steps if "preload.sh" in step.get("shell", ""))
    assert preload.startswith("unshare --mount --net --pid --fork --kill-child ")
    assert preload.endswith(f'"$ROOT" {tmp_path / "bundle"}')
    grub = next(step for step in steps if "grub" in step)
    assert grub["grub"] == "bios" and grub["image-dev"] == "{{ image }}"
    for name in ("base.sh", "configure.sh", "preload.sh", "finish.sh", "banner.sh", "systemctl-offline.sh"):
        assert os.access(spec.IMAGE_DIR / name, os.X_OK), name


def test_base_cache_changes_with_its_packages(monkeypatch):
    before = spec.base_cache_key()
    assert spec.base_cache_key() == before
    monkeypatch.setattr(spec, "PACKAGES", (*spec.PACKAGES, "vim"))
    assert spec.base_cache_key() != before


def test_progress_shows_the_command_vmdb2_runs():
    assert disk._vmdb2_step("Exec: ['chroot', '/tmp/x', 'apt-get', 'update']") == "apt-get update"
    assert disk._vmdb2_step("TM351-PROVISION: OK: ready") == "TM351-PROVISION: OK: ready"
    assert disk._vmdb2_step("Get:1 http://deb.debian.org") is None


def test_builder_needs_root_and_names_the_packages_to_install(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(UsageProblem, match="as root"):
        disk.check_builder()
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(disk, "find_tool", lambda tool: None if tool in ("vmdb2", "qemu-img") else f"/usr/bin/{tool}")
    with pytest.raises(UsageProblem, match=r"apt-get install qemu-utils vmdb2`"):
        disk.check_builder()


def test_insecure_key_is_found_in_vagrants_gem_or_asked_for(tmp_path):
    key = tmp_path / "gems" / "vagrant-2.3.4" / "keys" / "vagrant.pub"
    key.parent.mkdir(parents=True)
    key.write_text("ssh-rsa AAAA vagrant insecure public key\n")
    assert insecure_key((str(tmp_path / "gems" / "vagrant-*" / "keys" / "vagrant.pub"),)) == key
    with pytest.raises(UsageProblem, match="install Vagrant"):
        insecure_key((str(tmp_path / "nowhere" / "*.pub"),))


def test_cli_refuses_an_unknown_recipe_with_exit_2():
    result = invoke_cli("vm-release", "no-such-recipe", "-o", "unused")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Unknown recipe 'no-such-recipe'" in result.stderr
