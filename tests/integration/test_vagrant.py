"""Vagrant: the generated Vagrantfiles validate for all four providers, and `up --provider vagrant --vm docker`
brings a machine up whose gateway answers, whose password the CLI reads, and whose student files and database
passwords outlive `vagrant destroy`."""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.helpers.cli import run_cli
from tests.helpers.jupyter_kernel import browser_session
from tests.helpers.net import free_port, wait_until
from tm351vce.images.build import host_image_ref
from tm351vce.shelf.catalogue import load_shelf
from tm351vce.vagrant.render import machine_name

pytestmark = pytest.mark.needs("vagrant")

RECIPE = "jupyter"
MACHINE_RECIPE = "jupyter-postgres"  # a database, so backup and restore reach into the machine
FAKE_REGISTRY = "registry.example.org/ou"


def vagrant(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    if shutil.which("vagrant") is None:
        pytest.fail("Vagrant is not installed: run .ci/run (it installs Debian's vagrant and vagrant-libvirt).")
    return subprocess.run(["vagrant", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def pinned_cache(tmp_path_factory) -> Path:
    """A digest record as `push` writes it, for rendering the aws machine (no registry is pushed to here)."""
    cache = tmp_path_factory.mktemp("cache")
    shelf = load_shelf()
    lock = {
        f"{FAKE_REGISTRY}/tm351/{name}:{shelf.version}": f"{FAKE_REGISTRY}/tm351/{name}:{shelf.version}@sha256:"
        + f"{index:064x}"
        for index, name in enumerate(shelf.recipe(RECIPE).apps)
    }
    (cache / "tm351").mkdir()
    (cache / "tm351" / "images.lock.json").write_text(json.dumps(lock))
    return cache


@pytest.mark.parametrize(
    ("provider", "validate"),
    [
        # VirtualBox cannot be installed here, nor the vagrant-aws plugin: their provider blocks are skipped.
        ("virtualbox", ["validate", "--ignore-provider"]),
        pytest.param("libvirt", ["validate"], marks=pytest.mark.needs("libvirt")),
        ("docker", ["validate"]),
        ("aws", ["validate", "--ignore-provider"]),
    ],
)
def test_vagrant_validates_the_generated_files(provider, validate, built, pinned_cache, tmp_path):
    folder = tmp_path / provider
    extra = ["--registry", FAKE_REGISTRY, "--ami", "ami-0123456789abcdef0"] if provider == "aws" else []
    written = run_cli(
        "vagrant", RECIPE, "--provider", provider, "-o", str(folder), "--data-dir", str(tmp_path / "student"), *extra,
        env={"XDG_CACHE_HOME": str(pinned_cache)},
    )  # fmt: skip
    assert written.returncode == 0, written.stdout + written.stderr
    assert (folder / "provision" / "provision.sh").is_file()
    result = vagrant(*validate, cwd=folder)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "validated successfully" in result.stdout


@pytest.fixture(scope="module")
def machine(engine, built, tmp_path_factory) -> Iterator[dict]:
    state = tmp_path_factory.mktemp("state")
    student = tmp_path_factory.mktemp("student") / "TM351VCE"
    port = free_port()
    env = {"XDG_DATA_HOME": str(state)}
    folder = state / "tm351" / "vagrant" / "docker"
    name = machine_name(load_shelf().recipe(MACHINE_RECIPE), folder)
    try:
        yield {"env": env, "folder": folder, "student": student, "port": port, "engine": f"{name}-engine"}
    finally:
        if folder.is_dir():
            vagrant("destroy", "-f", cwd=folder)
        for volume in (f"{name}-engine", f"{name}-secrets"):
            subprocess.run(["docker", "volume", "rm", "-f", volume], capture_output=True, check=False)


def _up(machine: dict) -> subprocess.CompletedProcess:
    return run_cli(
        "up", MACHINE_RECIPE, "--provider", "vagrant", "--vm", "docker",
        "--data-dir", str(machine["student"]), "--port", str(machine["port"]), env=machine["env"],
    )  # fmt: skip


def test_up_with_vagrant_docker_serves_the_stack_and_keeps_data_across_destroy(machine):
    started = _up(machine)
    assert started.returncode == 0, started.stdout + started.stderr
    url = f"http://127.0.0.1:{machine['port']}/jupyter/"
    assert url in started.stdout
    password = run_cli("password", "--provider", "vagrant", "--vm", "docker", env=machine["env"])
    assert password.returncode == 0, password.stderr
    login = ("student", password.stdout.strip())
    assert len(login[1]) >= 16
    assert requests.get(url + "api/status", timeout=10).status_code == 401
    assert requests.get(url + "api/status", auth=login, timeout=10).status_code == 200
    mine = {"type": "file", "format": "text", "content": "mine"}
    saved = browser_session(url, auth=login).put(url + "api/contents/notebooks/kept.txt", json=mine, timeout=10)
    assert saved.status_code in (200, 201), saved.text

    destroyed = vagrant("destroy", "-f", cwd=machine["folder"])
    assert destroyed.returncode == 0, destroyed.stderr
    assert not wait_until(lambda: _answers(url), timeout=2)
    assert (machine["student"] / "notebooks" / "kept.txt").read_text() == "mine"

    again = _up(machine)
    assert again.returncode == 0, again.stdout + again.stderr
    assert run_cli("password", "--provider", "vagrant", "--vm", "docker", env=machine["env"]).stdout.strip() == login[1]
    kept = requests.get(url + "api/contents/notebooks/kept.txt", auth=login, timeout=10)
    assert kept.status_code == 200 and kept.json()["content"] == "mine"


def _psql(machine: dict, sql: str) -> str:
    """SQL run inside the machine, in its PostgreSQL container (the database is never published)."""
    container = (machine["folder"] / ".vagrant" / "machines" / "tm351" / "docker" / "id").read_text().strip()
    command = ["docker", "exec", container, "docker", "exec", "-u", "postgres", "tm351-postgres-1",
               "psql", "-d", "tm351", "-tAc", sql]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_backup_and_restore_reach_the_stack_inside_the_machine(machine, tmp_path):
    assert _up(machine).returncode == 0  # already up after the test above: quick
    _psql(machine, "CREATE TABLE IF NOT EXISTS kept (answer int); DELETE FROM kept; INSERT INTO kept VALUES (42)")
    archive = tmp_path / "vm-backup.tar.gz"
    vm = ["--provider", "vagrant", "--vm", "docker", "--data-dir", str(machine["student"])]
    saved = run_cli("backup", "-o", str(archive), *vm, env=machine["env"])
    assert saved.returncode == 0, saved.stdout + saved.stderr
    with tarfile.open(archive) as contents:
        names = contents.getnames()
    assert "databases/postgres.dump" in names
    assert "files/notebooks/kept.txt" in names

    _psql(machine, "DROP TABLE kept")
    (machine["student"] / "notebooks" / "kept.txt").unlink()
    restored = run_cli("restore", str(archive), "--yes", *vm, env=machine["env"])
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert _psql(machine, "SELECT answer FROM kept") == "42"
    assert (machine["student"] / "notebooks" / "kept.txt").read_text() == "mine"


# An engine's network store as Debian 12's engine left it when killed while `compose down` removed the stack's
# network ("inDelete", no address pool): that engine then panics at every start (moby#45057).
STORE_KILLED_MID_DELETE = Path(__file__).with_name("data") / "network-store-killed-mid-delete.db.gz"


def test_a_kept_engine_whose_network_store_it_cannot_load_still_brings_the_stack_up(machine):
    destroyed = vagrant("destroy", "-f", cwd=machine["folder"])
    assert destroyed.returncode == 0, destroyed.stderr
    planted = subprocess.run(
        ["docker", "run", "--rm", "-i", "--entrypoint", "sh", "-v", f"{machine['engine']}:/engine",
         host_image_ref(load_shelf()),
         "-c", "mkdir -p /engine/network/files && gunzip -c >/engine/network/files/local-kv.db"],
        input=STORE_KILLED_MID_DELETE.read_bytes(), capture_output=True, check=False,
    )  # fmt: skip
    assert planted.returncode == 0, planted.stderr

    again = _up(machine)
    assert again.returncode == 0, again.stdout + again.stderr
    password = run_cli("password", "--provider", "vagrant", "--vm", "docker", env=machine["env"]).stdout.strip()
    url = f"http://127.0.0.1:{machine['port']}/jupyter/"
    listed = requests.get(url + "api/contents/notebooks", auth=("student", password), timeout=10)
    assert listed.status_code == 200, listed.text
    assert "kept.txt" in [item["name"] for item in listed.json()["content"]]
    assert _psql(machine, "SELECT answer FROM kept") == "42"


def _answers(url: str) -> bool:
    try:
        requests.get(url, timeout=1)
        return True
    except requests.RequestException:
        return False
