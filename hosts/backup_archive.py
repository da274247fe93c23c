"""The backup archive: what `backup` writes, and the checks `restore` makes of one before it changes anything.

A tar.gz of databases/APP.dump (what each app's dump command wrote), files/FOLDER/... (the student's folders:
regular files and folders only) and manifest.json. Since format 2 the manifest comes last, because it holds the
SHA-256 and size of every other file, known only once that file is in. Format 1 (the manifest first, no
checksums) is still read: students keep such backups. Secrets are never in it: a restore into another install
keeps that install's passwords.

An archive is read twice. First to its very end (the gzip trailer's CRC and length included), keeping no data:
it is refused whole, before anything is changed, if it is damaged, foreign, unsafe or does not match its
manifest. Then again to restore it, each file checked against what the first reading found.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import math
import tarfile
import zlib
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import BinaryIO, NoReturn

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tm351vce.shelf.errors import OperationFailed, UsageProblem

FORMAT = "tm351-backup"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, FORMAT_VERSION)
MANIFEST = "manifest.json"
FILES = "files"
DATABASES = "databases"
_READ_BYTES = 1 << 20
_LATEST_MTIME = 1 << 33  # in the year 2242
_MANIFEST_BYTES = 64 << 20  # the manifest of a million files; a larger one was not written by `backup`
_DAMAGED = (tarfile.TarError, EOFError, zlib.error, OSError)  # gzip.BadGzipFile is an OSError


class _Unreadable(Exception):
    """The archive could not be read on (it is damaged): kept apart from what fails where its content goes."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.cut_off = isinstance(error, EOFError) or "unexpected end of data" in str(error)


class Digest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)


class Manifest(BaseModel):
    created: str
    version: str
    recipe: str | None
    images: dict[str, str] = Field(default_factory=dict)
    databases: dict[str, str] = Field(default_factory=dict)  # app -> its dump's member
    folders: list[str] = Field(default_factory=list)
    files: dict[str, Digest] = Field(default_factory=dict)  # every other file of the archive (format 2)
    left_out: dict[str, str] = Field(default_factory=dict)  # path in the student folder -> what it is

    def as_json(self) -> bytes:
        document = {"format": FORMAT, "format_version": FORMAT_VERSION, **self.model_dump(mode="json")}
        return json.dumps(document, indent=2).encode()


class _Hashing:
    """A reader that takes the SHA-256 and size of whatever is read through it."""

    def __init__(self, source: BinaryIO) -> None:
        self._source = source
        self._sha256 = hashlib.sha256()
        self._size = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._source.read(size)
        self._sha256.update(chunk)
        self._size += len(chunk)
        return chunk

    def digest(self) -> Digest:
        """Of what was read so far."""
        return Digest(sha256=self._sha256.hexdigest(), size=self._size)

    def read_to_end(self) -> Digest:
        while self.read(_READ_BYTES):
            pass
        return self.digest()


class ArchiveWriter:
    """A backup being written: each file's checksum is that of the very bytes that went into the archive."""

    def __init__(self, archive: tarfile.TarFile) -> None:
        self._archive = archive
        self.files: dict[str, Digest] = {}

    def add_folder(self, name: str, mtime: float) -> None:
        info = tarfile.TarInfo(name)
        info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, int(mtime)
        self._archive.addfile(info)

    def add_file(self, name: str, source: BinaryIO, size: int, executable: bool, mtime: float) -> None:
        """The first `size` bytes of source: what a file that grew since it was measured has beyond them is left
        out, and its checksum too (tarfile fails if there are fewer: the file shrank meanwhile)."""
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = size, 0o755 if executable else 0o644, int(mtime)
        reader = _Hashing(source)
        self._archive.addfile(info, reader)  # read() is all tarfile asks of it
        self.files[name] = reader.digest()

    def add_manifest(self, manifest: Manifest) -> None:
        data = manifest.as_json()
        info = tarfile.TarInfo(MANIFEST)
        info.size, info.mode, info.mtime = len(data), 0o644, int(datetime.now(UTC).timestamp())
        self._archive.addfile(info, io.BytesIO(data))


@dataclass(frozen=True)
class Member:
    name: str  # normalised: no "." parts, no trailing slash
    is_file: bool
    digest: Digest | None  # of a file: what the first reading found
    mode: int
    mtime: int

    @property
    def executable(self) -> bool:
        return bool(self.mode & 0o111)

    @property
    def in_student_folder(self) -> PurePosixPath:
        return PurePosixPath(self.name).relative_to(FILES)


