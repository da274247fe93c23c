"""`pip install .` gives a `tm351` command that is the same app as `python3 tasks.py`, with its files."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from tests.helpers.cli import REPO, copy_checkout, run_cli
from tests.helpers.documents import parse_yaml

# Building the package fetches its build backend from PyPI (build isolation), as a user's `pip install .` does.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The project installed into a virtual environment (its libraries from this one, so nothing is fetched)."""
    root = tmp_path_factory.mktemp("venv")
    venv.create(root, with_pip=False)
    python = root / "bin" / "python"
    # This environment's libraries, by a .pth file: the base Python's (system_site_packages) need not hold them.
    own = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    libraries = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(own) / "tm351-test-libraries.pth").write_text("".join(f"{path}\n" for path in sorted(libraries)))
    pip = [sys.executable, "-m", "pip", "--python", str(python)]
    built = subprocess.run(
        [*pip, "install", "--quiet", "--no-deps", str(copy_checkout(tmp_path_factory.mktemp("checkout")))],
        capture_output=True, text=True, check=False, cwd=root,
    )  # fmt: skip
    assert built.returncode == 0, built.stdout + built.stderr
    return root


def run_installed(root, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([root / "bin" / "tm351", *args], capture_output=True, text=True, check=False, cwd=root)


def test_the_command_is_the_same_app_as_tasks_py(installed):
    help_text = run_installed(installed, "--help")
    assert help_text.returncode == 0, help_text.stderr
    assert help_text.stdout.replace("tm351", "PROG") == run_cli("--help").stdout.replace("tasks.py", "PROG")


def test_the_installed_command_reads_its_own_catalogue_and_image_folders(installed):
    listed = run_installed(installed, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == json.loads(run_cli("list", "--json").stdout)
    package = next((installed / "lib").glob("python3*/site-packages/tm351vce"))
    assert (package / "images" / "gateway" / "Dockerfile").is_file()
    assert (package / "provision" / "provision.sh").is_file()


def test_the_version_is_written_once(installed):
    from tm351vce.shelf.catalogue import load_shelf
    from tm351vce.shelf.constants import VERSION

    catalogue = parse_yaml((REPO / "compose" / "shelf.yaml").read_text(encoding="utf-8"))
    assert "version" not in catalogue
    assert load_shelf().version == VERSION
    shown = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(installed / "bin" / "python"), "show", "tm351-vce"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert f"Version: {VERSION}" in shown.stdout, shown.stderr
