"""The suite's own rules, loaded by tests/conftest.py: each test is marked by its folder (unit, aws or integration),
and what the selected tests need from the machine is checked once, listed with the fix, and skipped (failed on CI).

The suite runs in two processes (pytest-xdist, set in pyproject.toml): each file's tests stay together
in one of them, so a module's stack is started once; files that share what only one may use at a time share a
group; and the longest files go first, so that neither process is left with a long one at the end.
"""

from __future__ import annotations

import pytest

from tests.helpers.prerequisites import PREREQUISITES, Prerequisite, missing, on_ci

FOLDERS = ("unit", "aws", "integration")
# What every test of a folder needs, beside what it names itself.
FOLDER_NEEDS: dict[str, tuple[str, ...]] = {
    "unit": (),
    "aws": ("moto",),
    "integration": ("docker", "compose", "engine", "base-image"),
}
_MISSING = pytest.StashKey[dict[str, Prerequisite]]()
# Files that must not run beside each other, by the group they share.
SHARED_GROUPS = {
    # libvirt's default storage pool, where both put a box of the same recipe.
    "tests/integration/test_vagrant.py": "libvirt",
    "tests/integration/test_vm_release.py": "libvirt",
}
# The longest files (or groups), longest first (measured: `pytest --durations=0`): scheduled before the rest.
LONGEST_FIRST = (
    "libvirt",  # 21-27 min: a libvirt machine booted under emulation
    "tests/integration/test_newcomer.py",  # 10-13 min
    "tests/integration/test_host.py",
    "tests/integration/test_postgres_stack.py",
    "tests/integration/test_mongodb_stack.py",
    "tests/integration/test_publish.py",
    "tests/integration/test_openrefine_sleep.py",
)


def _folder(item: pytest.Item) -> str | None:
    try:
        parts = item.path.relative_to(item.config.rootpath).parts
    except ValueError:
        return None
    if len(parts) > 2 and parts[0] == "tests" and parts[1] in FOLDERS:
        return parts[1]
    return None


def needs_of(item: pytest.Item) -> list[str]:
    names = list(FOLDER_NEEDS.get(_folder(item) or "", ()))
    for mark in item.iter_markers("needs"):
        names += [name for name in mark.args if name not in names]
    return names


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by these markers
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wrong = []
    for item in items:
        folder = _folder(item)
        if folder is None:
            wrong.append(f"{item.nodeid}: not under tests/unit, tests/aws or tests/integration")
            continue
        declared = {mark.name for mark in item.iter_markers() if mark.name in FOLDERS}
        if declared - {folder}:
            wrong.append(f"{item.nodeid}: marked {', '.join(sorted(declared))} but lives in tests/{folder}")
            continue
        item.add_marker(folder)
        unknown = [name for name in needs_of(item) if name not in PREREQUISITES]
        if unknown:
            wrong.append(f"{item.nodeid}: needs unknown prerequisite(s) {', '.join(unknown)}")
    if wrong:
        raise pytest.UsageError("Tests outside the suite's rules:\n  " + "\n  ".join(wrong))
    # Stable: within a group, and among the rest, the tests keep their order.
    items.sort(
        key=lambda item: (
            LONGEST_FIRST.index(group) if (group := group_of(item)) in LONGEST_FIRST else len(LONGEST_FIRST)
        )
    )


def group_of(item: pytest.Item) -> str:
    return group_of_path(item.path.relative_to(item.config.rootpath).as_posix())


def group_of_path(path: str) -> str:
    """The group whose tests run one after another in one process: the file's own, or the one it shares."""
    return SHARED_GROUPS.get(path, path)


def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """pytest-xdist's scheduling by scope, with each test's group for its scope (its own grouping by mark renames
    the tests, which pytest 9 no longer lets it do)."""
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return group_of_path(nodeid.split("::", 1)[0])

    return GroupScheduling(config, log)


def pytest_collection_finish(session: pytest.Session) -> None:
    needed = {name for item in session.items for name in needs_of(item)}
    absent = {prerequisite.name: prerequisite for prerequisite in missing(needed)}
    session.config.stash[_MISSING] = absent
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    if not absent:
        reporter.write_line(f"prerequisites: all {len(needed)} that the selected tests need are present")
        return
    outcome = "fail (CI=true)" if on_ci() else "skip"
    reporter.write_line(f"prerequisites missing, the tests that need them will {outcome}:", yellow=True, bold=True)
    for prerequisite in absent.values():
        count = sum(prerequisite.name in needs_of(item) for item in session.items)
        reporter.write_line(f"  {prerequisite.name} ({count} tests): {prerequisite.fix}", yellow=True)


def pytest_runtest_setup(item: pytest.Item) -> None:
    absent = item.config.stash.get(_MISSING, {})
    lacking = [absent[name] for name in needs_of(item) if name in absent]
    if not lacking:
        return
    reason = "; ".join(prerequisite.reason for prerequisite in lacking)
    if on_ci():
        pytest.fail(f"CI must install every prerequisite (.ci/run): {reason}", pytrace=False)
    pytest.skip(reason)


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    absent = config.stash.get(_MISSING, {})
    if absent:
        terminalreporter.section("missing prerequisites")
        for prerequisite in absent.values():
            terminalreporter.write_line(f"{prerequisite.name}: {prerequisite.fix}")
