"""Build the shelf's app images with BuildKit, through Compose v2 (the SDK's legacy builder has no `RUN --mount`)."""

from __future__ import annotations

import fcntl
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rich.markup import escape

from tm351vce.images.base import NeedsRoot, resolve_base_image
from tm351vce.images.course_data import CONTEXT_FOLDER, CourseData, read_course_data, stage_part
from tm351vce.images.trust import BUNDLE_NAME, merged_bundle, trusted_sources
from tm351vce.shelf import labels
from tm351vce.shelf.catalogue import App, BuildSource, Shelf
from tm351vce.shelf.constants import DEFAULT_BASE_IMAGE
from tm351vce.shelf.engine import compose_cli, docker_client, image_present
from tm351vce.shelf.errors import OperationFailed, UsageProblem
from tm351vce.shelf.progress import LOG_DIR, console, run_with_progress
from tm351vce.shelf.serialise import to_yaml

FETCH_ARTIFACT = Path(__file__).with_name("artifacts") / "fetch-artifact.sh"
# What several images install the same way (mongosh and its npm lock), put in every build context as shared/.
SHARED = Path(__file__).with_name("shared")
ARTIFACT_ERROR = "tm351-artifact-error: "
NO_COURSE_DATA = "none"
# A build step's line "tm351-source-unreachable: APP: WHY": the servers of APP's source did not answer.
SOURCE_UNREACHABLE = "tm351-source-unreachable: "
_STEP = re.compile(r"^#\d+ \[(?P<app>[\w-]+) +(?P<step>\d+/\d+)\] (?P<what>.*)$")


@dataclass(frozen=True)
class BuildOptions:
    base_image: str = DEFAULT_BASE_IMAGE
    bootstrap_base: bool = False
    ca_cert: Path | None = None
    no_cache: bool = False
    # Release archives or packages to build from instead of downloading them (offline classrooms).
    artifacts: Path | None = None
    # App name -> the name of the source to build it from (`--source APP=NAME`); the others fall back.
    sources: Mapping[str, str] = field(default_factory=dict)
    # The course's datasets, put in the images of the apps that load them (images/course_data.py).
    course_data: Path | None = None


HOST_IMAGE = "tm351/host"
HOST_BUILD_DIR = Path(__file__).with_name("host")
FOUNDATION_IMAGE = "tm351/foundation"
FOUNDATION_BUILD_DIR = Path(__file__).with_name("foundation")
FOUNDATION = "What every app image builds on: tini, a UTF-8 locale, the service user, the entry point library"


@dataclass(frozen=True)
class BuildTarget:
    name: str
    image: str
    folder: Path
    description: str
    # App images build FROM the foundation (build argument FOUNDATION_IMAGE); the others FROM BASE_IMAGE.
    on_foundation: bool = True
    # Where its software comes from: the first is built, the others are tried in turn when the first's
    # servers cannot be reached, unless the source was chosen.
    sources: tuple[BuildSource, ...] = ()
    source_chosen: bool = False
    # Its part of the course data (the app's `course_data`), None for an image that loads none.
    course_data_part: str | None = None

    @property
    def build_args(self) -> dict[str, str]:
        return dict(self.sources[0].build_args) if self.sources else {}

    @property
    def labelled_description(self) -> str:
        return f"{self.description}. This build: {self.sources[0].description}" if self.sources else self.description

    @property
    def title(self) -> str:
        return f"{self.name} ({self.sources[0].name})" if self.sources else self.name


def build_apps(shelf: Shelf, names: Iterable[str], options: BuildOptions) -> list[str]:
    """Build the named apps (all when none are named); returns the image references built."""
    names = list(names)
    apps = [shelf.app(name) for name in names] or list(shelf.apps.values())
    for name in options.sources:
        shelf.app(name)
    targets = [
        BuildTarget(
            app.name,
            app.image_ref(shelf.version),
            app.build_dir,
            app.description,
            sources=chosen_sources(app, options.sources.get(app.name)),
            source_chosen=app.name in options.sources,
            course_data_part=app.course_data,
        )
        for app in apps
    ]
    return _build(shelf.version, targets, options, build_command(names, options))


def chosen_sources(app: App, chosen: str | None) -> tuple[BuildSource, ...]:
    """The app's sources in the order they are tried: only the chosen one, when one is."""
    if chosen is None:
        return tuple(app.sources)
    for source in app.sources:
        if source.name == chosen:
            return (source,)
    known = ", ".join(source.name for source in app.sources)
    raise UsageProblem(
        f"--source {app.name}={chosen}: "
        + (f"choose one of {app.name}'s sources: {known}." if known else f"{app.name} is built one way only.")
    )


def foundation_image_ref(version: str) -> str:
    return f"{FOUNDATION_IMAGE}:{version}"


def host_image_ref(shelf: Shelf) -> str:
    return f"{HOST_IMAGE}:{shelf.version}"