@dataclass(frozen=True)
class CheckedArchive:
    """An archive read to its end and found whole, matching its manifest, and holding nothing a restore refuses."""

    path: Path
    manifest: Manifest
    members: dict[str, Member]

    def student_files(self) -> list[Member]:
        return [member for member in self._student_members() if member.is_file]

    def student_folders(self) -> list[Member]:
        return [member for member in self._student_members() if not member.is_file]

    def dumps(self) -> dict[str, Member]:
        return {app: self.members[name] for app, name in self.manifest.databases.items()}

    def read_files(self, handle: Callable[[Member, BinaryIO], None]) -> None:
        """Read the archive again, handing each file's content to handle (what handle raises goes to the caller):
        content that differs from what the first reading found (the archive was changed meanwhile) stops it."""
        try:
            with _stream(self.path) as stream:
                for info in stream.members():
                    member = self.members.get(_normalised(info.name))
                    if member is None or member.is_file != info.isfile():
                        self._changed(f"'{shown(info.name)}' was not in it")
                    if member.is_file:
                        content = stream.content(info)
                        handle(member, content)
                        if content.read_to_end() != member.digest:
                            self._changed(f"'{shown(member.name)}' differs from what was checked")
                stream.read_to_end()
        except (_Unreadable, FileNotFoundError) as error:
            self._changed(str(error))

    def _student_members(self) -> Iterator[Member]:
        return (member for name, member in self.members.items() if name.startswith(f"{FILES}/"))

    def _changed(self, reason: str) -> NoReturn:
        raise OperationFailed(
            f"{self.path} changed while it was being restored ({reason}): restore it again once nothing writes it;"
            " no file was changed."
        )


def read_checked(archive_path: Path, restorable: Collection[str]) -> CheckedArchive:
    """Read the whole archive before anything is changed, and refuse a damaged, foreign or unsafe one.

    restorable: the student folders a restore may write into (files/NAME/...)."""

    def refuse(problem: str) -> NoReturn:
        raise UsageProblem(f"{archive_path} cannot be restored: {problem}; nothing was changed.")

    entries, manifest_data = _read_through(archive_path, refuse)
    document = _manifest_document(archive_path, manifest_data)
    members = _checked_members(entries, restorable, refuse)
    try:
        manifest = Manifest.model_validate(document)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        refuse(f"its manifest is not one `backup` writes ({where}: {first['msg']})")
    _check_databases(manifest, members, refuse)
    if document["format_version"] > 1:  # format 1 has no checksums
        _check_digests(manifest, members, refuse)
    return CheckedArchive(archive_path, manifest, members)


def shown(name: str) -> str:
    """A name as one line can show it: a newline or other control character in it is escaped."""
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in name)


class _Stream:
    """An archive read once from start to end; every failure to read it is an _Unreadable, kept apart from the
    failures of whatever its content is handed to."""

    def __init__(self, compressed: gzip.GzipFile, archive: tarfile.TarFile) -> None:
        self._compressed = compressed
        self._archive = archive

    def members(self) -> Iterator[tarfile.TarInfo]:
        entries = iter(self._archive)
        while True:
            try:
                info = next(entries)
            except StopIteration:
                return
            except _DAMAGED as error:
                raise _Unreadable(error) from error
            yield info

    def content(self, info: tarfile.TarInfo) -> _Hashing:
        return _Hashing(_Content(self._archive, info))

    def read_to_end(self) -> None:
        """The rest of the gzip stream: gzip checks its CRC and length only at the end, which tar never reaches."""
        try:
            while self._compressed.read(_READ_BYTES):
                pass
        except _DAMAGED as error:
            raise _Unreadable(error) from error


@contextmanager
def _stream(path: Path) -> Iterator[_Stream]:
    with path.open("rb") as raw, gzip.GzipFile(fileobj=raw) as compressed:
        try:
            archive = tarfile.open(fileobj=compressed, mode="r|")  # noqa: SIM115 - closed by the with below
        except _DAMAGED as error:
            raise _Unreadable(error) from error
        with archive:
            yield _Stream(compressed, archive)


class _Content:
    """A member's content as read from the archive."""

    def __init__(self, archive: tarfile.TarFile, info: tarfile.TarInfo) -> None:
        source = archive.extractfile(info)
        if source is None:
            raise _Unreadable(tarfile.ReadError(f"{info.name} has no content"))
        self._source = source

    def read(self, size: int = -1) -> bytes:
        try:
            return self._source.read(size)
        except _DAMAGED as error:
            raise _Unreadable(error) from error


def _read_through(
    archive_path: Path, refuse: Callable[[str], NoReturn]
) -> tuple[list[tuple[tarfile.TarInfo, Digest | None]], bytes | None]:
    """Every member's header and digest, and the manifest's bytes, read to the end of the gzip stream."""
    entries: list[tuple[tarfile.TarInfo, Digest | None]] = []
    manifest_data = None
    try:
        with _stream(archive_path) as stream:
            for info in stream.members():
                digest = None
                if info.isfile():
                    content = stream.content(info)
                    if manifest_data is None and _normalised(info.name) == MANIFEST:
                        manifest_data = content.read(_MANIFEST_BYTES + 1)
                    digest = content.read_to_end()
                entries.append((info, digest))
            stream.read_to_end()
    except FileNotFoundError:
        raise UsageProblem(f"No backup at {archive_path}: give the path of a .tar.gz made by `backup`.") from None
    except OSError as error:
        raise UsageProblem(f"Cannot read {archive_path} ({error.strerror}): give a backup file you can read.") from None
    except _Unreadable as unreadable:
        refuse(f"it is {'cut off' if unreadable.cut_off else 'damaged'} ({unreadable})")
    return entries, manifest_data


