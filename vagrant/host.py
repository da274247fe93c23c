"""A Vagrant machine as a Host: `up` writes and boots it; password and backup reach inside it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tm351vce.hosts.base import Host, StackAccess, Started
from tm351vce.shelf.catalogue import Recipe, Shelf
from tm351vce.vagrant.driver import Machine, vagrant_password, vagrant_stack, vagrant_up
from tm351vce.vagrant.options import Provider


@dataclass(frozen=True)
class VagrantHost(Host):
    shelf: Shelf
    vm: Provider = Provider.virtualbox
    data_dir: Path | None = None
    port: int | None = None
    box: str | None = None
    emulated: bool = False
    folder: Path | None = None

    @property
    def where(self) -> str:  # type: ignore[override]
        return f"a Vagrant machine ({self.vm.value})"

    def password_command(self) -> str:
        return f"python3 tasks.py password --provider vagrant --vm {self.vm.value}"

    def up(self, recipe: Recipe | None) -> Started:
        asked = Machine(self.vm, self.data_dir, self.port, box=self.box, emulated=self.emulated)
        return Started(vagrant_up(self.shelf, recipe, asked))

    def password(self, reset: bool) -> tuple[str, str | None]:
        if reset:
            return super().password(reset)
        return vagrant_password(self.vm, self.folder), None

    def stack_access(self) -> StackAccess:
        return vagrant_stack(self.vm, self.folder)

    def _instead(self, operation: str) -> str:
        commands = {"status": "vagrant status", "stop": "vagrant halt", "down": "vagrant destroy"}
        if operation == "password":
            return "the password is the one the machine made; `password` without --reset prints it"
        return f"run `{commands.get(operation, 'vagrant ssh')}` in the machine's folder"
