"""The whole shelf, every image built from Debian's archive and the package registries (the `built` images):
MongoDB's build messages when its repository cannot be reached, and the tm351 recipe brought up and used.
OpenRefine comes from Debian's archive; test_openrefine_stack.py checks its upstream archive option."""

from __future__ import annotations

import json
import tarfile

import pytest

from tests.helpers.cli import run_cli
from tests.helpers.stacks import openrefine_version
from tm351vce.shelf.catalogue import load_shelf


def test_an_unreachable_mongodb_repository_makes_the_build_say_so_and_use_the_registries(built, engine):
    result = run_cli("build", "mongodb", timeout=1800)
    assert result.returncode == 0, result.stdout + result.stderr
    notices = [line for line in result.stderr.splitlines() if "cannot be reached" in line]
    if not notices:
        pytest.skip("MongoDB's key server and repository are reachable here, so the build has nothing to report")
    assert len(notices) == 1, result.stderr
    assert "MongoDB's repository cannot be reached" in notices[0]
    assert "https://pgp.mongodb.com/server-8.0.asc" in notices[0]
    assert "MongoDB 6.0" in notices[0]
    assert "--source mongodb=pypi" in notices[0]
    assert "Error" not in result.stderr
    shelf = load_shelf()
    labels = engine.images.get(shelf.app("mongodb").image_ref(shelf.version)).labels
    assert (labels["org.tm351.mongodb.source"], labels["org.tm351.mongodb.series"]) == ("pypi", "6.0")


def test_an_unreachable_mongodb_repository_stops_a_build_that_chose_it_with_one_line():
    result = run_cli("build", "mongodb", "--source", "mongodb=repository", timeout=900)
    if result.returncode == 0:
        pytest.skip("MongoDB's key server and repository are reachable here, so the build has nothing to report")
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    assert "https://pgp.mongodb.com/server-8.0.asc" in errors[0]
    assert "--artifacts" in errors[0]
    assert "--source mongodb=pypi" in errors[0]


def test_an_unknown_source_is_bad_input():
    result = run_cli("build", "mongodb", "--source", "mongodb=github")
    assert result.returncode == 2
    assert "repository, pypi" in result.stderr


def test_a_missing_artifacts_folder_is_bad_input(tmp_path):
    result = run_cli("build", "openrefine", "--artifacts", str(tmp_path / "nowhere"))
    assert result.returncode == 2
    assert "--artifacts" in result.stderr


@pytest.fixture(scope="module")
def whole_stack(built, stack):
    result = stack.up("tm351", timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return stack


def test_the_whole_stack_is_healthy_within_its_budget_and_openrefine_sleeps_until_opened(whole_stack):
    status = json.loads(whole_stack.cli("status", "--json").stdout)
    shelf = load_shelf()
    tm351 = shelf.recipe("tm351")
    services = {service["name"]: service for service in status["services"]}
    assert set(services) == set(tm351.apps)
    assert services.pop("openrefine")["state"] == "sleeping"
    assert all(service["health"] == "healthy" for service in services.values())
    assert sum(service["memory_mib"] for service in services.values()) <= shelf.awake_budget_mib(tm351)


def test_a_notebook_uses_mongodb_without_typing_a_password(whole_stack):
    result = whole_stack.run(
        "import os, pymongo\n"
        "db = pymongo.MongoClient(os.environ['MONGODB_URI']).tm351\n"
        "db.modules.insert_one({'code': 'TM351', 'credits': 30})\n"
        "print(db.modules.count_documents({}))\n"
    )
    assert result.status == "ok", result.errors
    assert result.stdout.strip() == "1"


def test_openrefine_is_served_under_its_path_behind_the_login(whole_stack):
    version = openrefine_version(whole_stack)
    assert version["version"].startswith("3.")


def test_backup_holds_the_mongodb_dump(whole_stack, tmp_path):
    archive = tmp_path / "backup.tar.gz"
    made = whole_stack.cli("backup", "--data-dir", str(whole_stack.data_dir), "-o", str(archive))
    assert made.returncode == 0, made.stderr
    with tarfile.open(archive) as opened:
        manifest = json.load(opened.extractfile("manifest.json"))
    assert set(manifest["databases"]) == {"postgres", "mongodb"}
    assert "openrefine_projects" in manifest["folders"]
