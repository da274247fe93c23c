"""The project's compatibility notebooks (tests/notebooks/), run as a student runs them: each cell in turn in the
notebook's own session, through the gateway's login and Jupyter's kernel websocket."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import nbformat

from tests.helpers.jupyter_kernel import Execution
from tests.helpers.stacks import Stack

NOTEBOOK_FOLDER = Path(__file__).parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_FOLDER.glob("*.ipynb"))
# Where in the student's folder they are copied to be run.
FOLDER = "notebooks/compatibility"
# What a failure prints when it is not raised: an error's name or a traceback on standard error.
PRINTED_ERROR = re.compile(r"Error\b|Traceback|Exception\b")


def code_cells(notebook: Path) -> list[str]:
    return [cell.source for cell in nbformat.read(notebook, as_version=4).cells if cell.cell_type == "code"]


def run_notebook(stack: Stack, notebook: Path, timeout: float = 300) -> list[tuple[str, Execution]]:
    """Each code cell's source and what running it gave, in the notebook's order, from the student's folder."""
    (stack.data_dir / FOLDER).mkdir(parents=True, exist_ok=True)
    shutil.copy(notebook, stack.data_dir / FOLDER / notebook.name)
    cells = code_cells(notebook)
    results = stack.run_cells(cells, notebook=f"{FOLDER}/{notebook.name}", timeout=timeout)
    return list(zip(cells, results, strict=True))


def failures(ran: list[tuple[str, Execution]]) -> list[tuple[str, str, list[str], str]]:
    """The cells that failed or printed an error, with what they gave."""
    return [
        (source, result.status, result.errors, result.stderr)
        for source, result in ran
        if result.status != "ok" or PRINTED_ERROR.search(result.stderr)
    ]
