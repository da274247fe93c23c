"""The shelf catalogue: apps and recipes, read from compose/shelf.yaml into a typed model, and its loader.

Everything else (Compose files, image builds, host provisioning) is derived from this model,
so a port, path or version is written once, here.
"""

from __future__ import annotations

import os
import re
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError, model_validator

from tm351vce.shelf.constants import VERSION
from tm351vce.shelf.errors import UsageProblem

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHELF_PATH = PROJECT_ROOT / "compose" / "shelf.yaml"

Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]*$")]
SecretName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
AbsolutePath = Annotated[str, Field(pattern=r"^/")]


class VolumeKind(StrEnum):
    STUDENT_DATA = "student-data"  # a folder of the student's data folder on the host
    DATABASE = "database"  # a named volume holding a database; backed up
    APP_STATE = "app-state"  # a named volume of settings an app keeps between runs


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Healthcheck(_Strict):
    test: list[str] = Field(min_length=1)
    interval_s: float = Field(default=5, gt=0)
    timeout_s: float = Field(default=3, gt=0)
    retries: PositiveInt = 3
    start_period_s: float = Field(default=0, ge=0)


class Volume(_Strict):
    kind: VolumeKind
    # student-data: a folder inside the student's data folder ("." for all of it); otherwise a volume name.
    source: str
    target: AbsolutePath

    @model_validator(mode="after")
    def _source_fits_kind(self) -> Volume:
        if self.kind is VolumeKind.STUDENT_DATA:
            if Path(self.source).is_absolute() or ".." in Path(self.source).parts:
                raise ValueError("a student-data source is a folder inside the data folder, like 'notebooks' or '.'")
        elif not re.fullmatch(r"[a-z][a-z0-9-]*", self.source):
            raise ValueError("a volume source is a name of lower-case letters, digits and dashes")
        return self


class Backup(_Strict):
    """Commands run inside the app's container: dump writes one archive to stdout, restore reads it on stdin."""

    user: str
    dump: list[str] = Field(min_length=1)
    restore: list[str] = Field(min_length=1)


class BuildSource(_Strict):
    """One place an image's software can come from: the build arguments that choose it."""

    name: Name
    description: str
    build_args: dict[str, str] = {}


class OnDemand(_Strict):
    """The app sleeps: `up` leaves it stopped, opening its path wakes it, and it stops again when idle."""

    idle_minutes: float = Field(default=30, gt=0)


