"""`--help` and bad arguments answer without importing the heavy libraries only some commands need."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers.cli import REPO

# pydantic is left out: typer itself imports it to convert a command's parameters.
HEAVY = ("docker", "boto3", "botocore", "jinja2", "yaml", "rich.table", "shelf.catalogue", "images", "hosts", "ami")


@pytest.mark.parametrize("args", [["--help"], ["up", "--help"], ["fleet", "--help"]])
def test_help_imports_no_heavy_library(args):
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "tasks.py", *args], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    imported = {
        line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time")
    }
    assert not [name for name in imported if name in HEAVY or name.split(".")[0] in HEAVY]
