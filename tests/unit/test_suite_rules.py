"""The suite's rules, on a throwaway suite: markers by folder, and a missing prerequisite listed once with its fix,
its tests skipped, or failed when CI=true."""

from __future__ import annotations

import pytest

from tests.helpers import prerequisites
from tests.helpers.prerequisites import PREREQUISITES

pytest_plugins = ["pytester"]

NEEDS_CHROMIUM = """
import pytest

@pytest.mark.needs("chromium")
def test_in_a_browser():
    assert True

def test_plain():
    assert True
"""


@pytest.fixture
def suite(pytester, monkeypatch):
    pytester.makeini(
        "[pytest]\n"
        "addopts = -p tests.helpers.suite -p no:hypothesispytest -p no:benchmark -p no:cacheprovider --strict-markers\n"
        "filterwarnings = ignore::pytest.PytestAssertRewriteWarning\n"
        "markers =\n    unit\n    aws\n    integration\n    slow\n    needs\n"
    )
    monkeypatch.setattr(prerequisites, "is_present", lambda name: name != "chromium")
    monkeypatch.delenv("CI", raising=False)
    return pytester


def write(pytester, relative: str, text: str) -> None:
    path = pytester.path / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_each_folder_gives_its_marker(suite):
    for folder in ("unit", "aws", "integration"):
        write(suite, f"tests/{folder}/test_{folder}.py", f"def test_in_{folder}():\n    assert True\n")
    for folder in ("unit", "aws", "integration"):
        result = suite.runpytest("-m", folder)
        result.assert_outcomes(passed=1, skipped=0)
        result.stdout.fnmatch_lines([f"*test_{folder}.py*", "*1 passed, 2 deselected*"])


def test_a_test_outside_the_folders_or_marked_for_another_is_refused(suite):
    write(suite, "tests/test_loose.py", "def test_loose():\n    assert True\n")
    write(suite, "tests/unit/test_wrong.py", "import pytest\n\n@pytest.mark.aws\ndef test_wrong():\n    assert True\n")
    result = suite.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    text = result.stderr.str()
    assert "tests/test_loose.py::test_loose: not under tests/unit" in text
    assert "tests/unit/test_wrong.py::test_wrong: marked aws but lives in tests/unit" in text


def test_an_unknown_prerequisite_is_refused(suite):
    write(suite, "tests/unit/test_x.py", "import pytest\n\n@pytest.mark.needs('chromim')\ndef test_x():\n    pass\n")
    result = suite.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "needs unknown prerequisite(s) chromim" in result.stderr.str()


def test_a_missing_prerequisite_is_listed_with_its_fix_and_its_tests_skip_saying_so(suite):
    write(suite, "tests/unit/test_browser.py", NEEDS_CHROMIUM)
    result = suite.runpytest("-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "prerequisites missing, the tests that need them will skip:",
            "  chromium (1 tests): sudo apt-get install chromium",
            "*missing prerequisites*",
            "chromium: sudo apt-get install chromium",
            "*SKIPPED*needs Chromium: sudo apt-get install chromium*",
        ]
    )


def test_on_ci_a_missing_prerequisite_fails_the_run(suite, monkeypatch):
    monkeypatch.setenv("CI", "true")
    write(suite, "tests/unit/test_browser.py", NEEDS_CHROMIUM)
    result = suite.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["*will fail (CI=true)*", "*CI must install every prerequisite*sudo apt-get install chromium*"]
    )


def test_only_what_the_selected_tests_need_is_checked(suite):
    write(suite, "tests/unit/test_browser.py", NEEDS_CHROMIUM)
    result = suite.runpytest("-k", "plain")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["prerequisites: all 0 that the selected tests need are present"])


def test_folders_need_their_services(suite):
    write(suite, "tests/aws/test_a.py", "def test_a():\n    assert True\n")
    write(suite, "tests/integration/test_i.py", "def test_i():\n    assert True\n")
    result = suite.runpytest("--collect-only")
    # moto for tests/aws; docker, compose, engine and base-image for tests/integration
    result.stdout.fnmatch_lines(["prerequisites: all 5 that the selected tests need are present"])


def test_every_prerequisite_says_how_to_get_it():
    for prerequisite in PREREQUISITES.values():
        assert prerequisite.fix.strip() and prerequisite.what.strip(), prerequisite.name
        assert prerequisite.fix.startswith(("sudo ", "python -m pip ", "d=$(mktemp -d)", "docker pull ")), prerequisite
