"""Render a recipe of the shelf as a Compose v2 project, built as data and serialised with yaml.

One pass makes every flavour (compose/flavour.py): the options name the flavour, and each choice the
flavour governs (ports, secrets, users, limits) is made where the field is written.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from tm351vce.compose.flavour import (
    ANY_GID,
    ANY_UID,
    DATA_DIR,
    HOST_ADDRESS,
    HOST_DOCKER_GID,
    HOST_GID,
    HOST_UID,
    LOCAL,
    PORT,
    ROUTES_FILE,
    SECRETS_DIR,
    SECRETS_SERVICE,
    Flavour,
    Limits,
    Ports,
    SecretDelivery,
    Users,
    Variable,
)
from tm351vce.compose.gateway import (
    CONFIG_NAME,
    ROUTES_TARGET,
    ROUTES_VARIABLE,
    client_doors,
    render_routes,
    routed_apps,
)
from tm351vce.compose.secrets_service import APP_MOUNT, AppSecrets, secrets_service
from tm351vce.shelf import labels
from tm351vce.shelf.catalogue import App, Recipe, Shelf, Volume, VolumeKind
from tm351vce.shelf.constants import DEFAULT_PROJECT, GATEWAY_LOGIN_HEADER, LOCAL_FORWARDS_VARIABLE, SECRETS_FOLDER

# Each container's log is rotated at this size and this many files are kept.
LOG_MAX_SIZE, LOG_FILES = "10m", 3
ROTATED_LOG = {"driver": "json-file", "options": {"max-size": LOG_MAX_SIZE, "max-file": str(LOG_FILES)}}
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
    # Where and how the project is delivered: this machine, a provisioned host, a published folder, a Swarm.
    flavour: Flavour = LOCAL
    # A VM or instance, perhaps on an emulated CPU, where each check's `docker exec` can take seconds: checked
    # less often and given longer, so the checks themselves cannot starve the machine.
    patient_health: bool = False
    # A digest of each secret's content, by name (local installs): a service is recreated when one it holds changes.
    secret_digests: dict[str, str] | None = None
    # How long an app that starts on demand may go without a request before it is stopped, for every such app
    # (None: each app's own idle_minutes from the catalogue).
    idle_minutes: float | None = None

    @classmethod
    def for_host(
        cls,
        shelf: Shelf,
        data_dir: Path | None,
        port: int | None,
        project: str | None = None,
        expose_db: bool = False,
        idle_minutes: float | None = None,
    ) -> StackOptions:
        """Options with the catalogue's defaults and the invoking user's uid and gid."""
        return cls(
            expose_db=expose_db,
            idle_minutes=idle_minutes,
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

    def idle_s(self, app: App) -> int | None:
        """The seconds without a request after which an app that starts on demand is stopped; None for the others."""
        if app.on_demand is None:
            return None
        return max(1, round((self.idle_minutes or app.on_demand.idle_minutes) * 60))


def entrance_url(shelf: Shelf, recipe: Recipe, options: StackOptions) -> str:
    # A stack published on every interface is still opened locally through the loopback address.
    host = "127.0.0.1" if options.host in ("0.0.0.0", "") else options.host  # noqa: S104
    entrance = shelf.apps[recipe.entrance]
    apps = routed_apps(shelf, recipe) if entrance.gateway else [entrance]
    path = apps[0].path if apps and apps[0].path else "/"
    return f"http://{host}:{options.port}{path}"


def app_secrets(shelf: Shelf, recipe: Recipe, app: App) -> list[str]:
    """The secrets an app is given: its own and, for the gateway, the apps' tokens."""
    names = list(app.secrets)
    if app.gateway:
        names += [routed.token_secret for routed in routed_apps(shelf, recipe) if routed.token_secret]
    return list(dict.fromkeys(names))


def recipe_secrets(shelf: Shelf, recipe: Recipe) -> list[str]:
    return list(dict.fromkeys(name for app in shelf.apps_of(recipe) for name in app_secrets(shelf, recipe, app)))


