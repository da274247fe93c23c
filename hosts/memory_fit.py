"""Whether a recipe fits this machine's memory: what must be awake, and what waking an app that sleeps adds."""

from __future__ import annotations

import itertools

from tm351vce.shelf.catalogue import Recipe, Shelf
from tm351vce.shelf.constants import HOST_RESERVE_MIB
from tm351vce.shelf.errors import UsageProblem


def check_memory(shelf: Shelf, recipe: Recipe, engine_mib: int) -> list[str]:
    """Refuse a recipe whose apps that must be awake do not fit the engine's machine beside its own system; when
    they fit but not with its largest app that starts on demand woken, a note that says what to do."""
    room = engine_mib - HOST_RESERVE_MIB
    needed = shelf.awake_budget_mib(recipe)
    if needed > room:
        fitting = sorted(
            (r for r in shelf.recipes.values() if shelf.awake_budget_mib(r) <= room), key=shelf.awake_budget_mib
        )
        listed = ", ".join(f"{r.name}: {shelf.awake_budget_mib(r)} MiB" for r in reversed(fitting))
        suggestion = f"choose a smaller recipe ({listed})" if fitting else "use a machine with more memory"
        sleeping = shelf.on_demand_apps(recipe)
        asleep = f" awake ({', '.join(app.name for app in sleeping)} only when opened)" if sleeping else ""
        raise UsageProblem(
            f"Recipe {recipe.name} needs {needed} MiB{asleep}, but this machine has {engine_mib} MiB for Docker, "
            f"less {HOST_RESERVE_MIB} MiB for its own system: {suggestion}, or pass --force to start it anyway."
        )
    peak = shelf.peak_budget_mib(recipe)
    if peak <= room:
        return []
    woken = max(shelf.on_demand_apps(recipe), key=lambda app: app.fit_mib).display_name
    freeing = _apps_to_stop(shelf, recipe, peak - room)
    stop = f"stop {' and '.join(freeing)} in the dashboard before you open {woken}, or " if freeing else ""
    return [
        f"With {woken} awake the recipe needs {peak} MiB, more than the {room} MiB this machine has for it: "
        f"{stop}use a machine with more memory."
    ]


def _apps_to_stop(shelf: Shelf, recipe: Recipe, excess_mib: int) -> list[str]:
    """The apps the dashboard may stop that free excess_mib with the least memory stopped (so the databases go before
    the student's notebooks when they are enough); none when all of them cannot."""
    stoppable = [app for app in shelf.awake_apps(recipe) if not app.essential]
    choices = [
        chosen
        for count in range(1, len(stoppable) + 1)
        for chosen in itertools.combinations(stoppable, count)
        if sum(app.fit_mib for app in chosen) >= excess_mib
    ]
    if not choices:
        return []
    best = min(choices, key=lambda chosen: (sum(app.fit_mib for app in chosen), len(chosen)))
    return [app.name for app in best]
