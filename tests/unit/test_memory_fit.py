"""`up` refuses a recipe whose apps that must be awake do not fit the machine, and names the ones that do; an app
that starts on demand counts only in a note that says what to do when waking it would not fit."""

from __future__ import annotations

import pytest

from tm351vce.hosts.memory_fit import check_memory
from tm351vce.shelf.catalogue import load_shelf
from tm351vce.shelf.constants import HOST_RESERVE_MIB
from tm351vce.shelf.errors import UsageProblem


def test_a_recipe_that_fits_is_accepted_without_a_note():
    shelf = load_shelf()
    recipe = shelf.recipe("tm351")
    assert check_memory(shelf, recipe, shelf.budget_mib(recipe) + HOST_RESERVE_MIB) == []


def test_a_recipe_too_big_is_refused_with_smaller_ones_and_the_override():
    shelf = load_shelf()
    room_for_jupyter = shelf.budget_mib(shelf.recipe("jupyter")) + HOST_RESERVE_MIB
    with pytest.raises(UsageProblem) as refused:
        check_memory(shelf, shelf.recipe("tm351"), room_for_jupyter)
    message = str(refused.value)
    assert f"needs {shelf.awake_budget_mib(shelf.recipe('tm351'))} MiB awake (openrefine only when opened)" in message
    assert f"has {room_for_jupyter} MiB" in message
    assert "jupyter:" in message
    assert "tm351:" not in message
    assert "--force" in message


def test_nothing_fits_a_tiny_machine():
    shelf = load_shelf()
    with pytest.raises(UsageProblem, match="more memory"):
        check_memory(shelf, shelf.recipe("jupyter"), 300)


def test_openrefine_asleep_leaves_it_out_of_what_must_fit():
    shelf = load_shelf()
    tm351 = shelf.recipe("tm351")
    openrefine = shelf.app("openrefine")
    assert openrefine.on_demand is not None
    assert shelf.awake_budget_mib(tm351) == shelf.budget_mib(tm351) - openrefine.fit_mib
    assert shelf.peak_budget_mib(tm351) == shelf.budget_mib(tm351)
    assert shelf.awake_budget_mib(shelf.recipe("openrefine")) < openrefine.fit_mib


def test_the_whole_stack_starts_where_what_must_be_awake_fits_and_says_what_to_stop_before_opening_openrefine():
    shelf = load_shelf()
    tm351 = shelf.recipe("tm351")
    machine_mib = shelf.awake_budget_mib(tm351) + HOST_RESERVE_MIB
    assert shelf.budget_mib(tm351) + HOST_RESERVE_MIB > machine_mib  # awake at once, it would not fit
    (note,) = check_memory(shelf, tm351, machine_mib)
    assert f"With OpenRefine awake the recipe needs {shelf.budget_mib(tm351)} MiB" in note
    assert f"{shelf.awake_budget_mib(tm351)} MiB this machine has" in note
    # With no room at all for OpenRefine, only the notebooks free enough.
    assert "stop jupyter in the dashboard before you open OpenRefine" in note


def test_the_course_stack_fits_a_1_gib_machine_with_openrefine_asleep():
    """A 1 GiB machine's kernel leaves about 950 MiB (a t3.micro's MemTotal): what must be awake fits beside the
    system, and the note says what to stop before opening OpenRefine."""
    shelf = load_shelf()
    tm351 = shelf.recipe("tm351")
    assert shelf.default_recipe is tm351
    (note,) = check_memory(shelf, tm351, 950)
    # The databases make room, rather than the student's notebooks.
    assert "stop postgres and mongodb in the dashboard before you open OpenRefine" in note
    assert shelf.awake_budget_mib(tm351) <= 600  # the target, with every app that must be awake


def test_budgets_are_within_limits_and_a_budget_over_its_limit_is_refused():
    shelf = load_shelf()
    assert all(app.fit_mib <= app.memory_mib for app in shelf.apps.values())
    # Limits are above budgets where a busy moment needs more than a normal session: two notebooks, a backup.
    assert shelf.app("jupyter").memory_mib >= 2 * shelf.app("jupyter").fit_mib
    with pytest.raises(ValueError, match="budget_mib 900 is over memory_mib 768"):
        shelf.app("jupyter").model_validate({**shelf.app("jupyter").model_dump(), "budget_mib": 900})


def test_openrefine_alone_fits_where_its_budget_awake_fits():
    shelf = load_shelf()
    recipe = shelf.recipe("openrefine")
    assert check_memory(shelf, recipe, shelf.peak_budget_mib(recipe) + HOST_RESERVE_MIB) == []
