"""Render a recipe of the shelf as a Compose v2 project, built as data and serialised with yaml."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tm351vce.compose.gateway import CONFIG_NAME, ROUTES_TARGET, render_routes, routed_apps
from tm351vce.shelf import labels
from tm351vce.shelf.catalogue import App, Recipe, Shelf, VolumeKind
from tm351vce.shelf.constants import DEFAULT_PROJECT, SECRETS_FOLDER

# The least interval and timeout of a patient health check, in seconds.
PATIENT_INTERVAL_S, PATIENT_TIMEOUT_S = 5, 15


@dataclass(frozen=True)
class StackOptions:
    """Where and how one install of a recipe runs on its host."""

    data_dir: Path
    port: int
    host: str
    project: str = DEFAULT_PROJECT
    uid: int = 1000
    gid: int = 100
    expose_db: bool = False
    docker_socket: Path = Path("/var/run/docker.sock")
    # On a provisioned host the secrets live apart from the student's (synced) folder.
    secrets_root: Path | None = None
    # Image references to run instead of the local tags, by app (a registry's name@digest).
    images: dict[str, str] | None = None
    # Values only the host knows (its service user's ids, its Docker group), left to Compose's own
    # interpolation from the host's .env file; None means this machine's values.
    host_variables: bool = False
    # A VM or instance, perhaps on an emulated CPU, where each check's `docker exec` can take seconds: checked
    # less often and given longer, so the checks themselves cannot starve the machine.
    patient_health: bool = False

    @classmethod
    def for_host(
        cls, shelf: Shelf, data_dir: Path | None, port: int | None, project: str | None = None, expose_db: bool = False
    ) -> StackOptions:
        """Options with the catalogue's defaults and the invoking user's uid and gid."""
        return cls(
            expose_db=expose_db,
            data_dir=(data_dir or Path(shelf.defaults.data_dir)).expanduser().absolute(),
            port=port or shelf.defaults.port,
            host=shelf.defaults.host,
            project=project or os.environ.get("TM351_PROJECT", DEFAULT_PROJECT),
            uid=os.getuid() if hasattr(os, "getuid") else 1000,
            gid=os.getgid() if hasattr(os, "getgid") else 100,
        )

    @property
    def secrets_dir(self) -> Path:
        return self.secrets_root or self.data_dir / SECRETS_FOLDER

    def image_of(self, app: App, version: str) -> str:
        return (self.images or {}).get(app.name) or app.image_ref(version)


def entrance_url(shelf: Shelf, recipe: Recipe, options: StackOptions) -> str:
    # A stack published on every interface is still opened locally through the loopback address.
    host = "127.0.0.1" if options.host in ("0.0.0.0", "") else options.host  # noqa: S104
    entrance = shelf.apps[recipe.entrance]
    apps = routed_apps(shelf, recipe) if entrance.gateway else [entrance]
    path = apps[0].path if apps and apps[0].path else "/"
    return f"http://{host}:{options.port}{path}"


def app_secrets(shelf: Shelf, recipe: Recipe, app: App) -> list[str]:
    """The secrets an app is given: its own, its peers' client secrets and, for the gateway, the apps' tokens."""
    names = list(app.secrets)
    names += [name for peer in _peers(shelf, recipe, app) for name in peer.client_secrets]
    if app.gateway:
        names += [routed.token_secret for routed in routed_apps(shelf, recipe) if routed.token_secret]
    return list(dict.fromkeys(names))


def recipe_secrets(shelf: Shelf, recipe: Recipe) -> list[str]:
    return list(dict.fromkeys(name for app in shelf.apps_of(recipe) for name in app_secrets(shelf, recipe, app)))


def render_compose(shelf: Shelf, recipe: Recipe, options: StackOptions) -> dict[str, Any]:
    apps = shelf.apps_of(recipe)
    document: dict[str, Any] = {
        "name": options.project,
        "services": {app.name: _service(shelf, recipe, app, options) for app in apps},
    }
    volumes = {
        volume.source: {"labels": _project_labels(shelf, recipe, options)}
        for app in apps
        for volume in app.volumes
        if volume.kind is not VolumeKind.STUDENT_DATA
    }
    if volumes:
        document["volumes"] = volumes
    secrets = {name: {"file": str(options.secrets_dir / name)} for name in recipe_secrets(shelf, recipe)}
    if secrets:
        document["secrets"] = secrets
    gateways = [app for app in apps if app.gateway]
    if gateways:
        document["configs"] = {CONFIG_NAME: {"content": render_routes(shelf, recipe, gateways[0])}}
    document = _escape_interpolation(document)
    if options.host_variables:
        _use_host_variables(document, shelf, apps)
    return document


# Compose fills these from the .env file that provisioning writes beside the project on the host.
HOST_UID, HOST_GID, HOST_DOCKER_GID = "TM351_UID", "TM351_GID", "DOCKER_GID"


def _use_host_variables(document: dict[str, Any], shelf: Shelf, apps: list[App]) -> None:
    """Put ${VARIABLE}s where a host's own ids go: after escaping, so they stay variables."""
    for app in apps:
        service = document["services"][app.name]
        if app.host_user:
            service["environment"] |= {"NB_UID": f"${{{HOST_UID}}}", "NB_GID": f"${{{HOST_GID}}}"}
        if app.docker_access:
            service["user"] = f"${{{HOST_UID}}}:${{{HOST_GID}}}"
            service["group_add"] = [f"${{{HOST_DOCKER_GID}}}"]


