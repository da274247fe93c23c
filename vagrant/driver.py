"""Drive Vagrant for a student: write the machine's folder, `vagrant up`, wait for the gateway, read the password."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tm351vce.hosts.base import StackAccess
from tm351vce.provision.bundle import host_settings
from tm351vce.shelf.catalogue import Recipe, Shelf
from tm351vce.shelf.constants import HOST_PROJECT, HOST_SECRETS_DIR, LOGIN_SECRET, PROVISIONED_MARKER
from tm351vce.shelf.constants import STATE_DIR as HOST_STATE_DIR
from tm351vce.shelf.errors import OperationFailed, UsageProblem
from tm351vce.shelf.progress import LOG_DIR, run_with_progress, wait_with_progress
from tm351vce.vagrant.release.boxes import READY_FILE
from tm351vce.vagrant.release_box import ReleaseBox, release_box
from tm351vce.vagrant.render import (
    CONSOLE_LOG,
    MACHINE,
    AwsOptions,
    Provider,
    VagrantOptions,
    check_machine_options,
    render_vagrant,
    vagrant_url,
)

STATE_DIR = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "tm351" / "vagrant"
PROVISION_TIMEOUT_S = 20 * 60  # a VM's first boot installs the engine and loads the images
LOGIN_SECRET_PATH = HOST_SECRETS_DIR / LOGIN_SECRET
GATEWAY_TIMEOUT_S = 180
PROVISION_LOG = "journalctl --no-pager -t tm351-provision -u tm351"
FAILED_MARKER = HOST_STATE_DIR / "provision-failed"
SOURCE_FILE = "source.txt"  # what the machine in a folder is made from: a base box provisioned, or a release box


def machine_dir(vm: Provider) -> Path:
    return STATE_DIR / vm.value


@dataclass(frozen=True)
class WrittenMachine:
    vagrantfile: Path
    release_box: ReleaseBox | None
    port: int  # the gateway's port on this computer
    url: str  # where the student opens the stack


@dataclass(frozen=True)
class Machine:
    """What the command line asks of a Vagrant machine."""

    provider: Provider
    data_dir: Path | None = None
    port: int | None = None
    registry: str | None = None
    registry_ca: Path | None = None
    aws: AwsOptions | None = None
    # A release's box name, catalogue or .box file: the machine is that box, not a provisioned one.
    box: str | None = None
    emulated: bool = False


def write_machine(shelf: Shelf, recipe: Recipe | None, machine: Machine, out_dir: Path) -> WrittenMachine:
    """Write the folder `vagrant up` runs in for one recipe on one provider."""
    provider, box, emulated = machine.provider, machine.box, machine.emulated
    check_machine_options(provider, box is not None, emulated)
    chosen = release_box(box, provider.value) if box else None
    recipe = _recipe_of(shelf, recipe, chosen)
    options = VagrantOptions(
        provider=provider,
        out_dir=out_dir,
        data_dir=(machine.data_dir or Path(shelf.defaults.data_dir)).expanduser().absolute(),
        port=machine.port or shelf.defaults.port,
        settings=host_settings(shelf, recipe, machine.registry, machine.registry_ca),
        aws=machine.aws or AwsOptions(),
        release_box=chosen,
        emulated=emulated,
    )
    _check_same_source(out_dir, provider, _source(chosen))
    vagrantfile = render_vagrant(shelf, recipe, options)
    (out_dir / SOURCE_FILE).write_text(_source(chosen) + "\n", encoding="utf-8")
    return WrittenMachine(vagrantfile, chosen, options.port, vagrant_url(shelf, recipe, options.port))


def _recipe_of(shelf: Shelf, recipe: Recipe | None, box: ReleaseBox | None) -> Recipe:
    """The recipe asked for; with a release box, the one it carries (tm351/RECIPE)."""
    if box and box.recipe and recipe and recipe.name != box.recipe:
        raise UsageProblem(f"--box {box.name} carries the recipe {box.recipe}, not {recipe.name}: leave RECIPE out.")
    carried = box.recipe if box and box.recipe in shelf.recipes else None
    return recipe or shelf.recipe(carried)


def _source(box: ReleaseBox | None) -> str:
    return f"box {box.name}" if box else "provisioned base box"


def _check_same_source(folder: Path, provider: Provider, source: str) -> None:
    """A folder's machine is made once: refuse to point its Vagrantfile at another box under it."""
    created = (folder / ".vagrant" / "machines" / MACHINE / provider.value / "id").is_file()
    recorded = folder / SOURCE_FILE
    if not created or not recorded.is_file():
        return
    before = recorded.read_text(encoding="utf-8").strip()
    if before != source:
        raise UsageProblem(
            f"{folder} holds a {provider.value} machine made from {before}, not {source}. Keep its databases with "
            f"`python3 tasks.py backup --provider vagrant --vm {provider.value}`, then run `vagrant destroy` in "
            "that folder (your student folder is kept), and try again."
        )


