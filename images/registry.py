"""Push the shelf's images to a registry and remember their digests, so hosts pull exactly what was built."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path

from tm351vce.images.course_data import read_course_data
from tm351vce.shelf.catalogue import App, Shelf
from tm351vce.shelf.engine import docker_client, image_present
from tm351vce.shelf.errors import OperationFailed, UsageProblem
from tm351vce.shelf.progress import LOG_DIR, run_with_progress

# HOST[:PORT] and an optional /NAMESPACE, as Docker spells references (lower case, no scheme).
_REGISTRY = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9]+([._-][a-z0-9]+)*)*$")


def default_lock() -> Path:
    """Where `push` records digests: the cache folder, as the environment names it now."""
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "tm351" / "images.lock.json"


def check_registry(registry: str) -> str:
    registry = registry.strip().rstrip("/")
    if not _REGISTRY.match(registry):
        raise UsageProblem(
            f"--registry {registry!r} is not a registry name: give HOST[:PORT]/NAMESPACE in lower case and without "
            "a scheme, e.g. 127.0.0.1:5000/ou or ghcr.io/ou-tm351."
        )
    return registry


def pushed_name(registry: str, app: App, version: str) -> str:
    return f"{registry}/{app.image}:{version}"


def push_images(shelf: Shelf, apps: Iterable[App], registry: str, lock: Path | None = None) -> dict[str, str]:
    """Tag and push each app's image; returns and records {pushed name: name@digest}."""
    lock = lock or default_lock()
    registry = check_registry(registry)
    client = docker_client()
    apps = list(apps)
    missing = [app.name for app in apps if not image_present(client, app.image_ref(shelf.version))]
    if missing:
        raise UsageProblem(
            f"Not built yet: {', '.join(missing)}; build them first with `python3 tasks.py build {' '.join(missing)}`."
        )
    docker_cli = shutil.which("docker")
    if docker_cli is None:
        raise UsageProblem("The docker command is not installed: install the Docker CLI to push images.")
    pinned: dict[str, str] = {}
    for app in apps:
        name = pushed_name(registry, app, shelf.version)
        client.images.get(app.image_ref(shelf.version)).tag(name)
        finished = run_with_progress([docker_cli, "push", name], f"Pushing {name}", LOG_DIR / "push.log")
        if not finished.ok:
            raise OperationFailed(
                f"Pushing {name} failed: {finished.tail[-1] if finished.tail else 'no output'}; check that the "
                f"registry answers and accepts pushes (full log: {finished.log}).",
            )
        pinned[name] = _digest_reference(client.images.get(name).attrs.get("RepoDigests", []), name)
    _record(lock, pinned)
    return pinned


def pinned_images(shelf: Shelf, apps: Iterable[App], registry: str, lock: Path | None = None) -> dict[str, str]:
    """{app: name@digest} for apps pushed to this registry; a missing one is a usage problem naming the fix."""
    lock = lock or default_lock()
    registry = check_registry(registry)
    known = _read(lock)
    images = {}
    for app in apps:
        name = pushed_name(registry, app, shelf.version)
        if name not in known:
            raise UsageProblem(
                f"No digest recorded for {name} in {lock}: push it first with "
                f"`python3 tasks.py push {app.name} --registry {registry}`."
            )
        images[app.name] = known[name]
    return images


def check_course_data_pushed(shelf: Shelf, apps: Iterable[App], registry: str, course_data: Path) -> None:
    """What is baked from the registry carries this course data: each image that loads a part of it was pushed
    from a local image built with it. Otherwise a usage problem naming the commands that make it so."""
    from tm351vce.images.build import course_data_of  # the build, only where it is needed

    digest = read_course_data(course_data).digest
    loading = [app for app in apps if app.course_data]
    pinned = pinned_images(shelf, loading, registry)
    client = docker_client()
    for app in loading:
        reference = app.image_ref(shelf.version)
        pushed = pinned[app.name].rpartition("@")[2]
        built_with_it = image_present(client, reference) and course_data_of(client, reference) == digest
        # The local image is the one pushed: the registry's digest is among its own.
        was_pushed = built_with_it and any(
            entry.endswith(f"@{pushed}") for entry in client.images.get(reference).attrs.get("RepoDigests") or []
        )
        if not was_pushed:
            raise UsageProblem(
                f"The {app.name} image pushed to {registry} was not built with the course data in {course_data}: "
                f"run `python3 tasks.py build --course-data {course_data}`, then `python3 tasks.py push --registry "
                f"{registry}`, then bake again."
            )


def _digest_reference(repo_digests: list[str], name: str) -> str:
    repository = name.rsplit(":", 1)[0]
    for entry in repo_digests:
        found_repository, _, digest = entry.partition("@")
        if found_repository == repository:
            return f"{name}@{digest}"
    raise OperationFailed(f"The registry gave no digest for {name}; push it again with `python3 tasks.py push`.")


def _read(lock: Path) -> dict[str, str]:
    try:
        return json.loads(lock.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise UsageProblem(f"{lock} is not the JSON `push` writes: delete it and push again.") from None


def _record(lock: Path, pinned: dict[str, str]) -> None:
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text(json.dumps(_read(lock) | pinned, indent=2, sort_keys=True) + "\n", encoding="utf-8")
