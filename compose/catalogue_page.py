"""The shelf's static catalogue: a Portainer app-template feed, a logo per recipe and an offline index page."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from tm351vce.compose.gateway import routed_apps
from tm351vce.shelf.catalogue import Recipe, Shelf, VolumeKind

TEMPLATES = Path(__file__).parent / "shelf_templates"

PORTAINER_COMPOSE_STACK = 3  # Portainer's template types: 1 container, 2 Swarm stack, 3 Compose stack
CATEGORIES = ["Education", "Data science"]


def logo_path(recipe: Recipe) -> str:
    return f"logos/{recipe.name}.svg"


def portainer_feed(shelf: Shelf, recipes: list[Recipe], base_url: str) -> dict:
    """App templates, format version 3: each recipe a Compose stack from the shelf's repository."""
    base = base_url.rstrip("/")
    templates = []
    for number, recipe in enumerate(recipes, start=1):
        apps = [app.name for app in shelf.apps_of(recipe) if not app.gateway]
        templates.append(
            {
                "id": number,
                "type": PORTAINER_COMPOSE_STACK,
                "title": f"TM351 {recipe.name}",
                "description": f"{recipe.description} ({', '.join(apps)}; {shelf.budget_mib(recipe)} MiB)",
                "note": (
                    "Log in as <b>student</b>. Set TM351_PASSWORD, or read the password made on first start in "
                    "TM351VCE/.tm351/password beside the stack."
                ),
                "categories": CATEGORIES,
                "platform": "linux",
                "logo": f"{base}/{logo_path(recipe)}",
                "repository": {"url": base, "stackfile": f"{recipe.name}/compose.yaml"},
                "env": [
                    {"name": "TM351_PASSWORD", "label": "Password for the user student (empty: made for you)"},
                    {"name": "TM351_PORT", "label": "Port of the login page", "default": str(shelf.defaults.port)},
                ],
            }
        )
    return {"version": "3", "templates": templates}


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    label: str
    kind: str  # gateway, app or volume


@dataclass(frozen=True)
class Diagram:
    boxes: list[Box]
    links: list[tuple[Box, Box]]
    height: int

    def lines(self) -> list[tuple[int, int, int, int]]:
        """Left to right from the gateway and to volumes; app to app (a client to its database) top to bottom."""
        return [
            (start.x + BOX_WIDTH // 2, start.y + BOX_HEIGHT, end.x + BOX_WIDTH // 2, end.y)
            if start.kind == end.kind == "app"
            else (start.x + BOX_WIDTH, start.y + BOX_HEIGHT // 2, end.x, end.y + BOX_HEIGHT // 2)
            for start, end in self.links
        ]


ROW = 60
BOX_WIDTH, BOX_HEIGHT = 160, 40


def diagram(shelf: Shelf, recipe: Recipe) -> Diagram:
    """How a recipe is wired: the gateway, the apps behind it, and where each keeps its data."""
    apps = shelf.apps_of(recipe)
    gateway = next((app for app in apps if app.gateway), None)
    boxes: list[Box] = []
    links: list[tuple[Box, Box]] = []
    y = 20
    for app in (app for app in apps if app is not gateway):
        span = max(1, len(app.volumes))
        app_box = Box(190, y + (span - 1) * ROW // 2, app.name, "app")
        boxes.append(app_box)
        for row, volume in enumerate(app.volumes):
            if volume.kind is VolumeKind.STUDENT_DATA:
                label = "TM351VCE/" + ("" if volume.source in (".", "") else volume.source) + " (your folder)"
            else:
                label = f"{volume.source} (volume)"
            volume_box = Box(370, y + row * ROW, label, "volume")
            boxes.append(volume_box)
            links.append((app_box, volume_box))
        y += span * ROW
    by_name = {box.label: box for box in boxes if box.kind == "app"}
    for app in apps:
        # An app that uses another (Jupyter's notebooks reach PostgreSQL) sits beside it in the picture.
        links += [(by_name[app.name], by_name[peer]) for peer in app.connects_to if peer in by_name]
    if gateway is not None:
        entry = Box(10, y // 2 - 20, f"{gateway.name} :{shelf.defaults.port}", "gateway")
        links = [(entry, by_name[app.name]) for app in routed_apps(shelf, recipe)] + links
        boxes.insert(0, entry)
    return Diagram(boxes, links, max(y, ROW + 20))


def index_page(shelf: Shelf, recipes: list[Recipe], registry: str) -> str:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined, autoescape=select_autoescape(["html", "j2"])
    )
    entries = [
        {
            "recipe": recipe,
            "apps": shelf.apps_of(recipe),
            "memory_mib": shelf.budget_mib(recipe),
            "diagram": diagram(shelf, recipe),
        }
        for recipe in recipes
    ]
    return environment.get_template("index.html.j2").render(recipes=entries, version=shelf.version, registry=registry)


def logo_svg(recipe: Recipe) -> str:
    initials = "".join(part[0] for part in recipe.name.split("-")).upper()
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64">'
        '<rect width="64" height="64" rx="12" fill="#1f4e79"/>'
        '<text x="32" y="40" font-family="sans-serif" font-size="20" fill="#fff" text-anchor="middle">'
        f"{initials}</text>"
        "</svg>\n"
    )