def render_compose(shelf: Shelf, recipe: Recipe, options: StackOptions) -> dict[str, Any]:
    apps = shelf.apps_of(recipe)
    flavour = options.flavour
    services = {app.name: _service(shelf, recipe, app, options) for app in apps}
    volumes = {
        volume.source: {"labels": _project_labels(shelf, recipe, options)}
        for app in apps
        for volume in app.volumes
        if volume.kind is not VolumeKind.STUDENT_DATA
    }
    document: dict[str, Any] = {"name": options.project} if flavour.named else {}
    if flavour.secrets is SecretDelivery.MADE_ON_START:
        handed_out = _handed_out_secrets(shelf, recipe)
        volumes |= {app.volume: {"labels": {labels.PROJECT: options.project}} for app in handed_out}
        made = secrets_service(
            options.image_of(shelf.apps[recipe.entrance], shelf.version),
            recipe_secrets(shelf, recipe),
            handed_out,
            shelf.student_folders,
        )
        services = {SECRETS_SERVICE: made | {"logging": ROTATED_LOG}, **services}
    document["services"] = services
    if volumes:
        document["volumes"] = volumes
    secrets = recipe_secrets(shelf, recipe)
    if secrets and flavour.secrets is SecretDelivery.FILES:
        document["secrets"] = {name: {"file": str(options.secrets_dir / name)} for name in secrets}
    elif secrets and flavour.secrets is SecretDelivery.SWARM:
        document["secrets"] = {name: {"file": f"./{SECRETS_DIR}/{name}"} for name in secrets}
    if not flavour.routes_inline and any(app.gateway for app in apps):
        document["configs"] = {CONFIG_NAME: {"file": f"./{ROUTES_FILE}"}}
    return _escape_interpolation(document)


def gateway_routes(shelf: Shelf, recipe: Recipe) -> str | None:
    """The gateway's nginx routes, as a file's text; None for a recipe without a gateway."""
    gateways = [app for app in shelf.apps_of(recipe) if app.gateway]
    return render_routes(shelf, recipe, gateways[0]) if gateways else None


def _handed_out_secrets(shelf: Shelf, recipe: Recipe) -> list[AppSecrets]:
    return [
        AppSecrets(app.name, names, as_student=app.host_user)
        for app in shelf.apps_of(recipe)
        if (names := app_secrets(shelf, recipe, app))
    ]


