"""A student's own AWS instance as a Host: launched from a baked AMI, stopped, terminated, its password kept here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from rich.console import Console

from tm351vce.ami import student_commands
from tm351vce.ami.student_commands import CloudOptions
from tm351vce.ami.views import cloud_status_table
from tm351vce.hosts.base import Confirm, Host, Report, Started
from tm351vce.shelf.catalogue import Recipe, Shelf


@dataclass(frozen=True)
class AwsHost(Host):
    shelf: Shelf
    region: str | None = None
    student: str | None = None
    options: CloudOptions = field(default_factory=CloudOptions)
    console: Console = field(default_factory=lambda: Console(stderr=True, soft_wrap=True))
    tell: Callable[[str], None] = print
    where = "an AWS instance"

    def password_command(self) -> str:
        return f"python3 tasks.py password --provider aws --student {student_commands.student_id(self.student)}"

    def up(self, recipe: Recipe | None) -> Started:
        recipe = recipe or self.shelf.default_recipe
        result = student_commands.up(self.shelf, recipe, self.student, self.options, self.console, tell=self.tell)
        record = result.record
        if not self.options.wait:
            note = (
                f"Running: {record.url or 'its address'} answers once the stack has started (a few minutes); "
                "`python3 tasks.py status --provider aws` shows the certificate's fingerprint when it is ready."
            )
            return Started(record.url, [note], ready=False)
        notes = []
        if record.fingerprint:
            notes.append(
                "The instance made its own certificate, so your browser warns once: accept it only if its SHA-256 "
                f"fingerprint is {record.fingerprint}"
            )
        return Started(record.url, notes)

    def status(self) -> Report:
        cloud = student_commands.status(self.region, self.student)
        if cloud is None:
            return Report(None, "No instance: start one with `python3 tasks.py up --provider aws`.")
        return Report(cloud.as_dict(), cloud_status_table(cloud))

    def stop(self) -> str:
        instance_id = student_commands.stop(self.region, self.student)
        return f"Stopping {instance_id}; its disk is kept. `python3 tasks.py up --provider aws` starts it again."

    def down(self, purge: bool, confirm: Confirm) -> str:
        question = "Terminate the instance? The notebooks, data and databases on it are lost for good."
        removed = student_commands.down(self.region, self.student, confirm(question), self.console)
        return f"Removed {', '.join(removed)}." if removed else "Nothing to remove: no instance or group was found."

    def password(self, reset: bool) -> tuple[str, str | None]:
        if reset:
            return super().password(reset)
        return student_commands.password(self.region, self.student), None

    def _instead(self, operation: str) -> str:
        if operation == "password":
            return "the password is the one made at launch; `password --provider aws` without --reset prints it"
        return "download your files from Jupyter (select them, then Download)"
