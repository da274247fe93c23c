"""Fixtures every test folder may use; the helpers themselves live in tests/helpers/."""

from __future__ import annotations

import pytest

from tests.helpers.cli import run_cli
from tests.helpers.suite import (  # noqa: F401 - the suite's hooks, found here by name
    pytest_collection_finish,
    pytest_collection_modifyitems,
    pytest_runtest_setup,
    pytest_terminal_summary,
)


@pytest.fixture
def cli():
    return run_cli
