"""A recipe's Compose project that runs anywhere with Docker alone: no paths into this repository, images
by registry digest, settings from a .env file, and the install's secrets made by the project itself.

On first start a one-shot `secrets` service writes each missing secret into the student folder's
`.tm351/` (mode 0600, for the folder's owner: the same layout `python3 tasks.py up` uses), then gives
each app only its own secrets, in a volume of its own mounted at /run/secrets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tm351vce.compose.render import StackOptions, app_secrets, recipe_secrets, render_compose
from tm351vce.shelf import labels
from tm351vce.shelf.catalogue import Recipe, Shelf
from tm351vce.shelf.constants import SECRETS_FOLDER

DATA_DIR = "${TM351_DATA_DIR:-./TM351VCE}"
PORT = "${TM351_PORT:-35180}"
HOST = "${TM351_HOST:-127.0.0.1}"
UID, GID = "${TM351_UID:-1000}", "${TM351_GID:-100}"
SECRETS_SERVICE = "secrets"
_RANDOM = "head -c 24 /dev/urandom | base64 | tr '+/' '-_'"
# Rendered first at this path, then replaced by DATA_DIR: Compose interpolates it from .env on the user's machine.
PLACEHOLDER_DATA = Path("/tm351-student-folder")
_STUDENT_MOUNT = "/student"


def portable_project(shelf: Shelf, recipe: Recipe, images: dict[str, str], project: str) -> dict[str, Any]:
    options = StackOptions(data_dir=PLACEHOLDER_DATA, port=shelf.defaults.port, host="127.0.0.1", project=project,
                           images=images, host_variables=True)  # fmt: skip
    document = render_compose(shelf, recipe, options)
    apps = shelf.apps_of(recipe)
    volumes = document.setdefault("volumes", {})
    document.pop("secrets", None)
    for app in apps:
        service = document["services"][app.name]
        use_data_dir_variable(service)
        for port in service.get("ports", []):
            if port["published"] == str(shelf.defaults.port):
                port["published"], port["host_ip"] = PORT, HOST
        if app.docker_access:
            # The socket's group differs between hosts and nothing here can know it; its owner, root, is
            # the same everywhere. The socket is root's power anyway, and the app keeps no capability.
            service["user"] = "0:0"
            service.pop("group_add", None)
        if app.host_user:
            service["environment"] |= {"NB_UID": UID, "NB_GID": GID}
        if service.pop("secrets", None):
            volume = f"secrets-{app.name}"
            volumes[volume] = {"labels": {labels.PROJECT: project}}
            service.setdefault("volumes", []).append(
                {"type": "volume", "source": volume, "target": "/run/secrets", "read_only": True}
            )
            service.setdefault("depends_on", {})[SECRETS_SERVICE] = {"condition": "service_completed_successfully"}
    document["services"] = {SECRETS_SERVICE: _secrets_service(shelf, recipe, images), **document["services"]}
    return document


def use_data_dir_variable(service: dict[str, Any]) -> None:
    for mount in service.get("volumes", []):
        if mount["type"] == "bind" and mount["source"].startswith(str(PLACEHOLDER_DATA)):
            mount["source"] = DATA_DIR + mount["source"][len(str(PLACEHOLDER_DATA)) :]


def _secrets_service(shelf: Shelf, recipe: Recipe, images: dict[str, str]) -> dict[str, Any]:
    """Runs once per start on the entrance's image (every recipe pulls it): makes, then hands out, the secrets."""
    master = f"{_STUDENT_MOUNT}/{SECRETS_FOLDER}"
    folders = shelf.student_folders
    lines = [
        "set -eu",
        "umask 077",
        f"mkdir -p {master}",
        *(f"mkdir -p {_STUDENT_MOUNT}/{name}" for name in folders),
        'chown "$OWNER" ' + " ".join([_STUDENT_MOUNT, master, *(f"{_STUDENT_MOUNT}/{name}" for name in folders)]),
    ]
    for name in recipe_secrets(shelf, recipe):
        make = _RANDOM
        if name == "password":
            # The student may choose it in .env; otherwise it is made here, like every other secret.
            make = f'if [ -n "$TM351_PASSWORD" ]; then printf %s "$TM351_PASSWORD"; else {_RANDOM}; fi'
        lines.append(f"[ -s {master}/{name} ] || {{ {make}; }} > {master}/{name}")
        lines.append(f'chown "$OWNER" {master}/{name} && chmod 0600 {master}/{name}')
    mounts = [{"type": "bind", "source": DATA_DIR, "target": _STUDENT_MOUNT, "bind": {"create_host_path": True}}]
    for app in shelf.apps_of(recipe):
        names = app_secrets(shelf, recipe, app)
        if not names:
            continue
        folder = f"/out/{app.name}"
        # The app reads its secrets as the student's user when it runs as that user, else as root.
        owner = '"$OWNER"' if app.host_user else "0:0"
        for name in names:
            target = f"{folder}/{name}"
            lines.append(f"cp {master}/{name} {target} && chown {owner} {target} && chmod 0400 {target}")
        mounts.append({"type": "volume", "source": f"secrets-{app.name}", "target": folder})
    script = "\n".join(lines) + "\n"
    return {
        "image": images[recipe.entrance],
        "entrypoint": ["/bin/sh", "-c", script.replace("$", "$$")],
        "user": "0:0",
        "environment": {"OWNER": f"{UID}:{GID}", "TM351_PASSWORD": "${TM351_PASSWORD:-}"},
        "cap_drop": ["ALL"],
        "cap_add": ["CHOWN", "DAC_OVERRIDE", "FOWNER"],
        "security_opt": ["no-new-privileges:true"],
        "volumes": mounts,
        "restart": "no",
        "labels": {labels.ROLE: "makes the install's secrets on first start"},
    }
