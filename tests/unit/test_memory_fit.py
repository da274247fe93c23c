"""`up` refuses a recipe whose memory budget does not fit the machine, and names the ones that do."""

from __future__ import annotations

import pytest

from tm351vce.hosts.local import HOST_RESERVE_MIB, _check_memory
from tm351vce.shelf.catalogue import load_shelf
from tm351vce.shelf.errors import UsageProblem


def test_a_recipe_that_fits_is_accepted():
    shelf = load_shelf()
    recipe = shelf.recipe("tm351")
    _check_memory(shelf, recipe, shelf.memory_mib(recipe) + HOST_RESERVE_MIB)


def test_a_recipe_too_big_is_refused_with_smaller_ones_and_the_override():
    shelf = load_shelf()
    room_for_jupyter = shelf.memory_mib(shelf.recipe("jupyter")) + HOST_RESERVE_MIB
    with pytest.raises(UsageProblem) as refused:
        _check_memory(shelf, shelf.recipe("tm351"), room_for_jupyter)
    message = str(refused.value)
    assert f"needs {shelf.memory_mib(shelf.recipe('tm351'))} MiB" in message
    assert f"has {room_for_jupyter} MiB" in message
    assert "jupyter:" in message
    assert "tm351:" not in message
    assert "--force" in message


def test_nothing_fits_a_tiny_machine():
    shelf = load_shelf()
    with pytest.raises(UsageProblem, match="more memory"):
        _check_memory(shelf, shelf.recipe("jupyter"), 300)
