"""Tables for people; `--json` prints the same data for programs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.table import Table

if TYPE_CHECKING:
    from tm351vce.hosts.local import StackStatus


def shelf_tables(summary: dict[str, Any]) -> list[Table]:
    apps = Table(title=f"Apps (version {summary['version']})")
    # A normal session's memory, and the limit the app may reach at its busiest.
    for column in ("app", "image", "MiB", "limit MiB", "needs", "description"):
        apps.add_column(column, justify="right" if column.endswith("MiB") else "left")
    for app in summary["apps"]:
        memory, limit = str(app["budget_mib"]), str(app["memory_mib"])
        apps.add_row(app["name"], app["image"], memory, limit, ", ".join(app["needs"]), app["description"])
    # An app that starts on demand is asleep until opened: "awake" is what must fit the machine.
    recipes = Table(title="Recipes")
    for column in ("recipe", "apps", "MiB", "awake MiB", "description"):
        recipes.add_column(column, justify="right" if column.endswith("MiB") else "left")
    for recipe in summary["recipes"]:
        name = recipe["name"] + (" (default)" if recipe["default"] else "")
        memory, awake = str(recipe["budget_mib"]), str(recipe["awake_budget_mib"])
        recipes.add_row(name, ", ".join(recipe["apps"]), memory, awake, recipe["description"])
    return [apps, recipes]


def status_table(status: StackStatus) -> Table:
    from tm351vce.images.dashboard.tm351_dashboard.services import SLEEPING  # the docker SDK: only where it is used

    table = Table(title=f"Recipe {status.recipe} at {status.url}")
    for column in ("service", "state", "health", "memory MiB"):
        table.add_column(column, justify="right" if column == "memory MiB" else "left")
    for service in status.services:
        memory = "-" if service.memory_mib is None else f"{service.memory_mib:.0f}"
        health = "wakes when opened" if service.state == SLEEPING else service.health
        if service.healed:
            health += f", restarted {service.healed} times when unhealthy"
        table.add_row(service.name, service.state, health, memory)
    return table
