"""The toolkit's own Python environment: a fresh checkout run with a bare `python3` makes `.venv` beside it,
installs requirements.txt there once, and runs the same command again inside it. Standard library only."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path
from typing import NoReturn

ROOT = Path(__file__).resolve().parent.parent
ENVIRONMENT = ROOT / ".venv"
MINIMUM_PYTHON = (3, 11)


def run_in_own_environment(script: str, missing: str) -> NoReturn:
    """Make the environment if need be, then run script with this command line inside it."""
    python = ENVIRONMENT / "bin" / "python"
    if Path(sys.prefix).resolve() == ENVIRONMENT.resolve():
        _refuse(f"{ENVIRONMENT} lacks {missing}: remove that folder and run the same command again")
    if sys.version_info < MINIMUM_PYTHON:
        _refuse(f"the toolkit needs Python 3.11 or newer, and this is {sys.version.split()[0]}: use a newer python3")
    if not python.exists():
        _say(f"First run: making the toolkit's Python environment in {ENVIRONMENT} (once; about a minute).")
        try:
            # Linked to its Python as `python3 -m venv` makes it: the README's test line runs that on this folder.
            venv.EnvBuilder(with_pip=True, clear=True, symlinks=os.name != "nt").create(ENVIRONMENT)
        except (subprocess.CalledProcessError, OSError):
            _refuse(
                "Python cannot make a virtual environment here (its venv module or ensurepip is missing): install "
                "it with `sudo apt-get install python3-venv`, then run the same command again"
            )
    requirements = ROOT / "requirements.txt"
    installed = subprocess.run([python, "-m", "pip", "install", "--quiet", "-r", requirements], check=False)
    if installed.returncode != 0:
        _refuse(f"installing {requirements.name} into {ENVIRONMENT} failed (see above); run the same command again")
    os.execv(python, [str(python), script, *sys.argv[1:]])  # noqa: S606 - the same command, in its environment


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _refuse(problem: str) -> NoReturn:
    _say(f"Error: {problem}.")
    raise SystemExit(2)
