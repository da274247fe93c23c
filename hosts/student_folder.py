"""The student's folder on the host: their files, and the install's secrets (mode 0600) in .tm351/."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from tm351vce.shelf.constants import SECRETS_FOLDER
from tm351vce.shelf.errors import UsageProblem

SECRET_BYTES = 24  # 32 URL-safe characters
# Where compose/shelf.yaml has JupyterLab keep its settings and workspaces.
LAB_SETTINGS_FOLDER = ".jupyterlab"
# A folder is opened one name at a time below the root, and a link is never a way in.
_FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
_COPY_BYTES = 1 << 20


@dataclass(frozen=True)
class Entry:
    """One thing found below the folder: its path from the root, what lstat says, and the folder holding it."""

    relative: PurePosixPath
    status: os.stat_result
    folder: int  # a descriptor of the folder it is in, open until the walk moves on


@dataclass(frozen=True)
class Staging:
    """A private folder inside the student folder, on its disk, so that a file staged here moves into place with a
    rename: it is never half-written where the student sees it."""

    path: Path
    descriptor: int

    def write(self, name: str, source: BinaryIO, mode: int, mtime: float) -> None:
        """A new file of exactly this mode (the invoking user's), its content on disk before it is used."""
        descriptor = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=self.descriptor)
        with os.fdopen(descriptor, "wb") as sink:
            shutil.copyfileobj(source, sink, _COPY_BYTES)
            sink.flush()
            os.fchmod(sink.fileno(), mode)
            os.utime(sink.fileno(), (mtime, mtime))
            os.fsync(sink.fileno())

    def open(self, name: str) -> BinaryIO:
        return os.fdopen(os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=self.descriptor), "rb")


