"""The catalogue loads into a typed model, and every kind of mistake gets one message with the key and the fix."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from tests.helpers.documents import dump_yaml, parse_yaml
from tm351vce.shelf.catalogue import SHELF_PATH, ShelfError, VolumeKind, load_shelf, shelf_summary

VALID = parse_yaml(SHELF_PATH.read_text())


def write_shelf(tmp_path: Path, data: dict | str) -> Path:
    path = tmp_path / "shelf.yaml"
    path.write_text(data if isinstance(data, str) else dump_yaml(data))
    return path


def error_for(tmp_path: Path, data: dict | str) -> str:
    with pytest.raises(ShelfError) as caught:
        load_shelf(write_shelf(tmp_path, data))
    message = str(caught.value)
    assert "shelf.yaml" in message
    assert "Fix:" in message
    assert "\n" not in message
    return message


def mutated(change) -> dict:
    data = copy.deepcopy(VALID)
    change(data)
    return data


def test_the_shipped_shelf_loads_with_a_default_recipe():
    shelf = load_shelf()
    assert shelf.default_recipe.name in shelf.recipes
    jupyter = shelf.apps["jupyter"]
    assert jupyter.port == 8888
    assert jupyter.memory_mib > 0
    assert {volume.kind for volume in jupyter.volumes} >= {VolumeKind.STUDENT_DATA}
    assert jupyter.build_dir.joinpath("Dockerfile").is_file()


def test_summary_has_the_documented_shape():
    summary = shelf_summary(load_shelf())
    recipe = summary["recipes"][0]
    assert set(recipe) >= {"name", "apps", "budget_mib", "default"}
    assert recipe["budget_mib"] == sum(app["budget_mib"] for app in summary["apps"] if app["name"] in recipe["apps"])
    assert [app["name"] for app in summary["apps"]] == list(VALID["apps"])


def test_openrefine_starts_on_demand_and_sleeps_after_half_an_hour_idle():
    shelf = load_shelf()
    assert {name for name, app in shelf.apps.items() if app.on_demand} == {"openrefine"}
    assert shelf.app("openrefine").on_demand.idle_minutes == 30
    assert shelf.app("openrefine").display_name == "OpenRefine"
    tm351 = shelf.recipe("tm351")
    assert [app.name for app in shelf.on_demand_apps(tm351)] == ["openrefine"]
    assert "openrefine" not in [app.name for app in shelf.awake_apps(tm351)]
    summary = shelf_summary(shelf)
    assert {app["name"]: app["idle_minutes"] for app in summary["apps"]}["openrefine"] == 30
    recipes = {recipe["name"]: recipe for recipe in summary["recipes"]}
    assert recipes["tm351"]["awake_budget_mib"] == shelf.budget_mib(tm351) - shelf.app("openrefine").fit_mib
    assert recipes["jupyter"]["awake_budget_mib"] == recipes["jupyter"]["budget_mib"]


def test_bad_yaml_names_the_line(tmp_path):
    message = error_for(tmp_path, "version: 0.1.0\napps:\n  jupyter: [unclosed\n")
    assert "line" in message
    assert "not valid YAML" in message


def test_duplicate_name(tmp_path):
    text = SHELF_PATH.read_text().replace("recipes:\n", "recipes:\n  jupyter:\n    description: again\n", 1)
    message = error_for(tmp_path, text)
    assert "key 'jupyter'" in message
    assert "already used" in message


def test_a_needed_app_must_be_in_the_recipe(tmp_path):
    def add_needy_app(data):
        data["apps"]["helper"] = {**copy.deepcopy(data["apps"]["jupyter"]), "needs": []}
        data["apps"]["jupyter"]["needs"] = ["helper"]

    message = error_for(tmp_path, mutated(add_needy_app))
    assert "recipes.jupyter.apps" in message
    assert "needs 'helper'" in message


def test_a_recipe_with_a_browser_ui_is_entered_through_the_gateway(tmp_path):
    def without_gateway(data):
        data["recipes"]["jupyter"].update(apps=["jupyter"], entrance="jupyter")

    message = error_for(tmp_path, mutated(without_gateway))
    assert "recipes.jupyter.entrance" in message
    assert "add the gateway app" in message


def test_every_recipe_with_a_ui_has_the_gateway():
    shelf = load_shelf()
    for recipe in shelf.recipes.values():
        if any(shelf.apps[name].path for name in recipe.apps):
            assert shelf.apps[recipe.entrance].gateway, recipe.name


def test_every_shipped_app_has_a_start_period():
    # A first start on a busy two-core host (cold caches, every app starting at once) must not count
    # as failed health; without a grace period three quick failed checks stop the whole recipe.
    for app in load_shelf().apps.values():
        assert app.healthcheck.start_period_s >= 10, app.name


# One change to the valid shelf each, and what the refusal must name.
ONE_CHANGE = {
    "unknown_app_in_a_recipe": (
        lambda data: data["recipes"]["jupyter"]["apps"].append("jupyterr"),
        ["recipes.jupyter.apps[3]", "unknown app 'jupyterr'", "use one of " + ", ".join(sorted(VALID["apps"]))],
    ),
    "missing_field": (
        lambda data: data["apps"]["jupyter"].pop("memory_mib"),
        ["apps.jupyter.memory_mib", "add 'memory_mib'"],
    ),
    "unknown_field": (
        lambda data: data["apps"]["jupyter"].update(memory_mb=3),
        ["apps.jupyter.memory_mb", "correct its spelling"],
    ),
    "wrong_type_names_the_value": (
        lambda data: data["apps"]["jupyter"].update(port="http"),
        ["apps.jupyter.port", "'http'"],
    ),
    "wrong_volume_kind": (
        lambda data: data["apps"]["jupyter"]["volumes"][0].update(kind="disk"),
        ["apps.jupyter.volumes[0].kind"],
    ),
    "exactly_one_default_recipe": (
        lambda data: data["recipes"]["tm351"].update(default=False),
        ["exactly one recipe"],
    ),
    "entrance_must_be_one_of_the_apps": (
        lambda data: data["recipes"]["jupyter"].update(entrance="postgres"),
        ["recipes.jupyter.entrance", "'postgres' is not one of the recipe's apps"],
    ),
    "token_secret_must_be_one_of_the_apps_secrets": (
        lambda data: data["apps"]["jupyter"].update(secrets=[]),
        ["apps.jupyter.token_secret"],
    ),
    "connects_to_names_known_apps": (
        lambda data: data["apps"]["jupyter"].update(connects_to=["mongo"]),
        ["apps.jupyter.connects_to[0]", "unknown app 'mongo'"],
    ),
    "build_folder_must_hold_a_dockerfile": (
        lambda data: data["apps"]["jupyter"].update(build="images/nothing"),
        ["apps.jupyter.build", "no Dockerfile"],
    ),
    "an_app_on_demand_is_woken_through_its_path": (
        lambda data: data["apps"]["postgres"].update(on_demand={"idle_minutes": 10}),
        ["apps.postgres.on_demand", "woken by opening its path", "give it a path"],
    ),
    "an_idle_time_is_more_than_nothing": (
        lambda data: data["apps"]["openrefine"]["on_demand"].update(idle_minutes=0),
        ["apps.openrefine.on_demand.idle_minutes", "greater than 0"],
    ),
    "an_app_on_demand_needs_the_dashboard_to_wake_it": (
        lambda data: data["recipes"]["openrefine"]["apps"].remove("dashboard"),
        ["recipes.openrefine.apps", "'openrefine' starts on demand", "add the dashboard"],
    ),
}


@pytest.mark.parametrize(("change", "expected"), list(ONE_CHANGE.values()), ids=list(ONE_CHANGE))
def test_one_wrong_value_is_refused_naming_the_key_and_the_fix(tmp_path, change, expected):
    message = error_for(tmp_path, mutated(change))
    for part in expected:
        assert part in message