def _manifest_document(archive_path: Path, data: bytes | None) -> dict:
    foreign = f"{archive_path} is not a TM351 backup"
    try:
        document = json.loads(data) if data is not None and len(data) <= _MANIFEST_BYTES else None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UsageProblem(f"{foreign}: its manifest is not JSON ({error}); nothing was changed.") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise UsageProblem(f"{foreign} (no {FORMAT} manifest); nothing was changed.")
    version = document.get("format_version")
    if isinstance(version, bool) or version not in READABLE_VERSIONS:
        raise UsageProblem(
            f"{archive_path} is a backup of format {shown(str(version))}, which this version cannot restore (it reads"
            f" formats {' and '.join(map(str, READABLE_VERSIONS))}); nothing was changed."
        )
    return document


def _mtime(info: tarfile.TarInfo) -> int:
    """The member's time, within what a file system takes (a pax header may say any number, or inf)."""
    return min(max(int(info.mtime), 0), _LATEST_MTIME) if math.isfinite(info.mtime) else 0


def _normalised(name: str) -> str:
    return str(PurePosixPath(name))


def _kind(info: tarfile.TarInfo) -> str:
    if info.issym():
        return "a symbolic link"
    if info.islnk():
        return "a hard link"
    if info.isdev():
        return "a FIFO" if info.isfifo() else "a device"
    return "an entry of an unknown type"


def _checked_members(
    entries: list[tuple[tarfile.TarInfo, Digest | None]], restorable: Collection[str], refuse: Callable[[str], NoReturn]
) -> dict[str, Member]:
    members: dict[str, Member] = {}
    for info, digest in entries:
        path = PurePosixPath(info.name)
        name = str(path)
        if path.is_absolute() or ".." in path.parts or name == ".":
            refuse(f"it holds '{shown(info.name)}', a path that leads out of the folder it is restored into")
        if not (info.isfile() or info.isdir()):
            refuse(f"it holds {_kind(info)}, '{shown(name)}', where a backup holds only files and folders")
        if name in members:
            refuse(f"it holds '{shown(name)}' twice")
        _check_place(path, info.isdir(), restorable, refuse)
        members[name] = Member(name, info.isfile(), digest, info.mode, _mtime(info))
    for name in members:
        for parent in PurePosixPath(name).parents:
            holder = members.get(str(parent))
            if holder is not None and holder.is_file:
                refuse(f"it holds '{shown(name)}' inside '{shown(str(parent))}', which is a file in it, not a folder")
    return members


def _check_place(
    path: PurePosixPath, is_folder: bool, restorable: Collection[str], refuse: Callable[[str], NoReturn]
) -> None:
    """manifest.json, databases/NAME and files/FOLDER/... for the folders a restore puts back: nothing else."""
    parts = path.parts
    if is_folder and parts in ((FILES,), (DATABASES,)):
        return
    if parts[0] == FILES:
        if len(parts) > 1 and parts[1] in restorable:
            return
        refuse(f"it holds '{shown(str(path))}', outside the folders a restore puts back ({', '.join(restorable)})")
    if (parts == (MANIFEST,) and not is_folder) or (len(parts) == 2 and parts[0] == DATABASES):
        return  # a dump: _check_databases checks it against the manifest
    refuse(f"it holds an unexpected entry '{shown(str(path))}'")


def _check_databases(manifest: Manifest, members: dict[str, Member], refuse: Callable[[str], NoReturn]) -> None:
    named = set()
    for app, name in manifest.databases.items():
        member = members.get(_normalised(name))
        if member is None or not name.startswith(f"{DATABASES}/"):
            refuse(f"the {shown(app)} dump its manifest names, '{shown(name)}', is missing")
        if not member.is_file:
            refuse(f"'{shown(name)}' is a folder in it, where its manifest has the {shown(app)} dump")
        named.add(member.name)
    for name in members:
        if name.startswith(f"{DATABASES}/") and name not in named:
            refuse(f"it holds '{shown(name)}', a dump its manifest does not name")


def _check_digests(manifest: Manifest, members: dict[str, Member], refuse: Callable[[str], NoReturn]) -> None:
    for name, expected in manifest.files.items():
        member = members.get(name)
        if member is None:
            refuse(f"'{shown(name)}', which its manifest lists, is missing")
        if not member.is_file:
            refuse(f"'{shown(name)}' is a folder in it, where its manifest has a file")
        if member.digest != expected:
            refuse(f"'{shown(name)}' does not match the SHA-256 and size its manifest has for it (changed or damaged)")
    for name, member in members.items():
        if member.is_file and name != MANIFEST and name not in manifest.files:
            refuse(f"it holds '{shown(name)}', which its manifest does not list")
