"""This machine's Docker engine as a Host: up, status, logs, stop, down, password, backup access."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from urllib.parse import urljoin

import docker
import docker.errors
from docker.models.containers import Container

from tm351vce.compose.render import (
    StackOptions,
    app_secrets,
    entrance_url,
    recipe_secrets,
    render_compose,
)
from tm351vce.hosts.base import Confirm, Host, Report, StackAccess, Started
from tm351vce.hosts.memory_fit import check_memory
from tm351vce.hosts.student_folder import StudentFolder
from tm351vce.hosts.views import status_table
from tm351vce.images.build import BuildOptions, ensure_images
from tm351vce.images.course_data import check_course_data
from tm351vce.images.dashboard.tm351_dashboard.services import Stack as ServiceView
from tm351vce.shelf import labels
from tm351vce.shelf.catalogue import App, Recipe, Shelf
from tm351vce.shelf.constants import DEFAULT_PROJECT, LOGIN_SECRET
from tm351vce.shelf.engine import compose_cli, docker_client
from tm351vce.shelf.errors import OperationFailed, UsageProblem
from tm351vce.shelf.labels import APP as APP_LABEL
from tm351vce.shelf.labels import IDLE_S as IDLE_LABEL
from tm351vce.shelf.labels import PROJECT_LABEL, SERVICE_LABEL
from tm351vce.shelf.labels import RECIPE as RECIPE_LABEL
from tm351vce.shelf.labels import URL as URL_LABEL
from tm351vce.shelf.progress import LOG_DIR, run_with_progress
from tm351vce.shelf.serialise import to_yaml

WAIT_MARGIN_S = 60
# Records which student folder the project's volumes belong to (its labels; it holds nothing).
OWNER_VOLUME = "student-folder"
FAILED_LOG_LINES = 25


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    state: str
    health: str
    memory_mib: float | None
    # Restarts by the dashboard's healer, after the service stayed unhealthy.
    healed: int = 0
    # An app that starts on demand ("sleeping" while stopped) is stopped after this long without use.
    sleeps_after_s: int | None = None


@dataclass(frozen=True)
class StackStatus:
    recipe: str | None
    url: str | None
    services: list[ServiceStatus]

    def as_dict(self) -> dict:
        return asdict(self)


# Compose's own rule for a project name; it would quietly change any other into one.
_PROJECT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")


def current_project() -> str:
    project = os.environ.get("TM351_PROJECT", DEFAULT_PROJECT)
    if not _PROJECT_NAME.fullmatch(project):
        raise UsageProblem(
            f"TM351_PROJECT={project!r} is not a Compose project name: use lower-case letters, digits, '-' and '_',"
            " starting with a letter or digit (or unset it for the default, tm351)."
        )
    return project


def up(
    shelf: Shelf,
    recipe: Recipe,
    data_dir: Path | None,
    port: int | None,
    expose_db: bool = False,
    force: bool = False,
    idle_minutes: float | None = None,
    course_data: Path | None = None,
) -> Started:
    """Start a recipe's apps but those that start on demand, and wait until they are healthy; returns the URL to
    open, with what to know about the apps that start on demand."""
    course_data = course_data or shelf.defaults.course_data
    if course_data is not None:
        check_course_data(course_data)  # before anything is made; the build reads it
    options = StackOptions.for_host(shelf, data_dir, port, current_project(), expose_db, idle_minutes)
    client = docker_client()
    compose = compose_cli()
    notes = [] if force else check_memory(shelf, recipe, round(client.info()["MemTotal"] / 2**20))
    apps = shelf.apps_of(recipe)
    _check_folder_owns_volumes(client, options)
    folder = StudentFolder(options.data_dir)
    secrets = recipe_secrets(shelf, recipe)
    folder.prepare(shelf.student_folders, secrets)
    _check_ports_free(client, shelf, recipe, options)
    ensure_images(shelf, apps, BuildOptions(course_data=course_data))
    options = replace(options, secret_digests={name: folder.secret_digest(name) for name in secrets})
    _record_folder_owner(client, options)

    compose_file = folder.write_file("compose.yaml", to_yaml(render_compose(shelf, recipe, options)))
    project = [*compose, "-f", str(compose_file)]
    awake, sleeping = shelf.awake_apps(recipe), shelf.on_demand_apps(recipe)
    if sleeping:
        # Made, not started: the dashboard starts them when they are first opened.
        created = run_with_progress(
            [*project, "up", "--no-start", *(app.name for app in sleeping)],
            f"Making {', '.join(app.name for app in sleeping)}, which start when opened",
            LOG_DIR / "up.log",
        )
        if not created.ok:
            failed = f"`docker compose up --no-start` failed; full log: {created.log}"
            raise OperationFailed(failed, "\n".join(created.tail))
    wait_s = max(app.healthcheck.start_period_s for app in awake) + WAIT_MARGIN_S
    finished = run_with_progress(
        [
            *project,
            "up",
            "--detach",
            "--wait",
            "--wait-timeout",
            f"{wait_s:.0f}",
            "--remove-orphans",
            *(app.name for app in awake if sleeping),
        ],
        f"Starting recipe {recipe.name}",
        LOG_DIR / "up.log",
    )
    if not finished.ok:
        failure = _start_failure(client, options.project, recipe.name, finished.tail)
        # A service that keeps failing would otherwise restart for ever; its logs stay readable.
        subprocess.run([*compose, "-p", options.project, "stop"], capture_output=True, check=False)
        raise failure
    url = entrance_url(shelf, recipe, options)
    return Started(url, [*(_sleeping_note(app, options, url) for app in sleeping), *notes])


def _sleeping_note(app: App, options: StackOptions, url: str) -> str:
    idle_s = options.idle_s(app) or 0
    idle = f"{idle_s // 60} min" if idle_s % 60 == 0 else f"{idle_s} s"
    return (
        f"{app.display_name} sleeps until you open {urljoin(url, app.path)}, and again after {idle} without use"
        " (up --idle-minutes N changes it)."
    )


def status() -> StackStatus:
    client = docker_client()
    containers = project_containers(client, current_project())
    if not containers:
        return StackStatus(recipe=None, url=None, services=[])
    first = containers[0].labels
    services = [
        ServiceStatus(
            service.name, service.state, service.health, service.memory_mib, service.healed, service.sleeps_after_s
        )
        for service in ServiceView(client, current_project()).services()
    ]
    return StackStatus(recipe=first.get(RECIPE_LABEL), url=first.get(URL_LABEL), services=services)


def logs(app: str | None, lines: int, follow: bool) -> int:
    client = docker_client()
    compose = compose_cli()
    project = current_project()
    services = sorted({container.labels.get(SERVICE_LABEL, "") for container in project_containers(client, project)})
    if not services:
        raise UsageProblem("The stack is not running, so there are no logs: start it with `python3 tasks.py up`.")
    if app is not None and app not in services:
        raise UsageProblem(f"No service '{app}' in the running stack: choose one of {', '.join(services)}.")
    command = [
        *compose,
        "-p",
        project,
        "logs",
        "--tail",
        str(lines),
        *(["--follow"] if follow else []),
        *([app] if app else []),
    ]
    return subprocess.run(command, check=False).returncode


def down(purge: bool, confirm: Callable[[str], bool]) -> list[str]:
    """Stop and remove the stack's containers; with purge, its volumes too (never the student's folder)."""
    client = docker_client()
    compose = compose_cli()
    project = current_project()
    volumes = [volume.name for volume in client.volumes.list(filters={"label": f"{PROJECT_LABEL}={project}"})
               if volume.name != _owner_volume(project)]  # fmt: skip
    if purge and volumes:
        question = (
            f"Delete the volumes {', '.join(volumes)} (databases and app settings)? "
            "Your folder with notebooks and data is kept."
        )
        if not confirm(question):
            raise UsageProblem("Nothing was deleted: confirm the purge, or pass --yes.")
    command = [*compose, "-p", project, "down", "--remove-orphans", *(["--volumes"] if purge else [])]
    finished = run_with_progress(
        command, "Stopping the stack" + (" and deleting its volumes" if purge else ""), LOG_DIR / "down.log"
    )
    if not finished.ok:
        raise OperationFailed(f"`docker compose down` failed; full log: {finished.log}", "\n".join(finished.tail))
    if purge:
        with contextlib.suppress(docker.errors.NotFound):
            client.volumes.get(_owner_volume(project)).remove()
    return volumes if purge else []


def student_folder(shelf: Shelf, data_dir: Path | None) -> StudentFolder:
    return StudentFolder(StackOptions.for_host(shelf, data_dir, None).data_dir)


def password(shelf: Shelf, data_dir: Path | None) -> str:
    return student_folder(shelf, data_dir).read_secret(LOGIN_SECRET)


def reset_password(shelf: Shelf, data_dir: Path | None) -> list[str]:
    """Rotate every credential that passes the gateway: the login password and each app token that counts as a
    login on its route. Restarts the running services that hold one; returns their names."""
    folder = student_folder(shelf, data_dir)
    rotated = [LOGIN_SECRET, *login_tokens(shelf)]
    for name in rotated:
        if name == LOGIN_SECRET or folder.secret_path(name).is_file():
            folder.replace_secret(name)
    client = docker_client()
    running = [
        container for container in project_containers(client, current_project()) if container.status == "running"
    ]
    if not running:
        return []
    recipe = shelf.recipe(running[0].labels.get(RECIPE_LABEL))
    holders = [
        container
        for container in running
        if set(rotated) & set(app_secrets(shelf, recipe, shelf.app(container.labels.get(APP_LABEL, ""))))
    ]
    for container in holders:
        container.restart()
    _wait_until_healthy(holders, timeout_s=120)
    return [container.labels.get(SERVICE_LABEL, container.name) for container in holders]


def login_tokens(shelf: Shelf) -> list[str]:
    """The app tokens the gateway takes as a login on the app's own route."""
    return list(dict.fromkeys(app.token_secret for app in shelf.apps.values() if app.token_secret and app.path))


