"""`--box NAME-OR-URL`: a VM release's box found by name, catalogue (path or URL) or .box file, and the
Vagrantfile that starts it instead of provisioning a base box."""

from __future__ import annotations

import json
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.helpers.net import serving
from tm351vce.shelf.errors import UsageProblem
from tm351vce.vagrant.release_box import ReleaseBox, release_box


def write_catalogue(folder: Path, name: str = "tm351/jupyter-postgres", providers=("libvirt", "virtualbox")) -> Path:
    entries = [{"name": provider, "url": f"file:///x/{provider}.box"} for provider in providers]
    catalogue = {"name": name, "versions": [{"version": "0.1.0", "providers": entries}]}
    path = folder / "tm351-jupyter-postgres.json"
    path.write_text(json.dumps(catalogue))
    return path


@pytest.fixture
def served(tmp_path):
    """tmp_path on a local web server, as a course team hosts a release."""
    handler = partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    with serving(ThreadingHTTPServer(("127.0.0.1", 0), handler)) as server:
        yield f"http://127.0.0.1:{server.server_port}"


def test_a_box_name_is_used_as_added():
    box = release_box("tm351/jupyter-postgres", "libvirt")
    assert box == ReleaseBox("tm351/jupyter-postgres", None)
    assert box.recipe == "jupyter-postgres"
    assert ReleaseBox("someone/else", None).recipe is None


def test_a_catalogue_path_names_its_box_and_is_added_from_its_file_url(tmp_path):
    path = write_catalogue(tmp_path)
    box = release_box(str(path), "libvirt")
    assert box == ReleaseBox("tm351/jupyter-postgres", path.as_uri())


def test_a_catalogue_url_is_read_over_http(tmp_path, served):
    write_catalogue(tmp_path)
    url = f"{served}/tm351-jupyter-postgres.json"
    assert release_box(url, "virtualbox") == ReleaseBox("tm351/jupyter-postgres", url)


def test_a_catalogue_without_the_provider_says_what_it_has(tmp_path):
    path = write_catalogue(tmp_path, providers=("virtualbox",))
    with pytest.raises(UsageProblem, match=r"no libvirt box \(it has: virtualbox\).*--format libvirt"):
        release_box(str(path), "libvirt")


def test_an_unreachable_or_foreign_catalogue_is_refused(tmp_path, served):
    with pytest.raises(UsageProblem, match="Could not read the box catalogue"):
        release_box(f"{served}/missing.json", "libvirt")
    (tmp_path / "page.json").write_text("<html></html>")
    with pytest.raises(UsageProblem, match="not a box catalogue"):
        release_box(str(tmp_path / "page.json"), "libvirt")
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(UsageProblem, match="not a box catalogue"):
        release_box(str(tmp_path / "list.json"), "libvirt")


def test_a_release_box_file_is_named_from_its_file_name(tmp_path):
    box_file = tmp_path / "tm351-jupyter-postgres-0.1.0-libvirt.box"
    box_file.write_bytes(b"")
    assert release_box(str(box_file), "libvirt") == ReleaseBox("tm351/jupyter-postgres", box_file.as_uri())
    with pytest.raises(UsageProblem, match="is a libvirt box: give the virtualbox one"):
        release_box(str(box_file), "virtualbox")
    other = tmp_path / "debian.box"
    other.write_bytes(b"")
    with pytest.raises(UsageProblem, match="vagrant box add --name NAME FILE"):
        release_box(str(other), "libvirt")


def test_a_missing_file_or_a_nonsense_name_is_refused(tmp_path):
    with pytest.raises(UsageProblem, match="no such file"):
        release_box(str(tmp_path / "release" / "tm351-jupyter.json"), "libvirt")
    with pytest.raises(UsageProblem, match="neither a box name"):
        release_box("not a box!", "libvirt")


def test_the_vagrantfile_starts_the_release_box_without_provisioning(cli_in_process, tmp_path):
    catalogue = write_catalogue(tmp_path)
    folder = tmp_path / "vm"
    # fmt: off
    result = cli_in_process(
        "vagrant", "--provider", "libvirt", "--box", str(catalogue), "--no-kvm", "-o", str(folder),
        "--data-dir", str(tmp_path / "student"), "--port", "45180",
    )
    # fmt: on
    assert result.returncode == 0, result.stdout + result.stderr
    vagrantfile = (folder / "Vagrantfile").read_text()
    assert "config.vm.box = 'tm351/jupyter-postgres'" in vagrantfile
    assert f"config.vm.box_url = '{catalogue.as_uri()}'" in vagrantfile
    assert "config.vm.provision" not in vagrantfile and not (folder / "provision").exists()
    # The box's own forward has this id, so this one replaces it instead of forwarding both.
    assert "host: 45180" in vagrantfile and "id: 'tm351-gateway'" in vagrantfile
    assert f"'{tmp_path / 'student'}', '/srv/TM351VCE', create: true, type: \"virtiofs\"" in vagrantfile
    assert 'lv.driver = "qemu"' in vagrantfile
    assert "recipe jupyter-postgres" in vagrantfile and "open http://127.0.0.1:45180/jupyter/" in vagrantfile


def test_box_options_are_checked_against_the_provider_and_recipe(cli_in_process, tmp_path):
    catalogue = str(write_catalogue(tmp_path))
    on_docker = cli_in_process("vagrant", "--provider", "docker", "--box", catalogue, "-o", str(tmp_path / "a"))
    assert on_docker.returncode == 2 and "--provider virtualbox or --provider libvirt" in on_docker.stderr
    no_kvm = cli_in_process("vagrant", "--provider", "virtualbox", "--no-kvm", "-o", str(tmp_path / "b"))
    assert no_kvm.returncode == 2 and "--no-kvm is for --provider libvirt" in no_kvm.stderr
    other = cli_in_process("vagrant", "jupyter", "--provider", "libvirt", "--box", catalogue, "-o", str(tmp_path / "c"))
    assert other.returncode == 2 and "carries the recipe jupyter-postgres, not jupyter" in other.stderr
    for result in (on_docker, no_kvm, other):
        assert "Traceback" not in result.stderr


def test_a_folder_whose_machine_exists_is_not_pointed_at_another_box(cli_in_process, tmp_path):
    catalogue = str(write_catalogue(tmp_path))
    folder = tmp_path / "vm"
    first = cli_in_process("vagrant", "--provider", "libvirt", "--box", catalogue, "-o", str(folder))
    assert first.returncode == 0, first.stderr
    again = cli_in_process("vagrant", "--provider", "libvirt", "--box", catalogue, "-o", str(folder))
    assert again.returncode == 0, again.stderr
    created = folder / ".vagrant" / "machines" / "tm351" / "libvirt" / "id"
    created.parent.mkdir(parents=True)
    created.write_text("0b1c")
    other = cli_in_process("vagrant", "--provider", "libvirt", "--box", "tm351/jupyter", "-o", str(folder))
    assert other.returncode == 2
    assert "made from box tm351/jupyter-postgres" in other.stderr and "vagrant destroy" in other.stderr


def test_password_names_the_folder_it_looked_in(cli_in_process, tmp_path):
    result = cli_in_process("password", "--provider", "vagrant", "--vm", "libvirt", "--vagrant-dir", str(tmp_path))
    assert result.returncode == 2
    assert f"No Vagrant machine in {tmp_path}" in result.stderr and "--vagrant-dir" in result.stderr
