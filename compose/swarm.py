"""A recipe as a Swarm stack file (`docker stack deploy`), for a class that outgrows one machine.

Swarm reads a narrower Compose: no `mem_limit` or `restart` (`deploy.resources` and
`deploy.restart_policy` instead), no long-form `depends_on`, no inline config content, no host-IP
ports, no `group_add`. Secrets are Swarm's own, read from files the operator makes once (the README says how).
"""

from __future__ import annotations

from typing import Any

from tm351vce.compose.gateway import CONFIG_NAME
from tm351vce.compose.portable import GID, PLACEHOLDER_DATA, PORT, UID, use_data_dir_variable
from tm351vce.compose.render import StackOptions, app_secrets, recipe_secrets, render_compose
from tm351vce.shelf.catalogue import Recipe, Shelf

ROUTES_FILE = "gateway-routes.conf"
SECRETS_DIR = "secrets"
_DROPPED = ("restart", "mem_limit", "security_opt", "group_add", "depends_on", "secrets")


def swarm_stack(shelf: Shelf, recipe: Recipe, images: dict[str, str]) -> tuple[dict[str, Any], str]:
    """The stack document and the gateway's routes (a config file beside it)."""
    options = StackOptions(data_dir=PLACEHOLDER_DATA, port=shelf.defaults.port, host="127.0.0.1", images=images)
    document = render_compose(shelf, recipe, options)
    document.pop("name", None)
    routes = document.pop("configs", {}).get(CONFIG_NAME, {}).get("content", "")
    for app in shelf.apps_of(recipe):
        service = document["services"][app.name]
        dropped = {key: service.pop(key) for key in _DROPPED if key in service}
        service["deploy"] = {
            "resources": {"limits": {"memory": f"{app.memory_mib}M"}},
            "restart_policy": {"condition": "any", "delay": "5s"},
        }
        if "depends_on" in dropped:
            service["depends_on"] = list(dropped["depends_on"])
        if "secrets" in dropped:
            owner = {"uid": UID, "gid": GID} if app.host_user else {"uid": "0", "gid": "0"}
            service["secrets"] = [
                {"source": name, "target": name, **owner, "mode": 0o400} for name in app_secrets(shelf, recipe, app)
            ]
        for port in service.get("ports", []):
            port.pop("host_ip", None)
            port["published"] = PORT
            port["mode"] = "ingress"
        use_data_dir_variable(service)
        if app.host_user:
            service["environment"] |= {"NB_UID": UID, "NB_GID": GID}
        if app.docker_access:
            service["user"] = "0:0"  # the socket's owner; its group differs between nodes
    secrets = recipe_secrets(shelf, recipe)
    if secrets:
        document["secrets"] = {name: {"file": f"./{SECRETS_DIR}/{name}"} for name in secrets}
    if routes:
        document["configs"] = {CONFIG_NAME: {"file": f"./{ROUTES_FILE}"}}
    return document, routes.replace("$$", "$")
