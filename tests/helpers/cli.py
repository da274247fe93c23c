"""The repository root, and running the CLI: as a user would (a new process), or the same app in this process."""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 900, stdin: str | None = None
) -> subprocess.CompletedProcess:
    """Run `python3 tasks.py ARGS` from the repository root; returns the CompletedProcess."""
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


@functools.cache
def _app_command() -> Any:
    """tasks.py's app as the command its every run builds (once here: it holds no state between runs)."""
    from typer.main import get_command

    from tm351vce import tasks

    return get_command(tasks.app)


def invoke_cli(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    """The same command as run_cli, run by the same app in this process (no new Python, its imports already made).

    An error the app does not report itself ends as a real run does: exit code 1 and the traceback on stderr.
    What only a real process shows (the interpreter's startup, what it imports, --debug's uncaught traceback) is
    left to run_cli.
    """
    from typer.testing import CliRunner

    with contextlib.chdir(REPO), CliRunner().isolation(input=stdin, env={"COLUMNS": "200", **(env or {})}) as out:
        code = 0
        try:
            _app_command().main(args=list(args), prog_name="tasks.py")
        except SystemExit as ended:
            if ended.code is None or isinstance(ended.code, int):
                code = ended.code or 0
            else:
                print(ended.code, file=sys.stderr)
                code = 1
        except Exception:
            traceback.print_exc()
            code = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
        stdout, stderr = (stream.getvalue().decode("utf-8", "replace") for stream in out[:2])
    return subprocess.CompletedProcess(["tasks.py", *args], code, stdout, stderr)


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
