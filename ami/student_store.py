"""What this computer keeps about each student's instance: the password (made here, never sent in plaintext),
the launch token that keeps a retried launch from making a second machine, and what EC2 gave back.

One JSON file per student and region under the user's config folder, mode 0600 in a 0700 folder.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

# Used in tags, group names and file names: letters, digits and . _ - only.
STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
PASSWORD_BYTES = 18  # 24 characters of base64url: about 144 bits


def config_root() -> Path:
    """The user's config folder, as the environment names it now."""
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "tm351" / "aws"


def new_password() -> str:
    return secrets.token_urlsafe(PASSWORD_BYTES)


@dataclass
class StudentRecord:
    student: str
    region: str
    password: str = field(default_factory=new_password)
    # EC2's idempotency token: a launch retried after a lost answer returns the first instance.
    client_token: str = field(default_factory=lambda: uuid.uuid4().hex)
    recipe: str = ""
    email: str = ""
    domain: str = ""
    instance_id: str = ""
    group_id: str = ""
    url: str = ""
    fingerprint: str = ""

    def fresh_launch(self) -> None:
        """The instance is gone: the next launch must not be answered with it again."""
        self.client_token = uuid.uuid4().hex
        self.instance_id = ""
        self.url = ""
        self.fingerprint = ""


@dataclass(frozen=True)
class StudentStore:
    region: str
    root: Path = field(default_factory=config_root)

    @property
    def folder(self) -> Path:
        return self.root / self.region

    def path(self, student: str) -> Path:
        return self.folder / f"{student}.json"

    def load(self, student: str) -> StudentRecord | None:
        try:
            data = json.loads(self.path(student).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        return StudentRecord(**data)

    def load_or_new(self, student: str) -> StudentRecord:
        return self.load(student) or StudentRecord(student=student, region=self.region)

    def save(self, record: StudentRecord) -> None:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.folder.chmod(0o700)
        target = self.path(record.student)
        partial = target.with_suffix(".tmp")
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(descriptor, 0o600)  # also when a stale file was there with other permissions
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            json.dump(asdict(record), file, indent=2)
        os.replace(partial, target)

    def forget(self, student: str) -> None:
        self.path(student).unlink(missing_ok=True)