class App(_Strict):
    name: Name
    description: str
    # How pages name the app to a person (its name when not given).
    title: str | None = None
    image: str = Field(pattern=r"^[a-z0-9][a-z0-9._/-]*$")
    build: str
    port: int = Field(ge=1, le=65535)
    path: str | None = Field(default=None, pattern=r"^/.*/$")
    healthcheck: Healthcheck
    volumes: list[Volume] = []
    environment: dict[str, str] = {}
    # The container's memory limit: the most the app may use before the kernel kills it (its busiest moments).
    memory_mib: PositiveInt
    # What a normal session holds (measured): the fit of a recipe to a machine counts this, not the limit. Apps
    # do not all peak at once, so the limits of a recipe may add up to more than the machine has.
    budget_mib: PositiveInt | None = None
    needs: list[Name] = []
    secrets: list[SecretName] = []
    capabilities: list[str] = []
    host_user: bool = False
    # Apps whose client settings this app receives when the recipe includes them.
    connects_to: list[Name] = []
    client_environment: dict[str, str] = {}
    # Its clients reach it at localhost:{port} too (course notebooks are written so): each forwards that port to it.
    at_clients_localhost: bool = False
    # The gateway routes a browser to every other app of the recipe that has a path.
    gateway: bool = False
    # The most processes and threads the app's container may run: a fork bomb in a notebook stops there.
    pids_limit: int = Field(default=256, ge=32)
    # A token of this app's own, with which the gateway vouches for the logged-in student.
    token_secret: SecretName | None = None
    # The app checks the student's login itself, so the gateway passes it on rather than dropping it.
    checks_login: bool = False
    # Keeps the stack reachable: the dashboard will not stop or restart it.
    essential: bool = False
    # Given the Docker socket (and only this app is): it acts on its own Compose project's containers.
    docker_access: bool = False
    # The app knows nothing of its path: the gateway strips it and puts it back on redirects.
    strip_path: bool = False
    # Set, the app's root filesystem is read-only and these paths are the only ones it writes: each an empty tmpfs of
    # that many MiB (counted in the app's memory). Unset for apps that change their image's files as they start.
    writable: dict[AbsolutePath, PositiveInt] | None = None
    # How long `docker stop` waits before killing it (OpenRefine saves its projects on the way out).
    stop_grace_s: int | None = Field(default=None, gt=0)
    # Published on the host's loopback address only with `up --expose-db`.
    expose_port: int | None = Field(default=None, ge=1, le=65535)
    # The container's port that `--expose-db` publishes, when not the app's own (a door for outside clients).
    expose_from: int | None = Field(default=None, ge=1, le=65535)
    backup: Backup | None = None
    # Where the image's software comes from, in order of preference: the build takes the first whose
    # servers answer (or the one chosen with `build --source APP=NAME`).
    sources: list[BuildSource] = []
    # Started when first opened through the gateway and stopped after this long without a request.
    on_demand: OnDemand | None = None
    # The part of the course data (images/course_data.py) its image carries and loads once.
    course_data: Literal["postgres", "mongodb", "files"] | None = None

    @property
    def fit_mib(self) -> int:
        """What the machine must have for it: its budget, or its limit when it has none."""
        return self.budget_mib or self.memory_mib

    @model_validator(mode="after")
    def _budget_within_limit(self) -> App:
        if self.budget_mib is not None and self.budget_mib > self.memory_mib:
            raise ValueError(
                f"budget_mib {self.budget_mib} is over memory_mib {self.memory_mib}: "
                "raise the limit or lower the budget"
            )
        return self

    @model_validator(mode="after")
    def _sources_named_once(self) -> App:
        names = [source.name for source in self.sources]
        if len(set(names)) != len(names):
            raise ValueError("each of an app's sources has a name of its own")
        return self

    @property
    def display_name(self) -> str:
        return self.title or self.name

    def fields(self) -> dict[str, object]:
        """What catalogue strings may refer to as {name}, {port} and {path}."""
        return {"name": self.name, "port": self.port, "path": self.path or "/"}

    def image_ref(self, version: str) -> str:
        return f"{self.image}:{version}"

    @property
    def build_dir(self) -> Path:
        return PROJECT_ROOT / self.build


class Recipe(_Strict):
    name: Name
    description: str
    apps: list[Name] = Field(min_length=1)
    entrance: Name
    default: bool = False


class Defaults(_Strict):
    host: str
    port: int = Field(ge=1, le=65535)
    data_dir: str
    # The course's datasets that builds put in the images (images/course_data.py), when no --course-data is given:
    # relative to the shelf file.
    course_data: Path | None = None


class Shelf(_Strict):
    version: str = Field(default=VERSION, pattern=r"^[0-9]+\.[0-9]+\.[0-9]+$")
    defaults: Defaults
    student_folders: list[str]
    apps: dict[str, App]
    recipes: dict[str, Recipe]

    @model_validator(mode="before")
    @classmethod
    def _names_from_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for section in ("apps", "recipes"):
                entries = data.get(section)
                if isinstance(entries, dict):
                    data[section] = {
                        key: {**value, "name": key} if isinstance(value, dict) else value
                        for key, value in entries.items()
                    }
        return data

    @cached_property
    def default_recipe(self) -> Recipe:
        return next(recipe for recipe in self.recipes.values() if recipe.default)

    def recipe(self, name: str | None) -> Recipe:
        if name is None:
            return self.default_recipe
        if name not in self.recipes:
            known = ", ".join(self.recipes)
            raise UsageProblem(f"Unknown recipe '{name}': choose one of {known}.")
        return self.recipes[name]

    def app(self, name: str) -> App:
        if name not in self.apps:
            known = ", ".join(self.apps)
            raise UsageProblem(f"Unknown app '{name}': choose one of {known}.")
        return self.apps[name]

    def chosen_apps(self, names: list[str] | None) -> list[App]:
        """The apps named (each checked), or every app when none is."""
        return [self.app(name) for name in names] if names else list(self.apps.values())

    def chosen_recipes(self, names: list[str] | None) -> list[Recipe]:
        """The recipes named (each checked), or every recipe when none is."""
        return [self.recipe(name) for name in names] if names else list(self.recipes.values())

    def apps_of(self, recipe: Recipe) -> list[App]:
        return [self.apps[name] for name in recipe.apps]

    def budget_mib(self, recipe: Recipe) -> int:
        """Every app of the recipe awake at once, each holding a normal session's memory."""
        return sum(app.fit_mib for app in self.apps_of(recipe))

    def awake_apps(self, recipe: Recipe) -> list[App]:
        """The apps `up` starts: all but those that start on demand."""
        return [app for app in self.apps_of(recipe) if not app.on_demand]

    def on_demand_apps(self, recipe: Recipe) -> list[App]:
        return [app for app in self.apps_of(recipe) if app.on_demand]

    def awake_budget_mib(self, recipe: Recipe) -> int:
        """What must be awake: the recipe less the apps that sleep until opened."""
        return sum(app.fit_mib for app in self.awake_apps(recipe))

    def peak_budget_mib(self, recipe: Recipe) -> int:
        """What must be awake and the largest app that starts on demand, woken."""
        return self.awake_budget_mib(recipe) + max((app.fit_mib for app in self.on_demand_apps(recipe)), default=0)


