"""The student's folder on the host: their files, and the install's secrets (mode 0600) in .tm351/."""

from __future__ import annotations

import errno
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from tm351vce.shelf.constants import SECRETS_FOLDER
from tm351vce.shelf.errors import UsageProblem

SECRET_BYTES = 24  # 32 URL-safe characters
# Where compose/shelf.yaml has JupyterLab keep its settings and workspaces.
LAB_SETTINGS_FOLDER = ".jupyterlab"


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
                raise UsageProblem(
                    f"{path} is a symbolic link, which the toolkit never follows inside the student folder (a"
                    f" program may have planted it): remove it (`rm {path}`) and run the command again."
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