def _service(shelf: Shelf, recipe: Recipe, app: App, options: StackOptions) -> dict[str, Any]:
    check = app.healthcheck
    interval_s, timeout_s = check.interval_s, check.timeout_s
    if options.patient_health:
        interval_s, timeout_s = max(interval_s, PATIENT_INTERVAL_S), max(timeout_s, PATIENT_TIMEOUT_S)
    service: dict[str, Any] = {
        "image": options.image_of(app, shelf.version),
        "restart": "unless-stopped",
        "environment": _environment(shelf, recipe, app, options),
        "healthcheck": {
            "test": check.test,
            "interval": _duration(interval_s),
            "timeout": _duration(timeout_s),
            "retries": check.retries,
            "start_period": _duration(check.start_period_s),
        },
        "mem_limit": f"{app.memory_mib}m",
        "labels": {
            **_project_labels(shelf, recipe, options),
            labels.APP: app.name,
            labels.URL: entrance_url(shelf, recipe, options),
            "org.opencontainers.image.title": f"tm351-{app.name}",
            "org.opencontainers.image.description": app.description,
            "org.opencontainers.image.version": shelf.version,
            labels.MEMORY_MIB: str(app.memory_mib),
            **({labels.PATH: app.path} if app.path and not app.gateway else {}),
            **({labels.ESSENTIAL: "true"} if app.essential else {}),
        },
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges:true"],
    }
    if app.capabilities:
        service["cap_add"] = list(app.capabilities)
    if app.stop_grace_s:
        service["stop_grace_period"] = _duration(app.stop_grace_s)
    ports = []
    if app.name == recipe.entrance:
        ports.append(_published(app.port, options.port, options.host))
    if app.expose_port and options.expose_db:
        # Databases are for this machine's own clients only, whatever host the entrance uses.
        ports.append(_published(app.port, app.expose_port, "127.0.0.1"))
    if ports:
        service["ports"] = ports
    mounts = [_mount(volume.kind, volume.source, volume.target, options) for volume in app.volumes]
    if app.docker_access:
        # Only this app gets the socket: it runs as the host user, through the socket's own group.
        mounts.append({"type": "bind", "source": str(options.docker_socket), "target": "/var/run/docker.sock"})
        service["user"] = f"{options.uid}:{options.gid}"
        service["group_add"] = [str(options.docker_socket.stat().st_gid if options.docker_socket.exists() else 0)]
        service["environment"]["TM351_PROJECT"] = options.project
    if mounts:
        service["volumes"] = mounts
    secrets = app_secrets(shelf, recipe, app)
    if secrets:
        service["secrets"] = secrets
    if app.gateway:
        service["configs"] = [{"source": CONFIG_NAME, "target": ROUTES_TARGET}]
    if app.needs:
        service["depends_on"] = {name: {"condition": "service_healthy"} for name in app.needs}
    return service


def _published(target: int, published: int, host: str) -> dict[str, Any]:
    return {"target": target, "published": str(published), "host_ip": host, "protocol": "tcp"}


def _peers(shelf: Shelf, recipe: Recipe, app: App) -> list[App]:
    return [shelf.apps[name] for name in app.connects_to if name in recipe.apps]


def _fill(value: str, fields: dict[str, object]) -> str:
    """Put an app's {name}, {port} and {path} into a catalogue string; any other braces stay as written."""
    for key, field in fields.items():
        value = value.replace(f"{{{key}}}", str(field))
    return value


def _environment(shelf: Shelf, recipe: Recipe, app: App, options: StackOptions) -> dict[str, str]:
    environment = {key: _fill(value, app.fields()) for key, value in app.environment.items()}
    for peer in _peers(shelf, recipe, app):
        environment |= {key: _fill(value, peer.fields()) for key, value in peer.client_environment.items()}
    if app.host_user:
        environment |= {"NB_UID": str(options.uid), "NB_GID": str(options.gid)}
    return environment


def _mount(kind: VolumeKind, source: str, target: str, options: StackOptions) -> dict[str, Any]:
    if kind is VolumeKind.STUDENT_DATA:
        return {"type": "bind", "source": str((options.data_dir / source).absolute()), "target": target}
    return {"type": "volume", "source": source, "target": target}


def _project_labels(shelf: Shelf, recipe: Recipe, options: StackOptions) -> dict[str, str]:
    return {labels.PROJECT: options.project, labels.RECIPE: recipe.name, labels.VERSION: shelf.version}


def _duration(seconds: float) -> str:
    return f"{seconds:g}s"


def _escape_interpolation(value: Any) -> Any:
    """Every value is literal: escape '$' so Compose does not read it as a variable."""
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, dict):
        return {key: _escape_interpolation(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_escape_interpolation(item) for item in value]
    return value
