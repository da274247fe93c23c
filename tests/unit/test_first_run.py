"""A fresh checkout run with a bare python3 makes its own environment, then runs the command inside it."""

from __future__ import annotations

import json
import subprocess
import venv

import pytest

from tests.helpers.cli import copy_checkout

# It installs requirements.txt from the package index into a new environment.
pytestmark = pytest.mark.slow


def test_a_bare_python_makes_the_environment_once_and_runs_the_command(tmp_path):
    checkout = copy_checkout(tmp_path / "checkout")
    bare = tmp_path / "bare"
    venv.create(bare, with_pip=False)  # a python3 with nothing but the standard library
    command = [str(bare / "bin" / "python"), "tasks.py", "list", "--json"]

    first = subprocess.run(command, cwd=checkout, capture_output=True, text=True, check=False, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "making the toolkit's Python environment" in first.stderr
    assert json.loads(first.stdout)["recipes"]
    assert (checkout / ".venv" / "bin" / "python").exists()

    again = subprocess.run(command, cwd=checkout, capture_output=True, text=True, check=False, timeout=600)
    assert again.returncode == 0 and "making the toolkit's Python environment" not in again.stderr

    # The README's test line then runs `python3 -m venv .venv` on the same folder: nothing to redo or copy over.
    remade = subprocess.run(
        [str(bare / "bin" / "python"), "-m", "venv", ".venv"], cwd=checkout, capture_output=True, text=True, check=False
    )
    assert remade.returncode == 0 and "Unable to symlink" not in remade.stdout + remade.stderr, remade.stderr
