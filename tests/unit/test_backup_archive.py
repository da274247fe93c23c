"""Backups that cannot attack and restores that are all or nothing, without an engine: the stack's `docker` is a
small program that answers for one running postgres, whose database is a file (backup.sh prints it, restore.sh
replaces it, or fails on a dump that starts with "garbage")."""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import stat
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
import typer

from tm351vce import tasks
from tm351vce.hosts import backup as backups
from tm351vce.hosts.base import StackAccess
from tm351vce.shelf.catalogue import load_shelf
from tm351vce.shelf.errors import OperationFailed, UsageProblem

SHELF = load_shelf()

FAKE_DOCKER = """
import json, shlex, sys
from pathlib import Path

database = Path(sys.argv[1])
command = shlex.split(sys.argv[2])[1:]
if command[0] == "ps":
    print("c-postgres")
elif command[0] == "inspect":
    labels = {"org.tm351.app": "postgres", "org.tm351.recipe": "jupyter-postgres"}
    print(json.dumps([{"Id": "c-postgres", "State": {"Status": "running"}, "Config": {"Labels": labels}}]))
elif command[0] == "exec" and command[-1] == "backup.sh":
    sys.stdout.buffer.write(database.read_bytes())
elif command[0] == "exec" and command[-1] == "restore.sh":
    dump = sys.stdin.buffer.read()
    if dump.startswith(b"garbage"):
        print("pg_restore: error: input file does not appear to be a valid archive", file=sys.stderr)
        print("restore.sh: the archive could not be restored; tm351 is unchanged", file=sys.stderr)
        sys.exit(1)
    database.write_bytes(dump)
"""

DUMP = b"PGDMP the rows of the tm351 database"