def build_host_image(shelf: Shelf, options: BuildOptions) -> str:
    """The emulated Debian host (systemd and cloud-init in a container) that Vagrant's docker provider boots."""
    description = "A fresh Debian 12 host: systemd, cloud-init"
    target = BuildTarget("host", host_image_ref(shelf), HOST_BUILD_DIR, description, on_foundation=False)
    return _build(shelf.version, [target], options, build_command(["--host"], options))[0]


def ensure_host_image(shelf: Shelf) -> str:
    if not image_present(docker_client(), host_image_ref(shelf)):
        console.print("The emulated host image is not built yet; building it first.")
        build_host_image(shelf, BuildOptions())
    return host_image_ref(shelf)


def build_command(args: Iterable[str], options: BuildOptions) -> list[str]:
    """The `build` command line that makes the same images with the same options: the one to run as root when
    only root can make the base image (paths absolute, as sudo may start elsewhere)."""
    command = ["build", *args]
    if options.base_image != DEFAULT_BASE_IMAGE:
        command += ["--base-image", options.base_image]
    if options.bootstrap_base:
        command.append("--bootstrap-base")
    if options.ca_cert is not None:
        command += ["--ca-cert", str(options.ca_cert.absolute())]
    if options.artifacts is not None:
        command += ["--artifacts", str(options.artifacts.absolute())]
    if options.course_data is not None:
        command += ["--course-data", str(options.course_data.absolute())]
    for app, source in options.sources.items():
        command += ["--source", f"{app}={source}"]
    if options.no_cache:
        command.append("--no-cache")
    return command