def _service(shelf: Shelf, recipe: Recipe, app: App, options: StackOptions) -> dict[str, Any]:
    flavour = options.flavour
    check = app.healthcheck
    interval_s, timeout_s = check.interval_s, check.timeout_s
    if options.patient_health:
        interval_s, timeout_s = max(interval_s, PATIENT_INTERVAL_S), max(timeout_s, PATIENT_TIMEOUT_S)
    service: dict[str, Any] = {"image": options.image_of(app, shelf.version)}
    if flavour.limits is Limits.COMPOSE:
        service["restart"] = "unless-stopped"
    service |= {
        "environment": _environment(shelf, recipe, app, options),
        "healthcheck": {
            "test": check.test,
            "interval": _duration(interval_s),
            "timeout": _duration(timeout_s),
            "retries": check.retries,
            "start_period": _duration(check.start_period_s),
        },
    }
    if flavour.limits is Limits.COMPOSE:
        service["mem_limit"] = f"{app.memory_mib}m"
        service["pids_limit"] = app.pids_limit
    # Docker keeps every line otherwise: a chatty app would fill the disk of a small machine.
    service["logging"] = ROTATED_LOG
    service |= {
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
            **_secrets_digest(shelf, recipe, app, options),
            **({labels.TITLE: app.title} if app.title else {}),
            **({labels.IDLE_S: str(options.idle_s(app))} if app.on_demand else {}),
            **({labels.GATEWAY: "true"} if app.gateway else {}),
        },
        "cap_drop": ["ALL"],
    }
    if flavour.limits is Limits.COMPOSE:
        service["security_opt"] = ["no-new-privileges:true"]
    if app.capabilities:
        service["cap_add"] = list(app.capabilities)
    if app.stop_grace_s:
        service["stop_grace_period"] = _duration(app.stop_grace_s)
    ports = []
    if app.name == recipe.entrance:
        ports.append(_entrance_port(app.port, options))
    if app.expose_port and options.expose_db:
        # Databases are for this machine's own clients only, whatever host the entrance uses.
        ports.append(_published(app.expose_from or app.port, app.expose_port, "127.0.0.1"))
    if ports:
        service["ports"] = ports
    if app.writable is not None:
        service["read_only"] = True
    mounts = [_mount(volume.kind, volume.source, volume.target, options) for volume in app.volumes]
    mounts += [_scratch(path, size_mib) for path, size_mib in (app.writable or {}).items()]
    if _secrets_in_student_folder(options):
        mounts += [_secrets_mask(volume.target) for volume in app.volumes if _holds_secrets_folder(volume)]
    if app.docker_access:
        # Only this app gets the socket: it runs as the host user, through the socket's own group.
        mounts.append({"type": "bind", "source": str(options.docker_socket), "target": "/var/run/docker.sock"})
        service |= _socket_user(options)
        service["environment"]["TM351_PROJECT"] = options.project
    secrets = app_secrets(shelf, recipe, app)
    if secrets and flavour.secrets is SecretDelivery.MADE_ON_START:
        mounts.append({"type": "volume", "source": f"secrets-{app.name}", "target": APP_MOUNT, "read_only": True})
    if mounts:
        service["volumes"] = mounts
    if secrets and flavour.secrets is SecretDelivery.FILES:
        service["secrets"] = secrets
    if app.gateway and flavour.routes_inline:
        service["environment"][ROUTES_VARIABLE] = render_routes(shelf, recipe, app)
    elif app.gateway:
        service["configs"] = [{"source": CONFIG_NAME, "target": ROUTES_TARGET}]
    if app.needs and flavour.limits is Limits.COMPOSE:
        service["depends_on"] = {name: {"condition": "service_healthy"} for name in app.needs}
    if secrets and flavour.secrets is SecretDelivery.MADE_ON_START:
        service.setdefault("depends_on", {})[SECRETS_SERVICE] = {"condition": "service_completed_successfully"}
    if flavour.limits is Limits.SWARM:
        service["deploy"] = {
            "resources": {"limits": {"memory": f"{app.memory_mib}M"}},
            "restart_policy": {"condition": "any", "delay": "5s"},
        }
        if app.needs:
            service["depends_on"] = list(app.needs)
    if secrets and flavour.secrets is SecretDelivery.SWARM:
        owner = {"uid": ANY_UID, "gid": ANY_GID} if app.host_user else {"uid": "0", "gid": "0"}
        service["secrets"] = [{"source": name, "target": name, **owner, "mode": 0o400} for name in secrets]
    return service


def _entrance_port(target: int, options: StackOptions) -> dict[str, Any]:
    ports = options.flavour.ports
    if ports is Ports.FROM_SETTINGS:
        return _published(target, PORT, HOST_ADDRESS)
    if ports is Ports.INGRESS:
        return {"target": target, "published": PORT, "protocol": "tcp", "mode": "ingress"}
    return _published(target, options.port, options.host)


def _socket_user(options: StackOptions) -> dict[str, Any]:
    users = options.flavour.users
    if users is Users.ANY_MACHINE:
        return {"user": "0:0"}
    if users is Users.HOST_SETTINGS:
        return {"user": Variable(f"{HOST_UID}:{HOST_GID}"), "group_add": [HOST_DOCKER_GID]}
    socket = options.docker_socket
    return {"user": f"{options.uid}:{options.gid}", "group_add": [str(socket.stat().st_gid if socket.exists() else 0)]}


def _host_ids(options: StackOptions) -> dict[str, str]:
    users = options.flavour.users
    if users is Users.ANY_MACHINE:
        return {"NB_UID": ANY_UID, "NB_GID": ANY_GID}
    if users is Users.HOST_SETTINGS:
        return {"NB_UID": HOST_UID, "NB_GID": HOST_GID}
    return {"NB_UID": str(options.uid), "NB_GID": str(options.gid)}


def _published(target: int, published: int | str, host: str) -> dict[str, Any]:
    published = published if isinstance(published, str) else str(published)
    return {"target": target, "published": published, "host_ip": host, "protocol": "tcp"}


def _peers(shelf: Shelf, recipe: Recipe, app: App) -> list[App]:
    return [shelf.apps[name] for name in app.connects_to if name in recipe.apps]


def _reached_at(shelf: Shelf, recipe: Recipe, peer: App) -> str:
    """Where a client forwards its localhost port for the peer: the peer itself, or for one that starts on demand
    the gateway's door to it (compose/gateway.py), which wakes it."""
    if peer in client_doors(shelf, recipe):
        return next(app.name for app in shelf.apps_of(recipe) if app.gateway)
    return peer.name


