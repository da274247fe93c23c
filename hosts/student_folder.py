"""The student's folder on the host: their files, and the install's secrets (mode 0600) in .tm351/."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from tm351vce.shelf.constants import SECRETS_FOLDER
from tm351vce.shelf.errors import UsageProblem

SECRET_BYTES = 24  # 32 URL-safe characters


@dataclass(frozen=True)
class StudentFolder:
    root: Path

    @property
    def secrets_dir(self) -> Path:
        return self.root / SECRETS_FOLDER

    def prepare(self, folders: list[str], secret_names: list[str]) -> None:
        """Make the folder, its subfolders and any secret not generated yet; never touches existing files."""
        if self.root.exists() and not self.root.is_dir():
            raise UsageProblem(f"--data-dir {self.root} is a file, not a folder: choose a folder with --data-dir.")
        try:
            for folder in (self.root, *(self.root / name for name in folders)):
                folder.mkdir(parents=True, exist_ok=True)
            self.secrets_dir.mkdir(mode=0o700, exist_ok=True)
            for name in secret_names:
                self._generate_secret(name)
        except PermissionError as error:
            raise UsageProblem(
                f"Cannot write to {error.filename}: choose a folder you own with --data-dir, or fix its permissions."
            ) from None

    def secret_path(self, name: str) -> Path:
        return self.secrets_dir / name

    def read_secret(self, name: str) -> str:
        path = self.secret_path(name)
        try:
            return path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            raise UsageProblem(
                f"No {name} in {self.secrets_dir}: start the stack once with `python3 tasks.py up`"
                " (with the same --data-dir) to generate it."
            ) from None

    def replace_secret(self, name: str) -> None:
        """A new value written into the same file: running containers mount the file itself, not its name."""
        path = self.secret_path(name)
        if not path.is_file():
            self.read_secret(name)  # raises the "start the stack once" message
        descriptor = os.open(path, os.O_WRONLY | os.O_TRUNC)
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as secret_file:
            secret_file.write(_new_secret())

    def _generate_secret(self, name: str) -> None:
        path = self.secret_path(name)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return
        with os.fdopen(descriptor, "w", encoding="utf-8") as secret_file:
            secret_file.write(_new_secret())


def _new_secret() -> str:
    return secrets.token_urlsafe(SECRET_BYTES) + "\n"
