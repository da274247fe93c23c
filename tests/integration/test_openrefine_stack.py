"""`up openrefine`: OpenRefine (Debian's package) behind the gateway's login, used as the browser uses it, keeping
its projects in the student's folder across down and up; and the upstream release archive refused without its
published checksum."""

from __future__ import annotations

import json

import pytest

from tests.helpers.cli import run_cli
from tests.helpers.net import wait_until
from tests.helpers.openrefine import (
    MODULES,
    ROWS,
    create_project,
    csrf_token,
    logged_in,
    project_id,
    project_names,
    rows,
)
from tests.helpers.stacks import Stack, opened, openrefine_version
from tm351vce.shelf.catalogue import load_shelf

RECIPE = "openrefine"
ARCHIVE = "openrefine-linux-3.10.1.tar.gz"
RELEASE_URL = f"https://github.com/OpenRefine/OpenRefine/releases/download/3.10.1/{ARCHIVE}"


@pytest.fixture(scope="module")
def running(built, stack) -> Stack:
    return stack.started(RECIPE, timeout=600)


def test_openrefine_from_debian_is_served_under_its_path_behind_the_login(running):
    version = openrefine_version(running)
    assert version["version"].startswith("3.6."), version
    assert version["display_new_version_notice"] == "false"


def test_openrefine_is_healthy_within_its_budget(running):
    assert opened(running, "/openrefine/").status_code == 200
    assert wait_until(lambda: running.health()["openrefine"] == "healthy", timeout=60)
    status = json.loads(running.cli("status", "--json").stdout)
    (openrefine,) = [service for service in status["services"] if service["name"] == "openrefine"]
    assert openrefine["memory_mib"] < load_shelf().app("openrefine").fit_mib


def test_a_project_made_as_the_browser_does_stays_in_the_student_folder_across_down_and_up(running):
    assert opened(running, "/openrefine/").status_code == 200
    session = logged_in(running)
    # Without the token (which another site's page cannot read), OpenRefine makes no project.
    refused = create_project(running, session, "no token", MODULES, token=None)
    assert refused.json() == {"code": "error", "message": "Missing or invalid csrf_token parameter"}

    # OpenRefine redirects to the new project; the gateway puts its path back on the redirect.
    project = project_id(create_project(running, session, "TM351 modules", MODULES, csrf_token(running, session)))
    assert rows(running, session, project) == ROWS

    stopped = running.cli("down")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    folder = running.data_dir / "openrefine_projects" / f"{project}.project"
    assert (folder / "metadata.json").is_file() and (folder / "data.zip").is_file()
    assert folder.stat().st_uid == running.data_dir.stat().st_uid  # the host user's, not the container's

    running.started(RECIPE, timeout=600)
    assert opened(running, "/openrefine/").status_code == 200  # it starts on demand
    session = logged_in(running)
    assert project_names(running, session)[project] == "TM351 modules"
    assert rows(running, session, project) == ROWS


@pytest.mark.parametrize(
    ("sums", "reason"),
    [
        (None, f"no SHA-256 is given for {ARCHIVE}"),
        (f"not-a-checksum  {ARCHIVE}\n", "'not-a-checksum' is not a SHA-256"),
        (f"{'0' * 64}  {ARCHIVE}\n", "checksum mismatch"),
    ],
    ids=["missing", "invalid", "mismatch"],
)
def test_an_upstream_archive_without_its_published_checksum_stops_the_build_with_one_line(
    built, tmp_path, sums, reason
):
    (tmp_path / ARCHIVE).write_bytes(b"not the release archive")
    if sums is not None:
        (tmp_path / "SHA256SUMS").write_text(sums)
    result = run_cli("build", "openrefine", "--artifacts", str(tmp_path), timeout=900)
    assert result.returncode == 1, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    assert RELEASE_URL in errors[0] and reason in errors[0], errors[0]
    assert "Traceback" not in result.stderr