def _fill(value: str, fields: dict[str, object]) -> str:
    """Put an app's {name}, {port} and {path} into a catalogue string; any other braces stay as written."""
    for key, field in fields.items():
        value = value.replace(f"{{{key}}}", str(field))
    return value


def _environment(shelf: Shelf, recipe: Recipe, app: App, options: StackOptions) -> dict[str, str]:
    environment = {key: _fill(value, app.fields()) for key, value in app.environment.items()}
    peers = _peers(shelf, recipe, app)
    for peer in peers:
        environment |= {key: _fill(value, peer.fields()) for key, value in peer.client_environment.items()}
    forwards = [
        f"{peer.port}={_reached_at(shelf, recipe, peer)}:{peer.port}" for peer in peers if peer.at_clients_localhost
    ]
    if forwards:
        environment[LOCAL_FORWARDS_VARIABLE] = " ".join(forwards)
    if app.host_user:
        environment |= _host_ids(options)
    if app.token_secret and app.path:
        environment["TM351_LOGIN_HEADER"] = GATEWAY_LOGIN_HEADER
    return environment


def _mount(kind: VolumeKind, source: str, target: str, options: StackOptions) -> dict[str, Any]:
    if kind is VolumeKind.STUDENT_DATA and options.flavour.folder_from_settings:
        inside = PurePosixPath(source).as_posix()
        folder = DATA_DIR if inside == "." else Variable(f"{DATA_DIR}/{_escaped(inside)}")
        return {"type": "bind", "source": folder, "target": target}
    if kind is VolumeKind.STUDENT_DATA:
        return {"type": "bind", "source": str((options.data_dir / source).absolute()), "target": target}
    return {"type": "volume", "source": source, "target": target}


def _secrets_in_student_folder(options: StackOptions) -> bool:
    """This machine's install and a published folder keep the secrets in .tm351/; a provisioned host keeps them
    apart (secrets_root), and a Swarm in the operator's ./secrets/."""
    delivery = options.flavour.secrets
    return delivery is SecretDelivery.MADE_ON_START or (delivery is SecretDelivery.FILES and not options.secrets_root)


def _holds_secrets_folder(volume: Volume) -> bool:
    return volume.kind is VolumeKind.STUDENT_DATA and PurePosixPath(volume.source).as_posix() == "."


def _secrets_digest(shelf: Shelf, recipe: Recipe, app: App, options: StackOptions) -> dict[str, str]:
    digests = options.secret_digests or {}
    held = [digests[name] for name in app_secrets(shelf, recipe, app) if name in digests]
    return {labels.SECRETS_DIGEST: hashlib.sha256(" ".join(held).encode()).hexdigest()[:16]} if held else {}


def _scratch(target: str, size_mib: int) -> dict[str, Any]:
    """A path a read-only app writes: empty at each start, and bounded, so filling it fails a write, not the host."""
    return {"type": "tmpfs", "target": target, "tmpfs": {"size": size_mib * 1024 * 1024}}


def _secrets_mask(target: str) -> dict[str, Any]:
    """An empty, read-only folder over the student folder's .tm351/, where the install keeps its secrets: the
    code a student runs in this container (or a file they open) can neither read nor plant anything there."""
    return {"type": "tmpfs", "target": f"{target}/{SECRETS_FOLDER}", "read_only": True, "tmpfs": {"size": 4096}}


def _project_labels(shelf: Shelf, recipe: Recipe, options: StackOptions) -> dict[str, str]:
    return {labels.PROJECT: options.project, labels.RECIPE: recipe.name, labels.VERSION: shelf.version}


def _duration(seconds: float) -> str:
    return f"{seconds:g}s"


def _escaped(text: str) -> str:
    return text.replace("$", "$$")


def _escape_interpolation(value: Any) -> Any:
    """Every value but a flavour's Variables is literal: escape '$' so Compose does not read it as a variable."""
    if isinstance(value, Variable):
        return str(value)
    if isinstance(value, str):
        return _escaped(value)
    if isinstance(value, dict):
        return {key: _escape_interpolation(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_escape_interpolation(item) for item in value]
    return value
