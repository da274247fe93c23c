"""The project's own checks: ruff for Python, shellcheck for shell scripts, hadolint for Dockerfiles."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers.cli import REPO


def tracked(*patterns: str) -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", *patterns],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return listed.stdout.split()


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)


@pytest.mark.needs("ruff")
def test_ruff():
    result = run(sys.executable, "-m", "ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.needs("git", "shellcheck")
def test_shellcheck():
    scripts = tracked("*.sh", ".ci/run")
    assert scripts
    result = run("shellcheck", *scripts)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.needs("git", "hadolint")
def test_hadolint():
    dockerfiles = tracked("*Dockerfile")
    assert dockerfiles
    result = run("hadolint", "--no-color", *dockerfiles)
    assert result.returncode == 0, result.stdout + result.stderr
