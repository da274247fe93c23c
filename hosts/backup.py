"""One-archive backups of a student's work: every database of the running stack, and their folders.

backup_archive.py has the archive's format and the checks a restore makes of one. A backup holds only regular
files and folders, never what a link points to; whatever else is in the folders (links, FIFOs, sockets,
devices) is left out and listed in its manifest, so that every backup restores. A restore changes nothing
until the archive has been read to its end and found whole; it then stages the files in a private folder
inside the student folder, restores the databases (each app's restore is atomic on its own), and only then
moves each file into place with a rename. No path it writes through may be a link.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, NoReturn

from tm351vce.compose.render import StackOptions
from tm351vce.hosts.backup_archive import (
    DATABASES,
    FILES,
    ArchiveWriter,
    CheckedArchive,
    Manifest,
    Member,
    read_checked,
    shown,
)
from tm351vce.hosts.base import StackAccess
from tm351vce.hosts.student_folder import Entry, Staging, StudentFolder
from tm351vce.shelf import labels
from tm351vce.shelf.catalogue import Backup, Shelf, VolumeKind
from tm351vce.shelf.errors import OperationFailed, UsageProblem
from tm351vce.shelf.labels import PROJECT_LABEL
from tm351vce.shelf.progress import console

NOT_BACKED_UP = {"backups"}  # backups of backups would double in size each time
RESTORING_FOLDER = ".tm351-restoring"  # in the student folder, while a restore runs


def restorable_folders(shelf: Shelf) -> list[str]:
    return [name for name in shelf.student_folders if name not in NOT_BACKED_UP]


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
    manifest = Manifest(
        created=stamp.isoformat(timespec="seconds"),
        version=shelf.version,
        recipe=next(iter(running.values()))[1] if running else None,
        images={name: shelf.apps[name].image_ref(shelf.version) for name in running},
        databases={name: f"{DATABASES}/{name}.dump" for name in running if shelf.apps[name].backup},
        folders=[name for name in restorable_folders(shelf) if _is_folder(folder_root / name)],
    )
    _write_archive(target, manifest, StudentFolder(folder_root), shelf, running, access)
    if manifest.left_out:
        console.print(
            f"Left out {len(manifest.left_out)} entries of your folders that are neither files nor folders (links,"
            " FIFOs, sockets, devices): the backup's manifest.json lists them.",
            markup=False,
            highlight=False,
        )
    return target


def restore(
    shelf: Shelf, archive_path: Path, data_dir: Path | None, confirm: Callable[[str], bool], access: StackAccess
) -> Manifest:
    checked = read_checked(archive_path, restorable_folders(shelf))
    folder = StudentFolder(StackOptions.for_host(shelf, data_dir, None).data_dir)
    if not folder.root.is_dir():
        raise UsageProblem(f"No student folder at {folder.root}: pass the one you use with --data-dir.")
    running = _running_apps(shelf, access)
    commands = _restore_commands(shelf, checked.manifest, running, access)
    replaced = _refuse_what_is_in_the_way(folder, checked)
    _ask_before_replacing(folder, replaced, checked.manifest, confirm)
    with folder.staging(RESTORING_FOLDER) as staging:
        staged = _stage(checked, staging)
        dumps = checked.dumps()
        # Each database's restore is all-or-nothing on its own; across several, those restored before one that
        # fails are put back from what they held just before.
        before = {
            name: _dump_before(name, access.docker(*_exec(running[name][0], shelf, name)), staging)
            for name in dumps
            if len(dumps) > 1
        }
        restored: list[str] = []
        for name, dump in dumps.items():
            try:
                with staging.open(staged[dump.name]) as source:
                    _restore_dump(name, commands[name], source)
            except OperationFailed as failure:
                raise _put_back(restored, before, commands, staging, failure) from None
            restored.append(name)
        _move_into_place(folder, staging, checked, staged)
    return checked.manifest


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
        raise OperationFailed(f"Dumping {name} failed: {_one_line(result.stderr)}")


def _write_archive(
    target: Path,
    manifest: Manifest,
    folder: StudentFolder,
    shelf: Shelf,
    running: dict[str, tuple[str, str]],
    access: StackAccess,
) -> None:
    """The dumps, then the folders, then the manifest with their checksums: written beside target, then renamed."""
    partial = target.with_name(target.name + ".partial")
    try:
        with _new_archive(partial, target) as sink, tarfile.open(fileobj=sink, mode="w:gz") as archive:
            writer = ArchiveWriter(archive)
            _add_dumps(writer, shelf, manifest, running, access)
            for name in restorable_folders(shelf):
                _add_student_folder(writer, folder, name, manifest.left_out)
            manifest.files = writer.files
            writer.add_manifest(manifest)
        partial.replace(target)
    except OSError as error:  # the archive's disk is full, or a file shrank while it was read
        reason = error.strerror or error
        raise OperationFailed(f"Writing the backup to {target} failed ({reason}); nothing was kept.") from None
    finally:
        partial.unlink(missing_ok=True)


def _add_dumps(
    writer: ArchiveWriter, shelf: Shelf, manifest: Manifest, running: dict[str, tuple[str, str]], access: StackAccess
) -> None:
    with tempfile.TemporaryDirectory(prefix="tm351-backup-") as workdir:
        for name, member in manifest.databases.items():
            dump = Path(workdir) / f"{name}.dump"
            _dump(name, access.docker(*_exec(running[name][0], shelf, name)), dump)
            with dump.open("rb") as source:
                status = os.fstat(source.fileno())
                writer.add_file(member, source, status.st_size, executable=False, mtime=status.st_mtime)
            dump.unlink()


def _add_student_folder(writer: ArchiveWriter, folder: StudentFolder, name: str, left_out: dict[str, str]) -> None:
    """Its folders and regular files; anything else is recorded in left_out, never followed or opened."""
    for entry in folder.walk(name):
        arcname = f"{FILES}/{entry.relative}"
        mode = entry.status.st_mode
        if stat.S_ISDIR(mode):
            writer.add_folder(arcname, entry.status.st_mtime)
        elif stat.S_ISREG(mode):
            _add_student_file(writer, folder, entry, arcname)
        else:
            left_out[str(entry.relative)] = _kind(mode)


def _add_student_file(writer: ArchiveWriter, folder: StudentFolder, entry: Entry, arcname: str) -> None:
    try:
        content = folder.open_file(entry)
        status = os.fstat(content.fileno()) if content else None
    except OSError as error:
        raise OperationFailed(
            f"Cannot read {shown(str(folder.root / entry.relative))} ({error.strerror}): make it readable, or move it"
            " out of the folder, then back up again."
        ) from None
    if content is None or status is None:
        return  # gone, or no longer a file, since its folder was listed
    with content:
        writer.add_file(arcname, content, status.st_size, bool(status.st_mode & 0o111), status.st_mtime)


def _new_archive(partial: Path, target: Path) -> BinaryIO:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    except OSError as error:
        raise UsageProblem(
            f"Cannot write the backup to {target}: {error.strerror}: choose a folder you can write with -o."
        ) from None
    return os.fdopen(descriptor, "wb")


def _is_folder(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


_KINDS = (
    (stat.S_ISREG, "file"),
    (stat.S_ISDIR, "folder"),
    (stat.S_ISLNK, "symbolic link"),
    (stat.S_ISFIFO, "FIFO"),
    (stat.S_ISSOCK, "socket"),
    (stat.S_ISCHR, "device"),
    (stat.S_ISBLK, "device"),
)


def _kind(mode: int) -> str:
    return next((kind for test, kind in _KINDS if test(mode)), "entry of an unknown type")


def _restore_commands(
    shelf: Shelf, manifest: Manifest, running: dict[str, tuple[str, str]], access: StackAccess
) -> dict[str, list[str]]:
    missing = [name for name in manifest.databases if name not in running]
    if missing:
        raise UsageProblem(
            f"The backup holds the databases of {', '.join(map(shown, missing))}, which are not running: start a"
            f" recipe with {', '.join(map(shown, missing))} (python3 tasks.py up RECIPE), then restore again."
        )
    return {name: access.docker(*_exec(running[name][0], shelf, name, restore=True)) for name in manifest.databases}


def _refuse_what_is_in_the_way(folder: StudentFolder, checked: CheckedArchive) -> int:
    """Before anything changes: no link on the way to any path the restore writes, no file or other entry where a
    folder goes, and nothing but a file where a file goes. Returns how many files the restore replaces."""
    for member in checked.student_folders():
        status = folder.status_of(member.in_student_folder)
        if status is not None and not stat.S_ISDIR(status.st_mode):
            _refuse_entry(folder, member, status, "a folder")
    replaced = 0
    for member in checked.student_files():
        status = folder.status_of(member.in_student_folder)
        if status is not None and not stat.S_ISREG(status.st_mode):
            _refuse_entry(folder, member, status, "a file")
        replaced += status is not None
    return replaced


def _refuse_entry(folder: StudentFolder, member: Member, status: os.stat_result, wanted: str) -> NoReturn:
    path = folder.root / member.in_student_folder
    folder.refuse_links([path])
    raise UsageProblem(
        f"{shown(str(path))} is a {_kind(status.st_mode)} where the backup has {wanted}: move it away, then restore"
        " again; nothing was changed."
    )


def _ask_before_replacing(
    folder: StudentFolder, replaced: int, manifest: Manifest, confirm: Callable[[str], bool]
) -> None:
    parts = [f"{replaced} files in {folder.root}"] if replaced else []
    parts += [f"the {shown(name)} databases" for name in manifest.databases]
    if parts and not confirm(f"Restoring replaces {' and '.join(parts)}. Continue?"):
        raise UsageProblem("Nothing was restored: confirm, or pass --yes.")


def _stage(checked: CheckedArchive, staging: Staging) -> dict[str, str]:
    """The student files and dumps of the archive, written into the staging folder: member -> staged file's name."""
    modes = {member.name: 0o755 if member.executable else 0o644 for member in checked.student_files()}
    modes.update({member.name: 0o600 for member in checked.dumps().values()})
    staged: dict[str, str] = {}

    def stage(member: Member, content: BinaryIO) -> None:
        if member.name in modes:
            staged[member.name] = name = str(len(staged))
            staging.write(name, content, modes[member.name], member.mtime)

    try:
        checked.read_files(stage)
    except OSError as error:
        raise OperationFailed(
            f"Cannot stage the backup's files in {staging.path} ({error.strerror or error}): free some space, then"
            " restore again; nothing was changed."
        ) from None
    return staged


