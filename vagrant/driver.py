"""Drive Vagrant for a student: write the machine's folder, `vagrant up`, wait for the gateway, read the password."""

from __future__ import annotations

import os
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

from compose.backup import StackAccess
from compose.catalogue import load_shelf
from compose.errors import OperationFailed, UsageProblem
from compose.progress import LOG_DIR, run_with_progress, wait_with_progress
from provision.bundle import HOST_PROJECT, INSTALL_DIR, host_settings
from vagrant.render import MACHINE, AwsOptions, Provider, VagrantOptions, render_vagrant, vagrant_url

STATE_DIR = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "tm351" / "vagrant"
PROVISION_TIMEOUT_S = 20 * 60  # a VM's first boot installs the engine and loads the images
LOGIN_SECRET_PATH = INSTALL_DIR / "secrets" / "password"
GATEWAY_TIMEOUT_S = 180
PROVISION_LOG = "journalctl --no-pager -t tm351-provision -u tm351"
PROVISIONED_MARKER = "/var/lib/tm351/provisioned"
FAILED_MARKER = "/var/lib/tm351/provision-failed"


def machine_dir(vm: Provider) -> Path:
    return STATE_DIR / vm.value


def write_machine(
    recipe_name: str | None,
    provider: Provider,
    out_dir: Path,
    data_dir: Path | None,
    port: int | None,
    registry: str | None = None,
    registry_ca: Path | None = None,
    aws: AwsOptions | None = None,
) -> Path:
    """Write the folder `vagrant up` runs in for one recipe on one provider; returns the Vagrantfile."""
    shelf = load_shelf()
    recipe = shelf.recipe(recipe_name)
    options = VagrantOptions(
        provider=provider,
        out_dir=out_dir,
        data_dir=(data_dir or Path(shelf.defaults.data_dir)).expanduser().absolute(),
        port=port or shelf.defaults.port,
        settings=host_settings(shelf, recipe, registry, registry_ca),
        aws=aws or AwsOptions(),
    )
    return render_vagrant(shelf, recipe, options)


def vagrant_up(
    recipe_name: str | None,
    vm: Provider,
    data_dir: Path | None,
    port: int | None,
    registry: str | None = None,
    out_dir: Path | None = None,
) -> str:
    """Write the machine's folder, bring it up with Vagrant and wait until the gateway answers; returns the URL."""
    if vm is Provider.aws:
        raise UsageProblem("--vm aws is not for students: use `python tasks.py up --provider aws`.")
    vagrant = _vagrant_cli()
    shelf = load_shelf()
    recipe = shelf.recipe(recipe_name)
    folder = out_dir or machine_dir(vm)
    port = port or shelf.defaults.port
    write_machine(recipe.name, vm, folder, data_dir, port, registry)
    finished = run_with_progress(
        [vagrant, "up", "--provider", vm.value], f"vagrant up ({vm.value})", LOG_DIR / "vagrant-up.log", cwd=folder
    )
    if not finished.ok:
        raise OperationFailed(
            f"`vagrant up --provider {vm.value}` failed in {folder}; full log: {finished.log}", "\n".join(finished.tail)
        )
    health = f"http://127.0.0.1:{port}/healthz"
    log_hint = f"see the provisioning log with `{' '.join(_inside(vm, folder, PROVISION_LOG))}` in {folder}"
    outcome = _Outcome(vm, folder)
    if not wait_with_progress(outcome.finished, "Provisioning the stack inside", PROVISION_TIMEOUT_S):
        raise OperationFailed(f"Provisioning did not finish within {PROVISION_TIMEOUT_S // 60} min; {log_hint}.")
    if outcome.failed:
        raise OperationFailed(f"Provisioning failed inside the machine; {log_hint}.")
    # A machine provisioned before (halted, then up again) starts its service at boot.
    if not wait_with_progress(lambda: _answers(health), "Waiting for the gateway", GATEWAY_TIMEOUT_S):
        raise OperationFailed(f"The stack is provisioned but its gateway does not answer on {health}; {log_hint}.")
    return vagrant_url(shelf, recipe, port)


class _Outcome:
    """Reads provision.sh's marker files inside the machine."""

    def __init__(self, vm: Provider, folder: Path) -> None:
        self.vm, self.folder, self.failed = vm, folder, False

    def finished(self) -> bool:
        probe = f"if [ -f {FAILED_MARKER} ]; then echo failed; elif [ -f {PROVISIONED_MARKER} ]; then echo ok; fi"
        result = subprocess.run(_inside(self.vm, self.folder, probe), capture_output=True, text=True, check=False)
        self.failed = result.stdout.strip() == "failed"
        return result.stdout.strip() in ("failed", "ok")


def vagrant_password(vm: Provider, out_dir: Path | None = None) -> str:
    """The login password, read inside the machine (it is made there and never leaves it otherwise)."""
    folder = out_dir or machine_dir(vm)
    if not (folder / "Vagrantfile").is_file():
        raise UsageProblem(f"No Vagrant machine in {folder}: start one with `python tasks.py up --provider vagrant`.")
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
    return ["env", f"VAGRANT_CWD={folder}", _vagrant_cli(), "ssh", "-c", f"sudo {command}"]


def vagrant_stack(vm: Provider, out_dir: Path | None = None) -> StackAccess:
    """The stack inside a Vagrant machine, for backup and restore (its student folder is synced to this one)."""
    folder = out_dir or machine_dir(vm)
    if not (folder / "Vagrantfile").is_file():
        raise UsageProblem(f"No Vagrant machine in {folder}: start one with `python tasks.py up --provider vagrant`.")
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