def _wait_until_healthy(containers: list[Container], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    for container in containers:
        while True:
            container.reload()
            health = container.attrs["State"].get("Health", {}).get("Status", "healthy")
            if health == "healthy":
                break
            if time.monotonic() > deadline:
                raise OperationFailed(f"{container.name} is {health} after a restart; see `python3 tasks.py logs`.")
            time.sleep(0.2)


def project_containers(client: docker.DockerClient, project: str) -> list[Container]:
    """The project's containers; one removed while they are read (a restart policy, another `down`) is left out."""
    found = []
    for summary in client.api.containers(all=True, filters={"label": f"{PROJECT_LABEL}={project}"}):
        try:
            found.append(client.containers.get(summary["Id"]))
        except docker.errors.NotFound:
            continue
    return found


def _owner_volume(project: str) -> str:
    return f"{project}_{OWNER_VOLUME}"


def _owner_record(client: docker.DockerClient, project: str) -> docker.models.volumes.Volume | None:
    try:
        return client.volumes.get(_owner_volume(project))
    except docker.errors.NotFound:
        return None


def _check_folder_owns_volumes(client: docker.DockerClient, options: StackOptions) -> None:
    """A project's volumes (its databases) belong to the student folder they were made with: another folder
    would get the first one's data, and secrets that do not open it."""
    project = options.project
    recorded = _owner_record(client, project)
    if recorded is None:
        return
    owner = recorded.attrs["Labels"].get(labels.STUDENT_FOLDER, "")
    others = [volume for volume in client.volumes.list(filters={"label": f"{PROJECT_LABEL}={project}"})
              if volume.name != _owner_volume(project)]  # fmt: skip
    if owner and owner != str(options.data_dir) and others:
        raise UsageProblem(
            f"The stack {project} and its databases belong to the student folder {owner}: pass --data-dir {owner}, "
            f"or give this folder a stack of its own with TM351_PROJECT=NAME (`down --purge` deletes the other's "
            "databases)."
        )


def _record_folder_owner(client: docker.DockerClient, options: StackOptions) -> None:
    name = _owner_volume(options.project)
    recorded = _owner_record(client, options.project)
    if recorded is not None and recorded.attrs["Labels"].get(labels.STUDENT_FOLDER) == str(options.data_dir):
        return
    if recorded is not None:
        recorded.remove()
    client.volumes.create(name, labels={PROJECT_LABEL: options.project, labels.STUDENT_FOLDER: str(options.data_dir)})


def _check_ports_free(client: docker.DockerClient, shelf: Shelf, recipe: Recipe, options: StackOptions) -> None:
    """Every host port the recipe would publish is free or already ours, checked before anything is stopped."""
    wanted = [(options.host, options.port, "--port N")]
    if options.expose_db:
        wanted += [("127.0.0.1", app.expose_port, "up without --expose-db") for app in shelf.apps_of(recipe)
                   if app.expose_port]  # fmt: skip
    ours = {
        binding.get("HostPort")
        for container in project_containers(client, options.project)
        for ports in (container.attrs["HostConfig"].get("PortBindings") or {}).values()
        for binding in ports or []
    }
    for host, port, instead in wanted:
        if str(port) in ours:
            continue  # our own stack holds it: `up` again replaces it in place
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError:
                raise UsageProblem(
                    f"Port {port} on {host} is already in use: choose another with {instead}."
                    " Nothing was started or stopped."
                ) from None


def _start_failure(client: docker.DockerClient, project: str, recipe: str, compose_tail: list[str]) -> OperationFailed:
    containers = project_containers(client, project)
    failing = [
        container
        for container in containers
        if (container.status != "running" and IDLE_LABEL not in container.labels)
        or container.attrs["State"].get("Health", {}).get("Status") == "unhealthy"
    ] or containers
    sections = ["\n".join(compose_tail[-10:])]
    for container in failing:
        try:
            tail = container.logs(tail=FAILED_LOG_LINES).decode("utf-8", errors="replace").rstrip()
        except docker.errors.NotFound:
            tail = "(the container was removed before its logs could be read)"
        sections.append(f"--- last log lines of {container.labels.get(SERVICE_LABEL, container.name)} ---\n{tail}")
    names = ", ".join(container.labels.get(SERVICE_LABEL, container.name) for container in failing) or "none started"
    return OperationFailed(
        f"Recipe {recipe} did not become healthy (services: {names}), so the stack was stopped; "
        "`python3 tasks.py logs` shows more, `python3 tasks.py up` tries again.",
        "\n".join(sections),
    )


@dataclass(frozen=True)
class LocalHost(Host):
    """The stack on this machine's engine, the student's folder on this machine."""

    shelf: Shelf
    data_dir: Path | None = None
    port: int | None = None
    expose_db: bool = False
    force: bool = False
    idle_minutes: float | None = None
    # The course's datasets: the images that load them are built with them first (images/course_data.py).
    course_data: Path | None = None
    where = "this machine"

    def password_command(self) -> str:
        return "python3 tasks.py password" + (f" --data-dir {self.data_dir}" if self.data_dir else "")

    def up(self, recipe: Recipe | None) -> Started:
        chosen = recipe or self.shelf.default_recipe
        options = (self.expose_db, self.force, self.idle_minutes, self.course_data)
        return up(self.shelf, chosen, self.data_dir, self.port, *options)

    def status(self) -> Report:
        current = status()
        idle = "The stack is not running: start it with `python3 tasks.py up`."
        return Report(current.as_dict(), status_table(current) if current.services else idle)

    def stop(self) -> str:
        down(False, confirm=lambda question: False)
        return "Stopped. Your folder and the databases are kept."

    def down(self, purge: bool, confirm: Confirm) -> str:
        deleted = down(purge, confirm)
        return "Stopped." + (f" Deleted volumes: {', '.join(deleted)}." if deleted else "")

    def password(self, reset: bool) -> tuple[str, str | None]:
        note = None
        if reset:
            restarted = reset_password(self.shelf, self.data_dir)
            note = "New password and app tokens set" + (f"; restarted {', '.join(restarted)}." if restarted else ".")
        return password(self.shelf, self.data_dir), note

    def stack_access(self) -> StackAccess:
        docker_client()  # a missing engine is a usage problem with its fix, not a failed command
        return StackAccess(project=current_project())
