"""The repository root, and running the CLI: as a user would (a new process), or the same app in this process."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 900, stdin: str | None = None
) -> subprocess.CompletedProcess:
    """Run `python tasks.py ARGS` from the repository root; returns the CompletedProcess."""
    return subprocess.run(
        [sys.executable, "tasks.py", *args],
        cwd=REPO,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def invoke_cli(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    """The same command as run_cli, run by the same app in this process (no new Python, its imports already made).

    An error the app does not report itself ends as a real run does: exit code 1 and the traceback on stderr.
    What only a real process shows (the interpreter's startup, what it imports, --debug's uncaught traceback) is
    left to run_cli.
    """
    from typer.testing import CliRunner

    from tm351vce import tasks

    with contextlib.chdir(REPO):
        result = CliRunner().invoke(
            tasks.app, list(args), input=stdin, env={"COLUMNS": "200", **(env or {})}, prog_name="tasks.py"
        )
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(result.exception))
    return subprocess.CompletedProcess(["tasks.py", *args], result.exit_code, result.stdout, stderr)


def copy_checkout(target: Path) -> Path:
    """The checkout's files (tracked, and new ones git does not ignore) copied to target, as a fresh clone has them."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO, capture_output=True, text=True,
        check=True,
    )  # fmt: skip
    for name in listed.stdout.split():
        if (REPO / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, target / name)
    return target