@pytest.fixture
def stack(tmp_path: Path) -> StackAccess:
    program = tmp_path / "docker.py"
    program.write_text(FAKE_DOCKER)
    (tmp_path / "database").write_bytes(DUMP)
    return StackAccess(
        "tm351-test", inside=lambda line: [sys.executable, str(program), str(tmp_path / "database"), line]
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "TM351VCE"
    for name in ("notebooks", "data", "backups", ".tm351"):
        (root / name).mkdir(parents=True)
    (root / "notebooks" / "work.ipynb").write_text('{"cells": []}')
    (root / "data" / "grades.csv").write_text("code,grade\nTM351,85\n")
    (root / ".tm351" / "password").write_text("this install's own\n")
    return root


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A place outside the student folder that a planted link points to."""
    place = tmp_path / "outside"
    place.mkdir()
    (place / "bashrc").write_text("the user's own\n")
    return place


def database(tmp_path: Path) -> bytes:
    return (tmp_path / "database").read_bytes()


def snapshot(root: Path) -> dict[str, str]:
    """Every entry below root: a file's content, a link's target, or what it is."""
    found = {}
    for path in sorted(root.rglob("*")):
        name = str(path.relative_to(root))
        if path.is_symlink():
            found[name] = f"-> {os.readlink(path)}"
        elif path.is_file():
            found[name] = path.read_text()
        else:
            found[name] = "folder" if path.is_dir() else "other"
    return found


def make_backup(folder: Path, stack: StackAccess, tmp_path: Path) -> Path:
    return backups.backup(SHELF, folder, tmp_path / "backup.tar.gz", stack)


def restore(archive: Path, folder: Path, stack: StackAccess) -> backups.Manifest:
    return backups.restore(SHELF, archive, folder, lambda question: True, stack)


# What a good backup of the folder fixture holds: None is a folder.
GOOD = {
    "databases/postgres.dump": DUMP,
    "files/notebooks": None,
    "files/notebooks/work.ipynb": b'{"cells": []}',
    "files/data": None,
    "files/data/grades.csv": b"code,grade\nTM351,85\n",
}


def crafted(
    target: Path,
    version: int = 2,
    entries: dict[str, bytes | None] | None = None,
    extra: list[tarfile.TarInfo] | None = None,
    change: Callable[[dict], None] = lambda manifest: None,
) -> Path:
    """An archive as `backup` writes it in either format, holding GOOD with entries added or replaced (their
    checksums in a format 2 manifest), then the extra entries as they are; change edits the manifest."""
    contents = {**GOOD, **(entries or {})}
    manifest = {"format": "tm351-backup", "format_version": version, "created": "2025-01-31T09:00:00+00:00",
                "version": "0.1.0", "recipe": "jupyter-postgres", "images": {},
                "databases": {"postgres": "databases/postgres.dump"}, "folders": ["notebooks", "data"]}  # fmt: skip
    if version == 2:
        manifest["files"] = {name: digest(data) for name, data in contents.items() if data is not None}
    change(manifest)
    document = json.dumps(manifest).encode()
    members = [(name, data) for name, data in contents.items()]
    members = [("manifest.json", document), *members] if version == 1 else [*members, ("manifest.json", document)]
    with tarfile.open(target, "w:gz") as made:
        for name, data in members:
            made.addfile(entry(name, tarfile.DIRTYPE if data is None else tarfile.REGTYPE, len(data or b"")),
                         io.BytesIO(data) if data is not None else None)  # fmt: skip
            if name == "files/data":
                for info in extra or []:
                    made.addfile(info, io.BytesIO(b"x" * info.size) if info.isfile() else None)
    return target


def digest(data: bytes) -> dict:
    return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


def entry(name: str, kind: bytes = tarfile.REGTYPE, size: int = 0, target: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.size, info.linkname = kind, size, target
    return info


def refused(archive: Path, folder: Path, stack: StackAccess, match: str) -> str:
    with pytest.raises(UsageProblem, match=match) as problem:
        restore(archive, folder, stack)
    message = str(problem.value)
    assert "\n" not in message
    return message


def test_a_backup_holds_a_checksum_of_every_file_in_its_manifest_which_comes_last(folder, stack, tmp_path):
    archive = make_backup(folder, stack, tmp_path)
    with tarfile.open(archive) as opened:
        names = opened.getnames()
        manifest = json.load(opened.extractfile("manifest.json"))
    assert names[-1] == "manifest.json"
    assert manifest["format_version"] == 2
    assert set(manifest["files"]) == {"databases/postgres.dump", "files/notebooks/work.ipynb", "files/data/grades.csv"}
    assert manifest["files"]["databases/postgres.dump"] == {
        "sha256": hashlib.sha256(DUMP).hexdigest(),
        "size": len(DUMP),
    }
    assert not [name for name in names if ".tm351" in name or name.startswith("files/backups")]


def test_links_and_fifos_are_left_out_of_a_backup_named_in_its_manifest_and_it_restores(
    folder, stack, tmp_path, outside, capsys
):
    (folder / "notebooks" / "evil").symlink_to(outside)
    (folder / "data" / "shortcut.csv").symlink_to(outside / "bashrc")
    os.mkfifo(folder / "data" / "pipe")
    archive = make_backup(folder, stack, tmp_path)
    assert "Left out 3 entries" in capsys.readouterr().err
    with tarfile.open(archive) as opened:
        names = opened.getnames()
        manifest = json.load(opened.extractfile("manifest.json"))
    assert manifest["left_out"] == {
        "data/pipe": "FIFO",
        "data/shortcut.csv": "symbolic link",
        "notebooks/evil": "symbolic link",
    }
    assert not [name for name in names if "evil" in name or "pipe" in name or "shortcut" in name]

    (folder / "notebooks" / "work.ipynb").write_text("changed after the backup")
    restore(archive, folder, stack)
    assert (folder / "notebooks" / "work.ipynb").read_text() == '{"cells": []}'
    assert (outside / "bashrc").read_text() == "the user's own\n"


def test_backup_restore_puts_back_files_and_database_as_the_user_with_plain_modes(folder, stack, tmp_path):
    script = folder / "data" / "run.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o4777)
    os.utime(script, (1_600_000_000, 1_600_000_000))
    (folder / "notebooks" / "deep" / "er").mkdir(parents=True)
    archive = make_backup(folder, stack, tmp_path)
    for path in (script, folder / "notebooks" / "work.ipynb"):
        path.unlink()
    (folder / "notebooks" / "deep" / "er").rmdir()
    (tmp_path / "database").write_bytes(b"PGDMP changed since")

    manifest = restore(archive, folder, stack)
    assert manifest.databases == {"postgres": "databases/postgres.dump"}
    assert database(tmp_path) == DUMP
    assert (folder / "notebooks" / "work.ipynb").read_text() == '{"cells": []}'
    assert (folder / "notebooks" / "deep" / "er").is_dir()
    status = script.stat()
    assert stat.S_IMODE(status.st_mode) == 0o755
    assert stat.S_IMODE((folder / "data" / "grades.csv").stat().st_mode) == 0o644
    assert (status.st_uid, int(status.st_mtime)) == (os.getuid(), 1_600_000_000)
    assert (folder / ".tm351" / "password").read_text() == "this install's own\n"
    assert not (folder / backups.RESTORING_FOLDER).exists()


FORMATS = pytest.mark.parametrize("version", [1, 2])  # 1: no checksums, as students' older backups


@FORMATS
@pytest.mark.parametrize(
    "member", ["files/.tm351/password", "files/.ssh/authorized_keys", "files/backups/old.tar.gz", "files/.bashrc"]
)
def test_a_member_outside_the_restored_folders_is_refused_and_nothing_is_written(
    folder, stack, tmp_path, version, member
):
    archive = crafted(tmp_path / "crafted.tar.gz", version, {member: b"attack\n"})
    before = snapshot(folder)
    message = refused(archive, folder, stack, "outside the folders a restore puts back")
    assert member in message and "nothing was changed" in message
    assert snapshot(folder) == before
    assert (folder / ".tm351" / "password").read_text() == "this install's own\n"
    assert database(tmp_path) == DUMP


@FORMATS
@pytest.mark.parametrize(
    ("planted", "link_to", "member"),
    [
        ("notebooks/evil", ".", "files/notebooks/evil/bashrc"),  # a folder on the way leads out
        ("notebooks/work.ipynb", "bashrc", "files/notebooks/work.ipynb"),  # the file itself is a link
        ("data", ".", "files/data/bashrc"),  # the top folder is a link
    ],
)
def test_a_link_already_in_the_student_folder_is_never_followed(
    folder, stack, tmp_path, outside, version, planted, link_to, member
):
    archive = crafted(tmp_path / "crafted.tar.gz", version, {member: b"attack\n"})
    link = folder / planted
    if link.is_dir():
        for inside in link.iterdir():
            inside.unlink()
        link.rmdir()
    elif link.exists():
        link.unlink()
    link.symlink_to(outside / link_to)
    before, outside_before = snapshot(folder), snapshot(outside)
    message = refused(archive, folder, stack, "is a symbolic link")
    assert f"{link} is a symbolic link" in message and "nothing was changed" in message
    assert snapshot(folder) == before
    assert snapshot(outside) == outside_before
    assert database(tmp_path) == DUMP


@FORMATS
def test_a_link_where_a_restore_once_staged_its_file_is_not_written_through(folder, stack, tmp_path, outside, version):
    archive = crafted(tmp_path / "backup.tar.gz", version)
    (folder / "notebooks" / ".work.ipynb.restoring").symlink_to(outside / "bashrc")
    restore(archive, folder, stack)
    assert (outside / "bashrc").read_text() == "the user's own\n"
    assert (folder / "notebooks" / "work.ipynb").read_text() == '{"cells": []}'


@FORMATS
@pytest.mark.parametrize("kind", ["folder-where-a-file-is", "file-where-a-folder-is"])
def test_a_folder_where_the_backup_has_a_file_or_the_reverse_is_refused_before_anything_changes(
    folder, stack, tmp_path, version, kind
):
    archive = crafted(tmp_path / "backup.tar.gz", version)
    (folder / "notebooks" / "work.ipynb").unlink()
    if kind == "folder-where-a-file-is":
        (folder / "notebooks" / "work.ipynb").mkdir()
        (folder / "notebooks" / "work.ipynb" / "mine").write_text("kept")
        says = "work.ipynb is a folder where the backup has a file"
    else:
        (folder / "notebooks").rmdir()
        (folder / "notebooks").write_text("a file")
        says = "notebooks is a file where the backup has a folder"
    (folder / "data" / "grades.csv").write_text("newer")
    (tmp_path / "database").write_bytes(b"PGDMP newer")
    before = snapshot(folder)
    assert says in refused(archive, folder, stack, r"nothing was changed")
    assert snapshot(folder) == before
    assert database(tmp_path) == b"PGDMP newer"


def flip_the_gzip_crc(target: Path, version: int) -> Path:
    data = bytearray(crafted(target, version).read_bytes())
    data[-8] ^= 0xFF  # the trailer: CRC-32, then the length
    target.write_bytes(bytes(data))
    return target


def cut_off(target: Path, version: int) -> Path:
    target.write_bytes(crafted(target, version).read_bytes()[:-4])  # every member, short of the trailer's length
    return target


def wrong_checksum(target: Path, version: int) -> Path:
    def change(manifest: dict) -> None:
        manifest["files"]["files/data/grades.csv"]["sha256"] = "0" * 64

    return crafted(target, version, change=change)


def folder_where_the_manifest_has_a_file(target: Path, version: int) -> Path:
    def change(manifest: dict) -> None:
        manifest["files"]["files/data/grades.csv"] = digest(GOOD["files/data/grades.csv"])

    return crafted(target, version, {"files/data/grades.csv": None}, change=change)


def folder_where_the_dump_should_be(target: Path, version: int) -> Path:
    return crafted(target, version, {"databases/postgres.dump": None})


def twice(target: Path, version: int) -> Path:
    return crafted(target, version, extra=[entry("files/data/grades.csv", size=3)])


def special(kind: bytes, target: str = "") -> Callable[[Path, int], Path]:
    return lambda path, version: crafted(path, version, extra=[entry("files/data/x", kind, target=target)])


def dump_is_not_named(target: Path, version: int) -> Path:
    return crafted(target, version, {"databases/mongodb.dump": b"x"})


def file_inside_a_file(target: Path, version: int) -> Path:
    return crafted(target, version, {"files/data/grades.csv/inside": b"x"})


def not_in_the_manifest(target: Path, version: int) -> Path:
    return crafted(
        target, version, {"files/data/more.csv": b"x"}, change=lambda m: m["files"].pop("files/data/more.csv")
    )


def path_of(name: str) -> Callable[[Path, int], Path]:
    return lambda target, version: crafted(target, version, extra=[entry(name, size=1)])


DAMAGES = [
    (flip_the_gzip_crc, "damaged (CRC check failed"),
    (cut_off, "cut off"),
    (folder_where_the_dump_should_be, "'databases/postgres.dump' is a folder in it, where its manifest has the"),
    (twice, "holds 'files/data/grades.csv' twice"),
    (special(tarfile.SYMTYPE, "/etc/passwd"), "a symbolic link, 'files/data/x'"),
    (special(tarfile.LNKTYPE, "files/data/grades.csv"), "a hard link, 'files/data/x'"),
    (special(tarfile.FIFOTYPE), "a FIFO, 'files/data/x'"),
    (special(tarfile.CHRTYPE), "a device, 'files/data/x'"),
    (dump_is_not_named, "'databases/mongodb.dump', a dump its manifest does not name"),
    (file_inside_a_file, "inside 'files/data/grades.csv', which is a file in it"),
    (path_of("/etc/cron.d/x"), "'/etc/cron.d/x', a path that leads out"),
    (path_of("files/data/../../../escape"), "'files/data/../../../escape', a path that leads out"),
]
CHECKSUM_DAMAGES = [
    (wrong_checksum, "'files/data/grades.csv' does not match the SHA-256"),
    (folder_where_the_manifest_has_a_file, "'files/data/grades.csv' is a folder in it, where its manifest has a file"),
    (not_in_the_manifest, "'files/data/more.csv', which its manifest does not list"),
]


@pytest.mark.parametrize(
    ("version", "damage", "says"),
    [(1, *damage) for damage in DAMAGES] + [(2, *damage) for damage in DAMAGES + CHECKSUM_DAMAGES],
)
def test_a_damaged_or_unsafe_archive_is_refused_in_one_line_and_nothing_changes(
    folder, stack, tmp_path, version, damage, says
):
    archive = damage(tmp_path / "damaged.tar.gz", version)
    (folder / "data" / "grades.csv").write_text("newer")
    (tmp_path / "database").write_bytes(b"PGDMP newer")
    before = snapshot(folder)
    message = refused(archive, folder, stack, "nothing was changed")
    assert says in message
    assert snapshot(folder) == before
    assert database(tmp_path) == b"PGDMP newer"
    assert not (tmp_path / "escape").exists()


def test_a_format_1_backup_without_checksums_still_restores(folder, stack, tmp_path):
    archive = crafted(tmp_path / "format-1.tar.gz", 1, {"files/notebooks/old.ipynb": b"{}"})
    (tmp_path / "database").write_bytes(b"PGDMP newer")
    assert restore(archive, folder, stack).created == "2025-01-31T09:00:00+00:00"
    assert (folder / "notebooks" / "old.ipynb").read_text() == "{}"
    assert database(tmp_path) == DUMP


@FORMATS
def test_a_failed_database_restore_leaves_every_file_as_it_was_and_no_staging(folder, stack, tmp_path, version):
    archive = crafted(tmp_path / "garbage.tar.gz", version, {"databases/postgres.dump": b"garbage, not pg_dump's"})
    (folder / "notebooks" / "work.ipynb").write_text("newer")
    (folder / "data" / "grades.csv").unlink()
    before = snapshot(folder)
    with pytest.raises(OperationFailed, match="Restoring the postgres databases failed") as failed:
        restore(archive, folder, stack)
    message = str(failed.value)
    assert "\n" not in message and "pg_restore: error" in message and "No file or database was changed" in message
    assert snapshot(folder) == before
    assert database(tmp_path) == DUMP


def test_an_interrupted_restore_changes_no_file_and_its_leftovers_go_at_the_next(folder, stack, tmp_path, monkeypatch):
    archive = make_backup(folder, stack, tmp_path)
    (folder / "notebooks" / "work.ipynb").write_text("newer")
    before = snapshot(folder)

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patched:
        patched.setattr(backups, "_restore_dump", interrupted)
        with pytest.raises(KeyboardInterrupt):
            restore(archive, folder, stack)
    assert snapshot(folder) == before

    leftover = folder / backups.RESTORING_FOLDER
    leftover.mkdir()
    (leftover / "0").write_text("from a run that was killed")
    restore(archive, folder, stack)
    assert not leftover.exists()
    assert (folder / "notebooks" / "work.ipynb").read_text() == '{"cells": []}'


@FORMATS
def test_a_name_from_an_archive_is_shown_as_text_on_one_line(folder, stack, tmp_path, capsys, version):
    archive = crafted(tmp_path / "crafted.tar.gz", version, {"files/[/red]\n.hidden/x": b"x"})

    @tasks.reported
    def restoring() -> None:
        restore(archive, folder, stack)

    with pytest.raises(typer.Exit) as ended:
        restoring()
    assert ended.value.exit_code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert "files/[/red]\\n.hidden/x" in lines[0] and "nothing was changed" in lines[0]


def test_a_full_disk_while_staging_is_one_line_and_changes_nothing(folder, stack, tmp_path, monkeypatch):
    archive = crafted(tmp_path / "backup.tar.gz")
    (folder / "notebooks" / "work.ipynb").write_text("newer")
    (tmp_path / "database").write_bytes(b"PGDMP newer")
    before = snapshot(folder)

    def full(descriptor: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OperationFailed, match=r"Cannot stage .*No space left on device.*nothing was changed"):
        restore(archive, folder, stack)
    assert snapshot(folder) == before
    assert database(tmp_path) == b"PGDMP newer"


@pytest.mark.parametrize("mtime", ["inf", "1e300", "-5"])
def test_a_file_time_no_file_system_takes_restores_as_a_time_it_does(folder, stack, tmp_path, mtime):
    info = entry("files/notebooks/when.txt", size=1)
    info.pax_headers = {"mtime": mtime}
    archive = crafted(tmp_path / "crafted.tar.gz", 1, extra=[])
    with tarfile.open(archive) as source:
        members = [(member, source.extractfile(member).read() if member.isfile() else None) for member in source]
    with tarfile.open(archive, "w:gz", format=tarfile.PAX_FORMAT) as made:
        for member, data in [*members, (info, b"x")]:
            made.addfile(member, io.BytesIO(data) if data is not None else None)
    restore(archive, folder, stack)
    assert (folder / "notebooks" / "when.txt").read_text() == "x"


def test_a_file_that_grows_while_it_is_backed_up_is_kept_as_measured_and_the_backup_restores(
    folder, stack, tmp_path, monkeypatch
):
    measure = os.fstat

    def measured_before_it_grew(descriptor: int) -> os.stat_result:
        status = measure(descriptor)
        if stat.S_ISREG(status.st_mode) and status.st_size == len("code,grade\nTM351,85\n"):
            return os.stat_result((status.st_mode, *status[1:6], 5, *status[7:]))
        return status

    monkeypatch.setattr(os, "fstat", measured_before_it_grew)
    archive = make_backup(folder, stack, tmp_path)
    monkeypatch.undo()
    (folder / "data" / "grades.csv").unlink()
    restore(archive, folder, stack)
    assert (folder / "data" / "grades.csv").read_text() == "code,"


# Two databases, each a file: restore.sh of either fails on a dump that starts with "garbage".
FAKE_TWO_DATABASES = """
import json, shlex, sys
from pathlib import Path
folder = Path(sys.argv[1])
command = shlex.split(sys.argv[2])[1:]
apps = ["postgres", "mongodb"]
if command[0] == "ps":
    print("\\n".join(f"c-{app}" for app in apps))
elif command[0] == "inspect":
    print(json.dumps([{"Id": f"c-{app}", "State": {"Status": "running"},
                       "Config": {"Labels": {"org.tm351.app": app, "org.tm351.recipe": "tm351"}}} for app in apps]))
elif command[0] == "exec":
    database = folder / command[-2].removeprefix("c-")
    if command[-1] == "backup.sh":
        sys.stdout.buffer.write(database.read_bytes())
    else:
        dump = sys.stdin.buffer.read()
        if dump.startswith(b"garbage"):
            print(f"restore.sh: {database.name} refused the archive; it is unchanged", file=sys.stderr)
            sys.exit(1)
        database.write_bytes(dump)
"""


def test_when_the_second_database_fails_the_first_is_put_back_and_nothing_changes(folder, tmp_path):
    program = tmp_path / "two.py"
    program.write_text(FAKE_TWO_DATABASES)
    databases = tmp_path / "databases"
    databases.mkdir()
    (databases / "postgres").write_bytes(b"PGDMP the rows before")
    (databases / "mongodb").write_bytes(b"EJSON the documents before")
    stack = StackAccess("tm351-test", inside=lambda line: [sys.executable, str(program), str(databases), line])
    contents = {"databases/mongodb.dump": b"garbage", "databases/postgres.dump": b"PGDMP the backup's rows"}

    def both(manifest: dict) -> None:
        manifest["databases"] = {"postgres": "databases/postgres.dump", "mongodb": "databases/mongodb.dump"}

    archive = crafted(tmp_path / "two.tar.gz", entries=contents, change=both)
    files = snapshot(folder)
    with pytest.raises(OperationFailed) as failure:
        restore(archive, folder, stack)
    message = str(failure.value)
    assert "Restoring the mongodb databases failed" in message and "the postgres databases were put back" in message
    assert (databases / "postgres").read_bytes() == b"PGDMP the rows before"  # restored first, then put back
    assert (databases / "mongodb").read_bytes() == b"EJSON the documents before"
    assert snapshot(folder) == files