@dataclass(frozen=True)
class StudentFolder:
    root: Path

    @property
    def secrets_dir(self) -> Path:
        return self.root / SECRETS_FOLDER

    def prepare(self, folders: list[str], secret_names: list[str]) -> None:
        """Make the folder, its subfolders and any secret not generated yet; never touches existing files.

        A link anywhere below the folder's own path is refused, never followed: the code a student runs can
        write to the folder, and a planted link would turn the next write or mount toward another place.
        """
        if self.root.exists() and not self.root.is_dir():
            raise UsageProblem(f"--data-dir {self.root} is a file, not a folder: choose a folder with --data-dir.")
        self.refuse_links([*(self.root / name for name in folders), self.secrets_dir,
                           *(self.secret_path(name) for name in secret_names)])  # fmt: skip
        try:
            for folder in (self.root, *(self.root / name for name in folders)):
                folder.mkdir(parents=True, exist_ok=True)
            self.secrets_dir.mkdir(mode=0o700, exist_ok=True)
            self._move_lab_settings()
            for name in secret_names:
                self._generate_secret(name)
        except PermissionError as error:
            raise UsageProblem(
                f"Cannot write to {error.filename}: choose a folder you own with --data-dir, or fix its permissions."
            ) from None
        except OSError as error:
            fix = "free some space" if error.errno == errno.ENOSPC else "choose a folder you can write with --data-dir"
            raise UsageProblem(
                f"Cannot write to {error.filename or self.root}: {error.strerror}: {fix}, then run the command again;"
                " nothing was half-written."
            ) from None

    @staticmethod
    def refuse_links(paths: list[Path]) -> None:
        for path in paths:
            if path.is_symlink():
                raise _link_refused(path)

    def open_folder(self, relative: PurePosixPath) -> int | None:
        """A descriptor of root/RELATIVE, opened one name at a time without following a link (a link or a file on
        the way is refused), or None if it is not there."""
        return self._descend(relative, create=False)

    def make_folder(self, relative: PurePosixPath) -> int:
        """A descriptor of root/RELATIVE like open_folder's, its missing folders made on the way (mode 0755)."""
        descriptor = self._descend(relative, create=True)
        if descriptor is None:
            raise FileNotFoundError(errno.ENOENT, "made, and gone at once", str(self.root / relative))
        return descriptor

    def status_of(self, relative: PurePosixPath) -> os.stat_result | None:
        """What lstat says of root/RELATIVE (None if it is not there), reached without following a link."""
        folder = self.open_folder(relative.parent)
        if folder is None:
            return None
        try:
            return os.lstat(relative.name, dir_fd=folder)
        except FileNotFoundError:
            return None
        finally:
            os.close(folder)

    def walk(self, top: str) -> Iterator[Entry]:
        """root/TOP and everything below it, in name order, never through a link (a link is an entry, not a way in)."""
        root = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            yield from _walk(root, PurePosixPath(top))
        finally:
            os.close(root)

    @staticmethod
    def open_file(entry: Entry) -> BinaryIO | None:
        """The entry's content if it is a regular file (None if it is not, or no longer): never a link's target, and
        never a FIFO or a device, whose opening alone may block or act."""
        if not stat.S_ISREG(entry.status.st_mode):
            return None
        try:
            descriptor = os.open(entry.relative.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=entry.folder)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as error:
            if error.errno == errno.ELOOP:  # replaced by a link meanwhile
                return None
            raise
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            os.close(descriptor)
            return None
        return os.fdopen(descriptor, "rb")

    @contextlib.contextmanager
    def staging(self, name: str) -> Iterator[Staging]:
        """The private folder root/NAME for files on their way in: what an interrupted run left there is removed
        first, and the folder itself on every way out."""
        path = self.root / name
        try:
            _remove(path)
            os.mkdir(path, 0o700)
        except OSError as error:
            raise UsageProblem(
                f"Cannot make {path} ({error.strerror}): make {self.root} writable, then run the command again;"
                " nothing was changed."
            ) from None
        try:
            descriptor = os.open(path, _FOLDER_FLAGS)
            try:
                yield Staging(path, descriptor)
            finally:
                os.close(descriptor)
        finally:
            _remove(path)

    def move_into_place(self, staging: Staging, name: str, relative: PurePosixPath) -> None:
        """Rename a staged file to root/RELATIVE, making its folders on the way (never through a link): whatever had
        that name is replaced whole, and nothing is written through it."""
        folder = self.make_folder(relative.parent)
        try:
            os.rename(name, relative.name, src_dir_fd=staging.descriptor, dst_dir_fd=folder)
        finally:
            os.close(folder)

    def _descend(self, relative: PurePosixPath, create: bool) -> int | None:
        descriptor = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        for depth, name in enumerate(relative.parts, start=1):
            try:
                child = _open_child(descriptor, name, create)
            except NotADirectoryError:
                raise self._in_the_way(relative.parts[:depth]) from None
            finally:
                os.close(descriptor)
            if child is None:
                return None
            descriptor = child
        return descriptor

    def _in_the_way(self, parts: tuple[str, ...]) -> UsageProblem:
        path = self.root.joinpath(*parts)
        if path.is_symlink():
            return _link_refused(path)
        return UsageProblem(
            f"{path} is not a folder, and one is needed there: move it away and run the command again; nothing was"
            " changed."
        )

    def _move_lab_settings(self) -> None:
        """JupyterLab's settings lived in .tm351/, which Jupyter's container no longer sees: they move beside it."""
        old, new = self.secrets_dir / "jupyterlab", self.root / LAB_SETTINGS_FOLDER
        if old.is_dir() and not old.is_symlink() and not new.exists() and not new.is_symlink():
            old.rename(new)

    def secret_path(self, name: str) -> Path:
        return self.secrets_dir / name

    def read_secret(self, name: str) -> str:
        path = self.secret_path(name)
        self.refuse_links([self.secrets_dir, path])
        try:
            descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            raise UsageProblem(
                f"No {name} in {self.secrets_dir}: start the stack once with `python3 tasks.py up`"
                " (with the same --data-dir) to generate it."
            ) from None
        with os.fdopen(descriptor, encoding="utf-8") as secret_file:
            value = secret_file.read().strip()
        if not value:
            raise UsageProblem(
                f"{path} is empty: delete it (`rm {path}`) and run `python3 tasks.py up` to make a new {name}."
            )
        return value

    def secret_digest(self, name: str) -> str:
        """A digest that changes when the secret does (it tells nothing of the secret itself)."""
        return hashlib.sha256(f"tm351-secret:{name}:{self.read_secret(name)}".encode()).hexdigest()

    def replace_secret(self, name: str) -> None:
        """A new value written into the same file: running containers mount the file itself, not its name.

        The value is first written beside it, so a full disk fails before the secret is touched."""
        path = self.secret_path(name)
        self.read_secret(name)  # there, not a link and not empty; else the message that says what to do
        value = _new_secret()
        staged = self._write_new(f".{name}.new", value)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_NOFOLLOW)
            with os.fdopen(descriptor, "w", encoding="utf-8") as secret_file:
                os.fchmod(secret_file.fileno(), 0o600)
                secret_file.write(value)
                secret_file.truncate()
                secret_file.flush()
                os.fsync(secret_file.fileno())
        finally:
            staged.unlink(missing_ok=True)

    def write_file(self, name: str, text: str) -> Path:
        """A file of the install in .tm351/, replaced whole (temporary file, fsync, rename): never through a link."""
        path = self.secrets_dir / name
        self.refuse_links([self.secrets_dir, path])
        staged = self._write_new(f".{name}.new", text)
        os.replace(staged, path)
        return path

    def _generate_secret(self, name: str) -> None:
        path = self.secret_path(name)
        if path.exists():
            return
        staged = self._write_new(f".{name}.new", _new_secret())
        try:
            # A link, not a rename: it fails if the secret appeared meanwhile, and never replaces one.
            os.link(staged, path)
        except FileExistsError:
            pass
        finally:
            staged.unlink(missing_ok=True)

    def _write_new(self, name: str, text: str) -> Path:
        """A new file of mode 0600 in .tm351/, its content on disk before it is used."""
        path = self.secrets_dir / name
        path.unlink(missing_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as staged:
                staged.write(text)
                staged.flush()
                os.fsync(staged.fileno())
        except OSError:
            path.unlink(missing_ok=True)
            raise
        return path


def _new_secret() -> str:
    return secrets.token_urlsafe(SECRET_BYTES) + "\n"


def _link_refused(path: Path) -> UsageProblem:
    return UsageProblem(
        f"{path} is a symbolic link, which the toolkit never follows inside the student folder (a program may have"
        f" planted it): remove it (`rm {path}`) and run the command again; nothing was changed."
    )


def _open_child(parent: int, name: str, create: bool) -> int | None:
    try:
        return os.open(name, _FOLDER_FLAGS, dir_fd=parent)
    except FileNotFoundError:
        if not create:
            return None
    with contextlib.suppress(FileExistsError):  # made meanwhile: opened below like any other
        os.mkdir(name, 0o755, dir_fd=parent)
    return os.open(name, _FOLDER_FLAGS, dir_fd=parent)


def _walk(parent: int, relative: PurePosixPath) -> Iterator[Entry]:
    try:
        status = os.lstat(relative.name, dir_fd=parent)
    except FileNotFoundError:
        return
    yield Entry(relative, status, parent)
    if not stat.S_ISDIR(status.st_mode):
        return
    try:
        folder = os.open(relative.name, _FOLDER_FLAGS, dir_fd=parent)
    except (FileNotFoundError, NotADirectoryError):  # gone, or replaced by a link, meanwhile
        return
    try:
        for name in sorted(os.listdir(folder)):
            yield from _walk(folder, relative / name)
    finally:
        os.close(folder)


def _remove(path: Path) -> None:
    """Remove what is at path, never what a link there points to (rmtree does not follow one inside it either)."""
    try:
        status = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(status.st_mode):
        shutil.rmtree(path)
    else:
        path.unlink()
