"""The CLI as a user meets it: output shapes, and one-line errors with exit code 2 for bad input."""

from __future__ import annotations

import json

import yaml

from tm351vce.shelf.catalogue import load_shelf


def test_list_json_shape(cli):
    result = cli("list", "--json")
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    assert {"apps", "recipes"} <= set(listing)
    assert all({"name", "apps", "memory_mib", "default"} <= set(recipe) for recipe in listing["recipes"])
    assert sum(recipe["default"] for recipe in listing["recipes"]) == 1


def test_list_table_shows_budgets(cli):
    result = cli("list")
    assert result.returncode == 0
    shelf = load_shelf()
    assert f"{shelf.default_recipe.name} (default)" in result.stdout
    for recipe in shelf.recipes.values():
        assert str(shelf.memory_mib(recipe)) in result.stdout


def test_render_writes_compose_yaml(cli, tmp_path):
    result = cli("render", "jupyter", "--data-dir", str(tmp_path), "--port", "35999")
    assert result.returncode == 0, result.stderr
    document = yaml.safe_load(result.stdout)
    assert document["services"]["gateway"]["ports"][0]["published"] == "35999"
    output = tmp_path / "out.yaml"
    assert cli("render", "jupyter", "-o", str(output)).returncode == 0
    assert yaml.safe_load(output.read_text())["name"] == "tm351"


def test_unknown_recipe_is_one_line_listing_the_known(cli):
    result = cli("render", "nosuch")
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "Unknown recipe 'nosuch'" in lines[0]
    assert "jupyter" in lines[0]
    assert "Traceback" not in result.stderr


def test_unknown_app_to_build_exits_2(cli):
    result = cli("build", "nosuch")
    assert result.returncode == 2
    assert "Unknown app 'nosuch'" in result.stderr


def test_no_engine_says_how_to_start_one(cli, tmp_path):
    result = cli("up", "--data-dir", str(tmp_path), env={"DOCKER_HOST": f"unix://{tmp_path}/no.sock"})
    assert result.returncode == 2
    assert "No Docker engine is reachable" in result.stderr
    assert "install Docker Engine" in result.stderr
    assert "Traceback" not in result.stderr


def test_status_without_engine_exits_2(cli, tmp_path):
    result = cli("status", "--json", env={"DOCKER_HOST": f"unix://{tmp_path}/no.sock"})
    assert result.returncode == 2


def test_password_before_first_up_says_what_to_do(cli, tmp_path):
    result = cli("password", "--data-dir", str(tmp_path))
    assert result.returncode == 2
    assert "python3 tasks.py up" in result.stderr


def test_bad_port_is_refused_by_the_parser(cli):
    result = cli("up", "--port", "70000")
    assert result.returncode == 2


def test_debug_shows_the_traceback(cli):
    result = cli("--debug", "render", "nosuch")
    assert result.returncode != 0
    assert "Traceback" in result.stderr