class ShelfError(UsageProblem):
    """The catalogue itself is wrong: names the file, the key and the fix."""

    def __init__(self, path: Path, where: str, problem: str, fix: str) -> None:
        super().__init__(f"{_display(path)}: {where}: {problem}. Fix: {fix}.")


def load_shelf(path: Path | None = None) -> Shelf:
    """The catalogue at path, else the one TM351_SHELF names, else the repository's."""
    path = path or Path(os.environ.get("TM351_SHELF") or SHELF_PATH)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ShelfError(path, "file", f"cannot be read ({error.strerror})", "restore it from the repository") from None
    data = _parse_yaml(path, text)
    if not isinstance(data, dict):
        raise ShelfError(path, "top level", "is not a mapping", "start from the repository's shelf.yaml")
    try:
        shelf = Shelf.model_validate(data)
    except ValidationError as error:
        raise _shelf_error_from(path, error) from None
    _check_references(path, shelf)
    if shelf.defaults.course_data is not None:
        located = (path.parent / shelf.defaults.course_data.expanduser()).absolute()
        shelf = shelf.model_copy(update={"defaults": shelf.defaults.model_copy(update={"course_data": located})})
    return shelf


# libyaml's parser where PyYAML was built with it (its wheels are): the same documents, several times faster.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _UniqueKeyLoader(_SafeLoader):  # type: ignore[misc, valid-type]
    """A safe loader that refuses a key written twice in one mapping (PyYAML keeps the last silently)."""


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise _DuplicateKey(key, key_node.start_mark.line + 1)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


class _DuplicateKey(Exception):
    def __init__(self, key: Any, line: int) -> None:
        self.key, self.line = key, line


def _parse_yaml(path: Path, text: str) -> Any:
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except _DuplicateKey as duplicate:
        raise ShelfError(
            path,
            f"line {duplicate.line}, key '{duplicate.key}'",
            "this name is already used in the same mapping",
            "give each app, recipe and field a name of its own",
        ) from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        raise ShelfError(path, where, f"is not valid YAML ({error.problem})", "correct the YAML syntax there") from None


def _shelf_error_from(path: Path, error: ValidationError) -> ShelfError:
    first = error.errors()[0]
    location = [part for part in first["loc"] if not str(part).startswith("function-")]
    key = _key_path(location)
    kind = first["type"]
    if kind == "missing":
        return ShelfError(path, key, "this required field is missing", f"add '{location[-1]}'")
    if kind == "extra_forbidden":
        return ShelfError(path, key, "is not a field the catalogue knows", "remove it or correct its spelling")
    message = first["msg"].removeprefix("Value error, ")
    return ShelfError(path, key, f"{message} (found {first.get('input')!r})", "correct the value")


def _key_path(location: list[Any]) -> str:
    key = ""
    for part in location:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    return key or "top level"


