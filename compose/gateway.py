"""The gateway's nginx routes, rendered from the catalogue: one location per app with a browser UI."""

from __future__ import annotations

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from tm351vce.shelf.catalogue import PROJECT_ROOT, App, Recipe, Shelf
from tm351vce.shelf.constants import GATEWAY_LOGIN_HEADER, READY_RETRY_HEADER

TEMPLATE_DIR = PROJECT_ROOT / "images" / "gateway"
ROUTES_TARGET = "/etc/nginx/conf.d/tm351.conf"
# Where they travel when they are not a config file: a read-only container cannot be given a config's content.
ROUTES_VARIABLE = "GATEWAY_ROUTES"
CONFIG_NAME = "gateway_routes"
# What the gateway's log says for each request to an app that starts on demand; the dashboard reads it.
REQUEST_MARK = "tm351-request:"
# How long a client at a door waits for the app it woke to answer: its start period and then some.
READY_TIMEOUT_S = 180

_templates = Environment(
    loader=FileSystemLoader(TEMPLATE_DIR),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
    autoescape=False,  # noqa: S701 - nginx config, not HTML
)


def routed_apps(shelf: Shelf, recipe: Recipe) -> list[App]:
    """The recipe's apps a browser reaches through the gateway, in the recipe's order."""
    return [app for app in shelf.apps_of(recipe) if app.path and not app.gateway]


def waking_app(shelf: Shelf, recipe: Recipe) -> App | None:
    """The app that wakes the recipe's sleeping apps: the one with the Docker socket and a page (the dashboard)."""
    return next((app for app in routed_apps(shelf, recipe) if app.docker_access), None)


def client_doors(shelf: Shelf, recipe: Recipe) -> list[App]:
    """The recipe's apps that start on demand and that another of its apps reaches at its own localhost (a course
    notebook's OpenRefine client): the gateway opens each a door on the app's port inside the stack, so that those
    requests wake the app and count as its use, as the browser's do."""
    apps = shelf.apps_of(recipe)
    return [
        app
        for app in apps
        if app.on_demand and app.at_clients_localhost and any(app.name in other.connects_to for other in apps)
    ]


def render_routes(shelf: Shelf, recipe: Recipe, gateway: App) -> str:
    apps = routed_apps(shelf, recipe)
    return _templates.get_template("routes.conf.j2").render(
        recipe=recipe.name,
        port=gateway.port,
        home=apps[0].path if apps else "/healthz",
        routes=apps,
        waker=waking_app(shelf, recipe),
        doors=client_doors(shelf, recipe),
        request_mark=REQUEST_MARK,
        login_header=GATEWAY_LOGIN_HEADER,
        retry_header=READY_RETRY_HEADER,
        ready_timeout_s=READY_TIMEOUT_S,
    )
