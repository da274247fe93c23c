"""Fixtures every test folder may use; the helpers themselves live in tests/helpers/."""

from __future__ import annotations

import pytest

from tests.helpers.cli import invoke_cli, run_cli
from tests.helpers.suite import (  # noqa: F401 - the suite's hooks, found here by name
    pytest_collection_finish,
    pytest_collection_modifyitems,
    pytest_runtest_setup,
    pytest_terminal_summary,
    pytest_xdist_make_scheduler,
)


@pytest.fixture
def cli():
    """`python3 tasks.py ARGS` in a new process, as a user runs it."""
    return run_cli


@pytest.fixture
def cli_in_process():
    """The same command run by the same app in this process: for what does not depend on the process itself."""
    return invoke_cli