@contextmanager
def one_build_at_a_time() -> Iterator[None]:
    """Builds from one cache take turns: they share the engine's tags, the build log and a base image that one of
    them may be making from Debian's archive."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    with (LOG_DIR / "build.lock").open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            console.print("Another build is running on this machine: this one starts when it has finished.")
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield  # the lock goes with the file's closing


def _build(version: str, targets: list[BuildTarget], options: BuildOptions, as_root_build: list[str]) -> list[str]:
    if options.ca_cert is not None and not options.ca_cert.is_file():
        raise UsageProblem(f"--ca-cert {options.ca_cert}: no such file; give the path of a PEM CA bundle.")
    if options.artifacts is not None and not options.artifacts.is_dir():
        raise UsageProblem(f"--artifacts {options.artifacts}: no such folder; give the folder holding the downloads.")
    course_data = read_course_data(options.course_data) if options.course_data is not None else None
    with one_build_at_a_time():
        return _build_in_turn(version, targets, options, as_root_build, course_data)


def _build_in_turn(
    version: str, targets: list[BuildTarget], options: BuildOptions, as_root_build: list[str],
    course_data: CourseData | None,
) -> list[str]:  # fmt: skip
    base_image = resolve_base_image(docker_client(), options.base_image, options.bootstrap_base, LOG_DIR, as_root_build)
    on_base = [target for target in targets if not target.on_foundation]
    on_foundation = [target for target in targets if target.on_foundation]
    build_args = {"BASE_IMAGE": base_image}
    if on_foundation:
        # Built first and every time, like the others: its cache makes that a no-op when nothing changed.
        foundation = BuildTarget("foundation", foundation_image_ref(version), FOUNDATION_BUILD_DIR, FOUNDATION, False)
        on_base.append(foundation)
        build_args["FOUNDATION_IMAGE"] = foundation.image
    with tempfile.TemporaryDirectory(prefix="tm351-build-") as workdir:
        bundle = _trust_bundle(Path(workdir), options.ca_cert)
        for stage, parent in ((on_base, base_image), (on_foundation, build_args.get("FOUNDATION_IMAGE", ""))):
            if stage:
                _build_stage(version, stage, parent, build_args, Path(workdir), bundle, options, course_data)
    return [target.image for target in targets]


def _build_stage(
    version: str,
    targets: list[BuildTarget],
    parent: str,
    build_args: dict[str, str],
    workdir: Path,
    bundle: Path,
    options: BuildOptions,
    course_data: CourseData | None = None,
) -> None:
    """One `compose build` of images that all build on the same parent image; an image whose source cannot be
    reached is built again from its next source (as a base image that cannot be pulled is made instead)."""
    contexts = {
        target.name: build_context(target.folder, workdir / target.name, options.artifacts, bundle)
        for target in targets
    }
    for target in targets:
        stage_part(course_data, target.course_data_part, contexts[target.name])
    digest = course_data.digest if course_data is not None else NO_COURSE_DATA
    while True:
        document = build_project(version, targets, build_args, contexts, digest)
        finished = run_with_progress(
            [*compose_cli(), "-f", "-", "build", "--progress", "plain", *(["--no-cache"] if options.no_cache else [])],
            f"Building {', '.join(target.title for target in targets)} on {parent}",
            LOG_DIR / "build.log",
            stdin_text=to_yaml(document),
            summarise=_build_step,
        )
        if finished.ok:
            return
        log_text = finished.log.read_text(encoding="utf-8", errors="replace")
        moved_on = fall_back(targets, _marked_lines(log_text, SOURCE_UNREACHABLE))
        if moved_on is None:
            break
        targets = moved_on
    artifact_errors = _marked_lines(log_text, ARTIFACT_ERROR)
    if artifact_errors:
        raise OperationFailed("\n".join(artifact_errors))
    raise OperationFailed(
        f"Building the images failed (exit {finished.returncode}); full log: {finished.log}",
        "\n".join(finished.tail),
    )


def fall_back(targets: list[BuildTarget], unreachable: list[str]) -> list[BuildTarget] | None:
    """The targets to build again, each whose source was reported unreachable ("APP: WHY") moved on to its next
    source, saying so in one line; None when there is none to move on (the build has failed)."""
    reasons: dict[str, str] = {}
    for line in unreachable:
        app, _, why = line.partition(": ")
        reasons.setdefault(app, why)
    moved = False
    again = []
    for target in targets:
        if target.name in reasons and not target.source_chosen and len(target.sources) > 1:
            following = target.sources[1]
            console.print(
                f"[yellow]{escape(reasons[target.name])}[/yellow]; building {target.name} from its next source "
                f"instead: {escape(following.description)} (--source {target.name}={following.name})."
            )
            target = replace(target, sources=target.sources[1:])
            moved = True
        again.append(target)
    return again if moved else None


def build_context(folder: Path, target: Path, artifacts: Path | None, ca_bundle: Path) -> Path:
    """The image's folder, plus the shared download helper and shared/ (images/shared), the CA bundle the steps
    that download mount (never copied into a layer), for images that take them the user's artifacts, and an empty
    course-data/ (stage_part fills it for the images that load course data)."""
    ignored = shutil.ignore_patterns("__pycache__", "build", "*.egg-info")
    shutil.copytree(folder, target, ignore=ignored)
    (target / CONTEXT_FOLDER).mkdir(exist_ok=True)
    shutil.copytree(SHARED, target / SHARED.name, ignore=ignored)
    shutil.copy2(FETCH_ARTIFACT, target / FETCH_ARTIFACT.name)
    shutil.copyfile(ca_bundle, target / BUNDLE_NAME)
    if artifacts is not None and (target / "artifacts").is_dir():
        for item in artifacts.iterdir():
            if item.is_file():
                shutil.copy2(item, target / "artifacts" / item.name)
    return target


def ensure_images(shelf: Shelf, apps: Iterable[App], options: BuildOptions | None = None) -> None:
    """Build whichever of these apps' images the engine does not have yet, and with course data given, those that
    load a part of it but do not carry this course data."""
    options = options or BuildOptions()
    apps = list(apps)
    client = docker_client()
    missing = [app.name for app in apps if not image_present(client, app.image_ref(shelf.version))]
    other: list[str] = []
    if options.course_data is not None:
        wanted = read_course_data(options.course_data).digest
        present = [app for app in apps if app.course_data and app.name not in missing]
        other = [app.name for app in present if course_data_of(client, app.image_ref(shelf.version)) != wanted]
    if missing:
        console.print(f"Images not built yet: {', '.join(missing)}; building them first.")
    if other:
        console.print(f"Images without this course data: {', '.join(other)}; building them with it.")
    if missing or other:
        try:
            build_apps(shelf, missing + other, options)
        except NeedsRoot as problem:
            raise NeedsRoot(f"{problem} Then run this command again.") from None


def course_data_of(client, image: str) -> str:
    """The digest of the course data an image carries (NO_COURSE_DATA for none, or an image from before)."""
    return (client.images.get(image).labels or {}).get(labels.COURSE_DATA, NO_COURSE_DATA)


def build_project(
    version: str,
    targets: list[BuildTarget],
    build_args: dict[str, str],
    contexts: dict[str, Path],
    course_data_digest: str = NO_COURSE_DATA,
) -> dict[str, Any]:
    """A Compose project whose only job is to build these images."""
    services = {
        target.name: {
            "image": target.image,
            "build": {
                "context": str(contexts[target.name]),
                "args": {**build_args, **target.build_args},
                "labels": {
                    "org.opencontainers.image.title": f"tm351-{target.name}",
                    "org.opencontainers.image.description": target.labelled_description,
                    "org.opencontainers.image.version": version,
                    labels.APP: target.name,
                    **({labels.COURSE_DATA: course_data_digest} if target.course_data_part else {}),
                },
            },
        }
        for target in targets
    }
    return {"name": "tm351-build", "services": services}


def _trust_bundle(workdir: Path, extra: Path | None) -> Path:
    bundle = workdir / BUNDLE_NAME
    bundle.write_text(merged_bundle(trusted_sources(extra), extra), encoding="utf-8")
    return bundle


def _marked_lines(log_text: str, marker: str) -> list[str]:
    """The build steps' one-line reports after marker (BuildKit repeats them in its summary: each is kept once)."""
    lines = []
    for line in log_text.splitlines():
        _, found, message = line.partition(marker)
        if found and message.strip() not in lines:
            lines.append(message.strip())
    return lines


def _build_step(line: str) -> str | None:
    match = _STEP.match(line)
    return f"{match['app']} {match['step']} {match['what']}" if match else None