def _check_references(path: Path, shelf: Shelf) -> None:
    for app in shelf.apps.values():
        for field in ("needs", "connects_to"):
            for index, other in enumerate(getattr(app, field)):
                if other not in shelf.apps:
                    raise ShelfError(
                        path, f"apps.{app.name}.{field}[{index}]", f"unknown app '{other}'", _choose(shelf.apps)
                    )
        if app.token_secret and app.token_secret not in app.secrets:
            raise ShelfError(
                path,
                f"apps.{app.name}.token_secret",
                f"'{app.token_secret}' is not one of the app's secrets",
                "add it to the app's secrets",
            )
        if app.on_demand and (not app.path or app.gateway or app.essential or app.docker_access):
            raise ShelfError(
                path,
                f"apps.{app.name}.on_demand",
                "an app that starts on demand is woken by opening its path, and the stack must stay reachable",
                "give it a path (not the gateway's, the dashboard's or an essential app's), or remove on_demand",
            )
        if not app.build_dir.joinpath("Dockerfile").is_file():
            raise ShelfError(
                path, f"apps.{app.name}.build", f"no Dockerfile in '{app.build}'", "name the app's folder under images/"
            )
    for recipe in shelf.recipes.values():
        for index, name in enumerate(recipe.apps):
            if name not in shelf.apps:
                raise ShelfError(
                    path, f"recipes.{recipe.name}.apps[{index}]", f"unknown app '{name}'", _choose(shelf.apps)
                )
            if recipe.apps.index(name) != index:
                raise ShelfError(
                    path, f"recipes.{recipe.name}.apps[{index}]", f"'{name}' is listed twice", "list each app once"
                )
            for needed in shelf.apps[name].needs:
                if needed not in recipe.apps:
                    raise ShelfError(
                        path,
                        f"recipes.{recipe.name}.apps",
                        f"'{name}' needs '{needed}', which the recipe leaves out",
                        f"add '{needed}' to the recipe",
                    )
        wakers = [name for name in recipe.apps if shelf.apps[name].docker_access and shelf.apps[name].path]
        for name in recipe.apps:
            if shelf.apps[name].on_demand and not wakers:
                raise ShelfError(
                    path,
                    f"recipes.{recipe.name}.apps",
                    f"'{name}' starts on demand, and only an app with the Docker socket and a path wakes it",
                    "add the dashboard to the recipe",
                )
        if recipe.entrance not in recipe.apps:
            raise ShelfError(
                path,
                f"recipes.{recipe.name}.entrance",
                f"'{recipe.entrance}' is not one of the recipe's apps",
                "name the app whose port is published",
            )
        has_ui = any(shelf.apps[name].path for name in recipe.apps)
        if has_ui and not shelf.apps[recipe.entrance].gateway:
            raise ShelfError(
                path,
                f"recipes.{recipe.name}.entrance",
                "a recipe with a browser UI is entered through the gateway, which asks for the login",
                "add the gateway app to the recipe and make it the entrance",
            )
    defaults = [recipe.name for recipe in shelf.recipes.values() if recipe.default]
    if len(defaults) != 1:
        found = ", ".join(defaults) or "none"
        raise ShelfError(path, "recipes", f"exactly one recipe must say 'default: true' (found {found})", "mark one")


def _choose(names: dict[str, Any]) -> str:
    return "use one of " + ", ".join(names)


def _display(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)


def shelf_summary(shelf: Shelf) -> dict[str, Any]:
    """The shelf as `list --json` prints it."""
    return {
        "version": shelf.version,
        "apps": [
            {
                "name": app.name,
                "description": app.description,
                "image": app.image_ref(shelf.version),
                "memory_mib": app.memory_mib,
                "budget_mib": app.fit_mib,
                "needs": app.needs,
                "idle_minutes": app.on_demand.idle_minutes if app.on_demand else None,
            }
            for app in shelf.apps.values()
        ],
        "recipes": [
            {
                "name": recipe.name,
                "description": recipe.description,
                "apps": recipe.apps,
                "budget_mib": shelf.budget_mib(recipe),
                "awake_budget_mib": shelf.awake_budget_mib(recipe),
                "default": recipe.default,
            }
            for recipe in shelf.recipes.values()
        ],
    }