def vagrant_up(shelf: Shelf, recipe: Recipe | None, asked: Machine, out_dir: Path | None = None) -> str:
    """Write the machine's folder, bring it up with Vagrant and wait until the gateway answers; returns the URL."""
    vm = asked.provider
    if vm is Provider.aws:
        raise UsageProblem("--vm aws is not for students: use `python3 tasks.py up --provider aws`.")
    vagrant = _vagrant_cli()
    folder = out_dir or machine_dir(vm)
    machine = write_machine(shelf, recipe, asked, folder)
    if machine.release_box:
        _add_box(vagrant, machine.release_box, vm)
    finished = run_with_progress(
        [vagrant, "up", "--provider", vm.value], f"vagrant up ({vm.value})", LOG_DIR / "vagrant-up.log", cwd=folder
    )
    if not finished.ok:
        raise OperationFailed(
            f"`vagrant up --provider {vm.value}` failed in {folder}; full log: {finished.log}", "\n".join(finished.tail)
        )
    health = f"http://127.0.0.1:{machine.port}/healthz"
    log_hint = f"see the provisioning log with `{' '.join(_inside(vm, folder, PROVISION_LOG))}` in {folder}"
    if vm is Provider.libvirt:
        log_hint += f" (its console: {folder / CONSOLE_LOG})"
    outcome = _Outcome(vm, folder, released=machine.release_box is not None)
    if not wait_with_progress(outcome.finished, "Provisioning the stack inside", PROVISION_TIMEOUT_S):
        raise OperationFailed(f"Provisioning did not finish within {PROVISION_TIMEOUT_S // 60} min; {log_hint}.")
    if outcome.failed:
        raise OperationFailed(f"Provisioning failed inside the machine; {log_hint}.")
    # A machine provisioned before (halted, then up again) starts its service at boot.
    if not wait_with_progress(lambda: _answers(health), "Waiting for the gateway", GATEWAY_TIMEOUT_S):
        raise OperationFailed(f"The stack is provisioned but its gateway does not answer on {health}; {log_hint}.")
    return machine.url


class _Outcome:
    """Reads provision.sh's marker files inside the machine."""

    def __init__(self, vm: Provider, folder: Path, released: bool = False) -> None:
        self.vm, self.folder, self.failed = vm, folder, False
        # A release's machine was provisioned when its image was built: wait for its stack to be up instead.
        self.done_marker = READY_FILE if released else PROVISIONED_MARKER

    def finished(self) -> bool:
        probe = f"if [ -f {FAILED_MARKER} ]; then echo failed; elif [ -f {self.done_marker} ]; then echo ok; fi"
        result = subprocess.run(_inside(self.vm, self.folder, probe), capture_output=True, text=True, check=False)
        self.failed = result.stdout.strip() == "failed"
        return result.stdout.strip() in ("failed", "ok")


def _add_box(vagrant: str, box: ReleaseBox, vm: Provider) -> None:
    """Add the release box before `vagrant up`: a box that `up` itself adds has its own Vagrantfile (the
    provisioner that restarts the stack on the student's folder) ignored on that first `up`."""
    if box.url is None:
        _check_box_added(vagrant, box.name, vm)
        return
    named = ["--name", box.name] if urllib.parse.urlsplit(box.url).path.endswith(".box") else []
    finished = run_with_progress(
        [vagrant, "box", "add", "--provider", vm.value, *named, box.url],
        f"Adding the box {box.name}",
        LOG_DIR / "vagrant-box-add.log",
    )
    if not finished.ok and not any("already" in line for line in finished.tail):
        raise OperationFailed(f"`vagrant box add {box.url}` failed; full log: {finished.log}", "\n".join(finished.tail))


