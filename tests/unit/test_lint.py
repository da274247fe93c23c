"""The project's own checks: ruff for Python, shellcheck for shell scripts, hadolint for Dockerfiles, each run once
over all its files and leaving nothing in the checkout."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers.cli import REPO
from tests.helpers.tools import find_tool


def tracked(*patterns: str) -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", *patterns],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return listed.stdout.split()


def untracked_and_ignored() -> str:
    listed = subprocess.run(
        ["git", "status", "--porcelain", "--ignored", "--untracked-files=all"], cwd=REPO, capture_output=True,
        text=True, check=True,
    )  # fmt: skip
    return "\n".join(line for line in listed.stdout.splitlines() if "__pycache__" not in line)


def run(*command: str) -> subprocess.CompletedProcess:
    """One run of a checker over the checkout, which it must leave as it found it (no cache, no report)."""
    before = untracked_and_ignored()
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    assert untracked_and_ignored() == before, f"{command[0]} left files in the checkout"
    return result


@pytest.mark.needs("git", "ruff")
def test_ruff():
    result = run(sys.executable, "-m", "ruff", "check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.needs("git", "shellcheck")
def test_shellcheck():
    scripts = tracked("*.sh", ".ci/run")
    assert scripts
    result = run(str(find_tool("shellcheck")), *scripts)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.needs("git", "hadolint")
def test_hadolint():
    dockerfiles = tracked("*Dockerfile")
    assert dockerfiles
    result = run(str(find_tool("hadolint")), "--no-color", *dockerfiles)
    assert result.returncode == 0, result.stdout + result.stderr


def test_tools_are_found_beside_the_running_python_first_then_on_path(monkeypatch, tmp_path):
    venv, elsewhere = tmp_path / "venv" / "bin", tmp_path / "elsewhere"
    for folder in (venv, elsewhere):
        folder.mkdir(parents=True)
        tool = folder / "shellcheck"
        tool.write_text("#!/bin/sh\n")
        tool.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(venv / "python"))
    monkeypatch.setenv("PATH", str(elsewhere))
    assert find_tool("shellcheck") == str(venv / "shellcheck")  # without the venv's bin/ on PATH
    (venv / "shellcheck").unlink()
    assert find_tool("shellcheck") == str(elsewhere / "shellcheck")
    assert find_tool("hadolint") is None
