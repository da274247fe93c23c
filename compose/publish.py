"""Publish the shelf: for each recipe, a folder anyone with Docker can run without this repository."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from tm351vce.compose.catalogue_page import TEMPLATES, index_page, logo_path, logo_svg, portainer_feed
from tm351vce.compose.flavour import PORTABLE, ROUTES_FILE, SECRETS_DIR, SWARM, Flavour
from tm351vce.compose.render import StackOptions, entrance_url, gateway_routes, recipe_secrets, render_compose
from tm351vce.shelf.catalogue import Recipe, Shelf
from tm351vce.shelf.constants import DEFAULT_PROJECT
from tm351vce.shelf.serialise import to_yaml

DEFAULT_BASE_URL = "https://example.org/tm351-shelf"


def publish_shelf(
    shelf: Shelf,
    out_dir: Path,
    registry: str,
    pinned: Callable[[Recipe], dict[str, str]],
    recipes: list[Recipe],
    base_url: str | None = None,
) -> list[Path]:
    """Write one folder per recipe (all by default), the feed and the index; returns the recipe folders.

    `pinned` gives each recipe's images as the registry's name@digest, from `push`'s record.
    """
    chosen = recipes
    written = []
    for recipe in chosen:
        images = pinned(recipe)
        folder = out_dir / recipe.name
        folder.mkdir(parents=True, exist_ok=True)
        project = f"tm351-{recipe.name}"
        (folder / "compose.yaml").write_text(to_yaml(published_project(shelf, recipe, images, PORTABLE, project)),
                                             encoding="utf-8")  # fmt: skip
        stack = published_project(shelf, recipe, images, SWARM, DEFAULT_PROJECT)
        (folder / "stack.yaml").write_text(to_yaml(stack), encoding="utf-8")
        routes = gateway_routes(shelf, recipe)
        if routes is not None:
            (folder / ROUTES_FILE).write_text(routes, encoding="utf-8")
        (folder / ".env.example").write_text(env_example(shelf), encoding="utf-8")
        (folder / "README.md").write_text(recipe_readme(shelf, recipe, registry), encoding="utf-8")
        (out_dir / logo_path(recipe)).parent.mkdir(exist_ok=True)
        (out_dir / logo_path(recipe)).write_text(logo_svg(recipe), encoding="utf-8")
        written.append(folder)
    feed = portainer_feed(shelf, chosen, base_url or DEFAULT_BASE_URL)
    (out_dir / "templates.json").write_text(json.dumps(feed, indent=2) + "\n", encoding="utf-8")
    (out_dir / "index.html").write_text(index_page(shelf, chosen, registry), encoding="utf-8")
    return written


def published_project(
    shelf: Shelf, recipe: Recipe, images: dict[str, str], flavour: Flavour, project: str
) -> dict[str, Any]:
    """A recipe's project for a machine this one knows nothing of: every setting comes from its .env file."""
    options = StackOptions(data_dir=Path("TM351VCE"), port=shelf.defaults.port, host="127.0.0.1", project=project,
                           images=images, flavour=flavour)  # fmt: skip
    return render_compose(shelf, recipe, options)


def env_example(shelf: Shelf) -> str:
    return (
        "# Copy to .env and change what you need; every line may be left out.\n"
        "# Your password (user: student). Leave empty to have one made on the first start, in\n"
        "# TM351VCE/.tm351/password. It is set once: to change it later, delete that file and restart.\n"
        "TM351_PASSWORD=\n"
        "# Where your work is kept.\n"
        "TM351_DATA_DIR=./TM351VCE\n"
        "# The address and port of the login page.\n"
        "TM351_HOST=127.0.0.1\n"
        f"TM351_PORT={shelf.defaults.port}\n"
        "# Your user and group ids (`id -u`, `id -g`), so the files Jupyter writes are yours.\n"
        "TM351_UID=1000\n"
        "TM351_GID=100\n"
    )


def recipe_readme(shelf: Shelf, recipe: Recipe, registry: str) -> str:
    loader = FileSystemLoader(TEMPLATES)
    environment = Environment(loader=loader, undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)  # noqa: S701 - Markdown
    entrance = shelf.apps[recipe.entrance]
    local = StackOptions(data_dir=Path("TM351VCE"), port=shelf.defaults.port, host="127.0.0.1")
    return environment.get_template("README.md.j2").render(
        recipe=recipe,
        apps=[app for app in shelf.apps_of(recipe) if app is not entrance or not app.gateway],
        memory_mib=shelf.budget_mib(recipe),
        version=shelf.version,
        registry=registry,
        url=entrance_url(shelf, recipe, local),
        secrets=recipe_secrets(shelf, recipe),
        secrets_dir=SECRETS_DIR,
    )
