"""One-archive backups of a student's work: every database of the running stack, and their folders.

The archive (tar.gz) holds manifest.json first, then databases/APP.dump (what the app's own dump
command wrote) and files/FOLDER/... (the student's folders). Secrets are never in it: a restore into
another install keeps that install's passwords.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from tm351vce.compose.render import StackOptions
from tm351vce.hosts.base import StackAccess
from tm351vce.hosts.student_folder import StudentFolder
from tm351vce.shelf import labels
from tm351vce.shelf.catalogue import Backup, Shelf, VolumeKind
from tm351vce.shelf.errors import OperationFailed, UsageProblem
from tm351vce.shelf.labels import PROJECT_LABEL
from tm351vce.shelf.progress import console

FORMAT = "tm351-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
NOT_BACKED_UP = {"backups"}  # backups of backups would double in size each time


@dataclass
class Manifest:
    created: str
    version: str
    recipe: str | None
    images: dict[str, str] = field(default_factory=dict)
    databases: dict[str, str] = field(default_factory=dict)
    folders: list[str] = field(default_factory=list)

    def as_json(self) -> bytes:
        document = {"format": FORMAT, "format_version": FORMAT_VERSION, **self.__dict__}
        return json.dumps(document, indent=2).encode()


def backup(shelf: Shelf, data_dir: Path | None, output: Path | None, access: StackAccess) -> Path:
    folder_root = StackOptions.for_host(shelf, data_dir, None).data_dir
    if not folder_root.is_dir():
        raise UsageProblem(f"No student folder at {folder_root}: pass the one you use with --data-dir.")
    running = _running_apps(shelf, access)
    _refuse_if_databases_are_stopped(shelf, running, access)
    stamp = datetime.now(UTC)
    if output is None:
        StudentFolder.refuse_links([folder_root / "backups"])
    target = output or folder_root / "backups" / f"tm351-backup-{stamp:%Y%m%d-%H%M%S}.tar.gz"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.with_name(target.name + ".partial").touch()
    except OSError as error:
        raise UsageProblem(
            f"Cannot write the backup to {target}: {error.strerror}: choose a folder you can write with -o."
        ) from None
    folders = [name for name in shelf.student_folders if name not in NOT_BACKED_UP and (folder_root / name).is_dir()]
    manifest = Manifest(
        created=stamp.isoformat(timespec="seconds"),
        version=shelf.version,
        recipe=next(iter(running.values()))[1] if running else None,
        images={name: shelf.apps[name].image_ref(shelf.version) for name in running},
        databases={name: f"databases/{name}.dump" for name in running if shelf.apps[name].backup},
        folders=folders,
    )
    partial = target.with_name(target.name + ".partial")
    try:
        with tempfile.TemporaryDirectory(prefix="tm351-backup-") as workdir, tarfile.open(partial, "w:gz") as archive:
            _add_bytes(archive, MANIFEST, manifest.as_json())
            for name, member in manifest.databases.items():
                dump = Path(workdir) / f"{name}.dump"
                _dump(name, access.docker(*_exec(running[name][0], shelf, name)), dump)
                archive.add(dump, arcname=member)
            for name in folders:
                archive.add(folder_root / name, arcname=f"files/{name}")
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def restore(
    shelf: Shelf, archive_path: Path, data_dir: Path | None, confirm: Callable[[str], bool], access: StackAccess
) -> Manifest:
    manifest, members = read_checked(archive_path)
    folder_root = StackOptions.for_host(shelf, data_dir, None).data_dir
    running = _running_apps(shelf, access)
    missing = [name for name in manifest.databases if name not in running]
    if missing:
        raise UsageProblem(
            f"The backup holds the databases of {', '.join(missing)}, which are not running: start a recipe with "
            f"{', '.join(missing)} (python3 tasks.py up RECIPE), then restore again."
        )
    overwritten = [name for name in members if name.startswith("files/") and (folder_root / name[6:]).is_file()]
    if overwritten or manifest.databases:
        parts = [f"{len(overwritten)} files in {folder_root}"] if overwritten else []
        parts += [f"the {name} databases" for name in manifest.databases]
        if not confirm(f"Restoring replaces {' and '.join(parts)}. Continue?"):
            raise UsageProblem("Nothing was restored: confirm, or pass --yes.")
    with tarfile.open(archive_path, "r:gz") as archive:
        for member in archive.getmembers():
            if member.name.startswith("files/") and member.isfile():
                _extract_file(archive, member, folder_root / member.name[len("files/") :])
        for name, member_name in manifest.databases.items():
            with tempfile.TemporaryDirectory(prefix="tm351-restore-") as workdir:
                dump = Path(workdir) / "dump"
                source = archive.extractfile(member_name)
                if source is None:
                    raise OperationFailed(f"{archive_path}: {member_name} is not a file.")
                with dump.open("wb") as sink:
                    while chunk := source.read(1 << 20):
                        sink.write(chunk)
                container = running[name][0]
                _restore_dump(name, access.docker(*_exec(container, shelf, name, restore=True)), dump)
    return manifest


def read_checked(archive_path: Path) -> tuple[Manifest, list[str]]:
    """Read the whole archive before anything is changed: refuse a corrupt, foreign or unsafe one."""
    refuse = f"{archive_path} is not a TM351 backup"
    try:
        with tarfile.open(archive_path, "r:gz") as archive:
            members = archive.getmembers()  # reads to the end: a truncated or corrupt file fails here
            names = [member.name for member in members]
            manifest_member = archive.extractfile(MANIFEST) if MANIFEST in names else None
            document = json.loads(manifest_member.read()) if manifest_member else None
    except FileNotFoundError:
        raise UsageProblem(f"No backup at {archive_path}: give the path of a .tar.gz made by `backup`.") from None
    except (tarfile.TarError, EOFError, OSError, zlib.error, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UsageProblem(f"{refuse} or is damaged ({error}); nothing was changed.") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise UsageProblem(f"{refuse} (no {FORMAT} manifest); nothing was changed.")
    if document.get("format_version") != FORMAT_VERSION:
        raise UsageProblem(
            f"{archive_path} is a backup of format {document.get('format_version')}, which this version cannot "
            f"restore (it reads format {FORMAT_VERSION}); nothing was changed."
        )
    for member in members:
        path = PurePosixPath(member.name)
        top = path.parts[0] if path.parts else ""
        unsafe = path.is_absolute() or ".." in path.parts or not (member.isfile() or member.isdir())
        if unsafe or top not in ("files", "databases", MANIFEST):
            raise UsageProblem(f"{refuse}: it holds an unexpected entry '{member.name}'; nothing was changed.")
    try:
        manifest = Manifest(**{key: value for key, value in document.items() if key in Manifest.__dataclass_fields__})
    except TypeError as error:
        raise UsageProblem(f"{refuse}: its manifest is incomplete ({error}); nothing was changed.") from None
    absent = [member for member in manifest.databases.values() if member not in names]
    if absent:
        raise UsageProblem(f"{refuse}: {', '.join(absent)} is missing; nothing was changed.")
    return manifest, names


def _backup_commands(shelf: Shelf, name: str) -> Backup:
    commands = shelf.apps[name].backup
    if commands is None:
        raise UsageProblem(f"The app {name} has no backup commands in the catalogue: it cannot hold a database dump.")
    return commands


def _running_apps(shelf: Shelf, access: StackAccess) -> dict[str, tuple[str, str]]:
    """Running apps of the stack: name -> (container id, recipe)."""
    ids = access.run("ps", "-q", "--filter", f"label={PROJECT_LABEL}={access.project}").split()
    running = {}
    for container in json.loads(access.run("inspect", *ids)) if ids else []:
        container_labels = container["Config"].get("Labels") or {}
        app = container_labels.get(labels.APP, "")
        if container["State"]["Status"] == "running" and app in shelf.apps:
            running[app] = (container["Id"], container_labels.get(labels.RECIPE, ""))
    return running


def _refuse_if_databases_are_stopped(shelf: Shelf, running: dict[str, tuple[str, str]], access: StackAccess) -> None:
    project = access.project
    volumes = set(access.run("volume", "ls", "-q", "--filter", f"label={PROJECT_LABEL}={project}").split())
    for app in shelf.apps.values():
        holds_data = any(
            f"{project}_{volume.source}" in volumes for volume in app.volumes if volume.kind is VolumeKind.DATABASE
        )
        if app.backup and holds_data and app.name not in running:
            raise UsageProblem(
                f"The {app.name} database is not running, so it cannot be dumped: start the stack "
                "(python3 tasks.py up RECIPE), then back up again."
            )


def _exec(container: str, shelf: Shelf, name: str, restore: bool = False) -> list[str]:
    commands = _backup_commands(shelf, name)
    return ["exec", "-i", "-u", commands.user, container, *(commands.restore if restore else commands.dump)]


def _dump(name: str, command: list[str], target: Path) -> None:
    console.print(f"Dumping the {name} databases ...")
    with target.open("wb") as sink:
        result = subprocess.run(command, stdout=sink, stderr=subprocess.PIPE, check=False)
    if result.returncode != 0:
        raise OperationFailed(f"Dumping {name} failed: {result.stderr.decode(errors='replace').strip()}")


def _restore_dump(name: str, command: list[str], dump: Path) -> None:
    console.print(f"Restoring the {name} databases ...")
    with dump.open("rb") as source:
        result = subprocess.run(command, stdin=source, capture_output=True, check=False)
    if result.returncode != 0:
        raise OperationFailed(f"Restoring {name} failed: {result.stderr.decode(errors='replace').strip()}")


def _extract_file(archive: tarfile.TarFile, member: tarfile.TarInfo, target: Path) -> None:
    """Write one file as the invoking user (never with the archive's owners or modes beyond rw)."""
    source = archive.extractfile(member)
    if source is None:
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.restoring")
    with partial.open("wb") as sink:
        while chunk := source.read(1 << 20):
            sink.write(chunk)
    os.chmod(partial, 0o644 if not member.mode & 0o111 else 0o755)
    os.utime(partial, (member.mtime, member.mtime))
    partial.replace(target)


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(datetime.now(UTC).timestamp())
    info.mode = 0o644
    archive.addfile(info, io.BytesIO(data))
