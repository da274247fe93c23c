"""One interface for every place a stack runs: this machine's Docker, a Vagrant machine, a student's instance.

The CLI picks a Host once from `--provider` and calls the same operations on it. An operation a host does
not offer fails with one uniform message that names what to do instead.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tm351vce.shelf.catalogue import Recipe
from tm351vce.shelf.engine import compose_cli
from tm351vce.shelf.errors import OperationFailed, UsageProblem

Confirm = Callable[[str], bool]


class NotOffered(UsageProblem):
    """The chosen host has no such operation: the message says what does the job there."""

    def __init__(self, host: str, operation: str, instead: str) -> None:
        super().__init__(f"`{operation}` is not offered for a stack on {host}: {instead}.")


@dataclass(frozen=True)
class StackAccess:
    """Where the stack's engine is: this machine, or inside a VM (`inside` wraps a shell line to run there)."""

    project: str
    inside: Callable[[str], list[str]] | None = None

    def docker(self, *args: str) -> list[str]:
        if self.inside is None:
            return [*compose_cli()[:1], *args]
        return self.inside(shlex.join(["docker", *args]))

    def run(self, *args: str) -> str:
        result = subprocess.run(self.docker(*args), capture_output=True, text=True, check=False)
        if result.returncode != 0:
            reason = result.stderr.strip() or f"exit code {result.returncode}"
            raise OperationFailed(f"`docker {' '.join(args[:2])}` failed on the stack's engine: {reason}")
        return result.stdout


@dataclass(frozen=True)
class Started:
    """What `up` prints: the URL to open and, after it, any lines the host adds (a certificate to accept)."""

    url: str
    notes: list[str] = field(default_factory=list)
    ready: bool = True  # False: the host runs, its stack answers later (aws --no-wait)


@dataclass(frozen=True)
class Report:
    """What `status` shows: data for `--json`, and the same for a person (a rich renderable or a line)."""

    data: Any
    text: Any


class Host:
    """A place a stack runs. Subclasses override what they offer; the rest says what to do instead."""

    # In messages: "a stack on {where}".
    where = "this host"

    def password_command(self) -> str:
        """The command that prints the login password, shown after `up`."""
        raise NotImplementedError

    def up(self, recipe: Recipe | None) -> Started:
        """Start the recipe (None: the host's own default, a release box's recipe, else the shelf's default)."""
        raise NotOffered(self.where, "up", "start it where it runs")

    def status(self) -> Report:
        raise NotOffered(self.where, "status", self._instead("status"))

    def stop(self) -> str:
        raise NotOffered(self.where, "stop", self._instead("stop"))

    def down(self, purge: bool, confirm: Confirm) -> str:
        raise NotOffered(self.where, "down", self._instead("down"))

    def password(self, reset: bool) -> tuple[str, str | None]:
        """The login password, and a line about what a reset did (None when nothing was reset)."""
        raise NotOffered(self.where, "password", self._instead("password"))

    def stack_access(self) -> StackAccess:
        """How backup and restore reach the stack's engine."""
        raise NotOffered(self.where, "backup and restore", self._instead("backup"))

    def _instead(self, operation: str) -> str:
        return "use the tools of the place it runs"
