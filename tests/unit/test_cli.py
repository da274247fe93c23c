"""The CLI as a user meets it: output shapes, and one-line errors with exit code 2 for bad input.

`cli` starts a new process, as a user does: kept for an error's exit code and single line, and --debug's traceback.
The other tests run the same app in this process.
"""

from __future__ import annotations

import json

import pytest

from tests.helpers.documents import parse_yaml
from tm351vce.shelf.catalogue import load_shelf


def test_list_json_shape(cli_in_process):
    result = cli_in_process("list", "--json")
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    assert {"apps", "recipes"} <= set(listing)
    shape = {"name", "apps", "budget_mib", "awake_budget_mib", "default"}
    assert all(shape <= set(recipe) for recipe in listing["recipes"])
    assert sum(recipe["default"] for recipe in listing["recipes"]) == 1


def test_list_table_shows_budgets(cli_in_process):
    result = cli_in_process("list")
    assert result.returncode == 0
    shelf = load_shelf()
    assert f"{shelf.default_recipe.name} (default)" in result.stdout
    for recipe in shelf.recipes.values():
        assert str(shelf.budget_mib(recipe)) in result.stdout
    for app in shelf.apps.values():
        assert str(app.fit_mib) in result.stdout and str(app.memory_mib) in result.stdout


def test_render_writes_compose_yaml(cli_in_process, tmp_path):
    result = cli_in_process("render", "jupyter", "--data-dir", str(tmp_path), "--port", "35999")
    assert result.returncode == 0, result.stderr
    document = parse_yaml(result.stdout)
    assert document["services"]["gateway"]["ports"][0]["published"] == "35999"
    output = tmp_path / "out.yaml"
    assert cli_in_process("render", "jupyter", "-o", str(output)).returncode == 0
    assert parse_yaml(output.read_text())["name"] == "tm351"


def test_unknown_recipe_is_one_line_listing_the_known(cli):
    result = cli("render", "nosuch")
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "Unknown recipe 'nosuch'" in lines[0]
    assert "jupyter" in lines[0]
    assert "Traceback" not in result.stderr


def test_unknown_app_to_build_exits_2(cli_in_process):
    result = cli_in_process("build", "nosuch")
    assert result.returncode == 2
    assert "Unknown app 'nosuch'" in result.stderr


def test_no_engine_says_how_to_start_one(cli_in_process, tmp_path):
    result = cli_in_process("up", "--data-dir", str(tmp_path), env={"DOCKER_HOST": f"unix://{tmp_path}/no.sock"})
    assert result.returncode == 2
    assert "No Docker engine is reachable" in result.stderr
    assert "install Docker Engine" in result.stderr
    assert "Traceback" not in result.stderr


def test_status_without_engine_exits_2(cli_in_process, tmp_path):
    result = cli_in_process("status", "--json", env={"DOCKER_HOST": f"unix://{tmp_path}/no.sock"})
    assert result.returncode == 2


def test_password_before_first_up_says_what_to_do(cli_in_process, tmp_path):
    result = cli_in_process("password", "--data-dir", str(tmp_path))
    assert result.returncode == 2
    assert "python3 tasks.py up" in result.stderr


def test_bad_port_is_refused_by_the_parser(cli_in_process):
    result = cli_in_process("up", "--port", "70000")
    assert result.returncode == 2


def test_debug_shows_the_traceback(cli):
    result = cli("--debug", "render", "nosuch")
    assert result.returncode != 0
    assert "Traceback" in result.stderr


def test_an_empty_data_dir_is_refused_not_taken_as_this_folder(cli_in_process):
    result = cli_in_process("password", "--data-dir", "")
    assert result.returncode == 2
    assert "'' names no folder" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize("project", ["Bad Name!", "-leading", "UPPER"])
def test_a_project_name_compose_would_change_is_refused(cli_in_process, project):
    result = cli_in_process("status", env={"TM351_PROJECT": project})
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"TM351_PROJECT={project!r} is not a Compose project name" in result.stderr