def _restore_dump(name: str, command: list[str], dump: BinaryIO) -> None:
    console.print(f"Restoring the {name} databases ...")
    result = subprocess.run(command, stdin=dump, capture_output=True, check=False)
    if result.returncode != 0:
        raise OperationFailed(
            f"Restoring the {name} databases failed: {_one_line(result.stderr) or f'exit code {result.returncode}'}."
        )


def _dump_before(name: str, command: list[str], staging: Staging) -> str:
    """What the database holds now, in the staging folder, to put back if a later database's restore fails."""
    kept = f"before-{name}.dump"
    _dump(name, command, staging.path / kept)
    return kept


def _put_back(
    restored: list[str], before: dict[str, str], commands: dict[str, list[str]], staging: Staging, failure: Exception
) -> OperationFailed:
    """The failure of a restore, once the databases restored before it hold again what they held."""
    for name in restored:
        try:
            with staging.open(before[name]) as source:
                _restore_dump(name, commands[name], source)
        except OperationFailed as again:
            return OperationFailed(
                f"{failure} Putting the {name} databases back as they were failed too ({again}): they hold the"
                " backup's, every other database and file is as it was."
            )
    also = f" (the {' and '.join(restored)} databases were put back as they were)" if restored else ""
    return OperationFailed(f"{failure} No file or database was changed{also}.")


def _move_into_place(folder: StudentFolder, staging: Staging, checked: CheckedArchive, staged: dict[str, str]) -> None:
    """Each folder made and each staged file renamed into place: what gets in the way now (the folder's programs
    may still be writing it) stops it, and is never followed."""
    files = checked.student_files()
    moved = 0
    try:
        for member in checked.student_folders():
            os.close(folder.make_folder(member.in_student_folder))
        for member in files:
            folder.move_into_place(staging, staged[member.name], member.in_student_folder)
            moved += 1
    except (OSError, UsageProblem) as error:
        reason = "a link or a file appeared on the way" if isinstance(error, UsageProblem) else str(error)
        raise OperationFailed(
            f"Putting the restored files in place stopped ({reason}): {moved} of {len(files)} are in place, and the"
            " databases were restored."
        ) from None


def _one_line(output: bytes) -> str:
    return "; ".join(line.strip() for line in output.decode(errors="replace").splitlines() if line.strip())
