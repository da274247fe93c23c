"""The one-shot service that makes a portable install's secrets on its first start.

It writes each missing secret into the student folder's `.tm351/` (mode 0600, for the folder's owner: the
same layout `python3 tasks.py up` uses), then gives each app only its own secrets, in a volume of its own
that the app mounts at /run/secrets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tm351vce.compose.flavour import ANY_GID, ANY_UID, DATA_DIR, PASSWORD, Variable
from tm351vce.shelf import labels
from tm351vce.shelf.constants import LOGIN_SECRET, SECRETS_FOLDER

_RANDOM = "head -c 24 /dev/urandom | base64 | tr '+/' '-_'"
_STUDENT_MOUNT = "/student"
APP_MOUNT = "/run/secrets"


@dataclass(frozen=True)
class AppSecrets:
    app: str
    names: list[str]
    # The app reads its secrets as the student's user when it runs as that user, else as root.
    as_student: bool

    @property
    def volume(self) -> str:
        return f"secrets-{self.app}"


def secrets_service(image: str, secrets: list[str], apps: list[AppSecrets], folders: list[str]) -> dict[str, Any]:
    """Runs once per start on the entrance's image (every recipe pulls it): makes, then hands out, the secrets."""
    master = f"{_STUDENT_MOUNT}/{SECRETS_FOLDER}"
    lines = [
        "set -eu",
        "umask 077",
        f"mkdir -p {master}",
        *(f"mkdir -p {_STUDENT_MOUNT}/{name}" for name in folders),
        'chown "$OWNER" ' + " ".join([_STUDENT_MOUNT, master, *(f"{_STUDENT_MOUNT}/{name}" for name in folders)]),
    ]
    for name in secrets:
        make = _RANDOM
        if name == LOGIN_SECRET:
            # The student may choose it in .env; otherwise it is made here, like every other secret.
            make = f'if [ -n "$TM351_PASSWORD" ]; then printf %s "$TM351_PASSWORD"; else {_RANDOM}; fi'
        lines.append(f"[ -s {master}/{name} ] || {{ {make}; }} > {master}/{name}")
        lines.append(f'chown "$OWNER" {master}/{name} && chmod 0600 {master}/{name}')
    mounts: list[dict[str, Any]] = [
        {"type": "bind", "source": DATA_DIR, "target": _STUDENT_MOUNT, "bind": {"create_host_path": True}}
    ]
    for app in apps:
        folder = f"/out/{app.app}"
        owner = '"$OWNER"' if app.as_student else "0:0"
        for name in app.names:
            target = f"{folder}/{name}"
            lines.append(f"cp {master}/{name} {target} && chown {owner} {target} && chmod 0400 {target}")
        mounts.append({"type": "volume", "source": app.volume, "target": folder})
    return {
        "image": image,
        "entrypoint": ["/bin/sh", "-c", "\n".join(lines) + "\n"],
        "user": "0:0",
        "environment": {"OWNER": Variable(f"{ANY_UID}:{ANY_GID}"), "TM351_PASSWORD": PASSWORD},
        "cap_drop": ["ALL"],
        "cap_add": ["CHOWN", "DAC_OVERRIDE", "FOWNER"],
        "security_opt": ["no-new-privileges:true"],
        "volumes": mounts,
        "restart": "no",
        "labels": {labels.ROLE: "makes the install's secrets on first start"},
    }