def _check_box_added(vagrant: str, name: str, vm: Provider) -> None:
    listed = subprocess.run([vagrant, "box", "list", "--machine-readable"], capture_output=True, text=True, check=False)
    boxes, providers = [], []
    for line in listed.stdout.splitlines():
        fields = line.split(",")
        if len(fields) >= 4 and fields[2] == "box-name":
            boxes.append(fields[3])
        elif len(fields) >= 4 and fields[2] == "box-provider":
            providers.append(fields[3])
    if (name, vm.value) not in zip(boxes, providers, strict=False):
        raise UsageProblem(
            f"Vagrant has no {vm.value} box named {name}: add it with `vagrant box add URL-OF-ITS-CATALOGUE`, "
            "or give that URL (or the .json file's path) as --box."
        )


def machine_folder(vm: Provider, given: Path | None = None) -> Path:
    """The folder of the Vagrant machine meant: the one given, else the current folder when it holds a
    Vagrantfile (as `vagrant` itself chooses), else the one `up --provider vagrant` made."""
    if given is not None:
        folder = given.expanduser().absolute()
    elif (Path.cwd() / "Vagrantfile").is_file():
        folder = Path.cwd()
    else:
        folder = machine_dir(vm)
    if not (folder / "Vagrantfile").is_file():
        raise UsageProblem(
            f"No Vagrant machine in {folder}: start one with `python3 tasks.py up --provider vagrant`, "
            "or give the folder of yours with --vagrant-dir."
        )
    return folder


def vagrant_password(vm: Provider, out_dir: Path | None = None) -> str:
    """The login password, read inside the machine (it is made there and never leaves it otherwise)."""
    folder = machine_folder(vm, out_dir)
    command = _inside(vm, folder, f"cat {LOGIN_SECRET_PATH}")
    result = subprocess.run(command, cwd=folder, capture_output=True, text=True, check=False)
    if result.returncode != 0 or not result.stdout.strip():
        raise OperationFailed(
            f"Could not read the password inside the machine in {folder}: is it running (`vagrant status`)?"
        )
    return result.stdout.strip().splitlines()[-1].strip()


def _inside(vm: Provider, folder: Path, command: str) -> list[str]:
    """A command that runs COMMAND as root inside the machine."""
    if vm is Provider.docker:
        # `vagrant docker-exec` fails in Debian's Vagrant 2.3.4; the container's id is in Vagrant's own state.
        id_file = folder / ".vagrant" / "machines" / MACHINE / "docker" / "id"
        container = id_file.read_text(encoding="utf-8").strip() if id_file.is_file() else "MACHINE-NOT-CREATED"
        return ["docker", "exec", "-i", container, "sh", "-c", command]
    # VAGRANT_CWD: the command works from any folder, as `vagrant ssh` must run beside the Vagrantfile.
    # `sudo sh -c`: the command may be a compound shell line (if …; then …), which sudo alone cannot run.
    return ["env", f"VAGRANT_CWD={folder}", _vagrant_cli(), "ssh", "-c", f"sudo sh -c {shlex.quote(command)}"]


def vagrant_stack(vm: Provider, out_dir: Path | None = None) -> StackAccess:
    """The stack inside a Vagrant machine, for backup and restore (its student folder is synced to this one)."""
    folder = machine_folder(vm, out_dir)
    return StackAccess(project=HOST_PROJECT, inside=lambda line: _inside(vm, folder, line))


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:  # noqa: S310 - a loopback http URL we built
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _vagrant_cli() -> str:
    found = shutil.which("vagrant")
    if found is None:
        raise UsageProblem("Vagrant is not installed: install it (e.g. `sudo apt-get install vagrant`) and try again.")
    return found
