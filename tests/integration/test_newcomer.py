"""A newcomer on a fresh Debian 12 machine: the README's two commands work as written.

The machine is the emulated Debian host (images/host) with an engine of its own and nothing cached: it installs
only what the README's Prerequisites name from Debian's archive, a normal user in the `docker` group gets a clone
of this checkout's HEAD, and runs the README's "Start it" line, then its test line (restricted to the fast tests:
the whole suite inside would run it twice). The lines are read from README.md, so a change there is tested here.
The machine trusts the CAs of the one that built its image (images/host), as an institution's machines trust its
network's: where TLS is inspected, that is what lets its pip reach PyPI.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.helpers.cli import REPO
from tests.helpers.net import wait_until
from tm351vce.provision.emulated_host import ENGINE_TARGET, HOST_CONTAINER_ARGS, SEED_TARGET, nocloud_meta_data

# Nothing cached: debootstrap, Debian's packages and PyPI's, all from the network, on the machine's own engine.
pytestmark = [pytest.mark.slow, pytest.mark.needs("git")]

README = (REPO / "README.md").read_text()
USER = "newcomer"
CHECKOUT = f"/home/{USER}/tm351"
# What the machine has before the README's prerequisites: sudo for its user, as the README's commands assume, and
# git, which brought the checkout.
MACHINE_PACKAGES = ("sudo", "git")
FAST_TESTS = ' -m "unit and not slow"'
# cloud-init makes no default user: the newcomer's account is made as an installer makes it.
USER_DATA = "#cloud-config\nusers: []\n"


def readme_section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", README, re.M | re.S)
    assert match, f"README.md has no section {title!r}"
    return match[1]


def readme_command(title: str) -> str:
    """The one line of the section's first code block."""
    block = re.search(r"^```\n(.*?)^```", readme_section(title), re.M | re.S)
    assert block, f"README.md's {title!r} has no code block"
    lines = block[1].strip().splitlines()
    assert len(lines) == 1, f"README.md's {title!r} block is not one line: {lines}"
    return lines[0]


def prerequisite_packages() -> list[str]:
    """Every package the README's Prerequisites install with `sudo apt-get install`."""
    found = re.findall(r"`sudo apt-get install ([^`]+)`", readme_section("Prerequisites"))
    return [package for line in found for package in line.split()]


@dataclass
class Run:
    returncode: int
    output: str  # stdout and stderr, as the terminal shows them
    seconds: float


@dataclass
class Machine:
    name: str
    timings: dict[str, float] = field(default_factory=dict)

    def root(self, command: str, timeout: float = 600) -> Run:
        return self._run(["bash", "-c", command], timeout)

    def as_user(self, command: str, timeout: float = 600, in_checkout: bool = True) -> Run:
        """command typed by the newcomer in a fresh login shell (in the checkout, or at home)."""
        typed = f"cd {CHECKOUT} && {command}" if in_checkout else command
        return self._run(["su", "--login", USER, "--command", typed], timeout)

    def _run(self, command: list[str], timeout: float) -> Run:
        started = time.monotonic()
        done = subprocess.run(
            ["docker", "exec", self.name, *command],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace", timeout=timeout,
            check=False,
        )  # fmt: skip
        return Run(done.returncode, done.stdout, time.monotonic() - started)

    def http_status(self, url: str, login: tuple[str, str] | None = None) -> str:
        auth = f"-u {shlex.quote(':'.join(login))} " if login else ""
        done = self.root(f"curl -s -o /dev/null -w '%{{http_code}}' --max-time 20 {auth}{shlex.quote(url)}")
        return done.output.strip()


@pytest.fixture(scope="module")
def machine(engine, host_image, tmp_path_factory) -> Iterator[Machine]:
    name = f"tm351-test-newcomer-{uuid.uuid4().hex[:8]}"
    folder = tmp_path_factory.mktemp("newcomer")
    seed = folder / "seed"
    seed.mkdir()
    (seed / "user-data").write_text(USER_DATA)
    (seed / "meta-data").write_text(nocloud_meta_data(name))
    engine_volume = f"{name}-engine"  # empty: the machine's engine has no image and no build cache
    subprocess.run(
        [
            "docker", "run", "-d", "--name", name, *HOST_CONTAINER_ARGS,
            "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "-v", f"{seed}:{SEED_TARGET}:ro",
            "-v", f"{engine_volume}:{ENGINE_TARGET}", host_image,
        ],
        check=True, capture_output=True,
    )  # fmt: skip
    host = Machine(name)
    try:
        booted = wait_until(
            lambda: host.root("systemctl is-system-running").output.strip() in ("running", "degraded"), 120, 2
        )
        assert booted, host.root("systemctl --failed --no-pager").output
        host.root("cloud-init status --wait", timeout=300)
        _install_prerequisites(host)
        _clone_checkout(host, folder)
        yield host
    finally:
        subprocess.run(["docker", "rm", "-f", "-v", name], capture_output=True, check=False)
        subprocess.run(["docker", "volume", "rm", "-f", engine_volume], capture_output=True, check=False)


def _install_prerequisites(host: Machine) -> None:
    """The README's Prerequisites on a machine whose user has sudo: the packages (what `sudo apt-get install`
    does), the user in the docker group with the README's own line, the engine started."""
    packages = prerequisite_packages()
    assert {"docker.io", "python3-venv", "debootstrap"} <= set(packages), packages
    installed = host.root(
        "export DEBIAN_FRONTEND=noninteractive && apt-get update -q && "
        f"apt-get install -y -q {' '.join([*MACHINE_PACKAGES, *packages])}",
        timeout=900,
    )
    assert installed.returncode == 0, installed.output[-3000:]
    host.timings["installing the prerequisites"] = installed.seconds
    user = host.root(
        f"useradd --create-home --shell /bin/bash --groups sudo {USER} && "
        f"echo '{USER} ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/{USER} && chmod 0440 /etc/sudoers.d/{USER}"
    )
    assert user.returncode == 0, user.output
    docker_group = re.search(r"`(sudo adduser \$USER docker)`", readme_section("Prerequisites"))
    assert docker_group, "README.md's Prerequisites no longer add the user to the docker group"
    added = host.as_user(docker_group[1], 60, in_checkout=False)
    assert added.returncode == 0, added.output
    started = host.root(
        "systemctl start docker && timeout 60 sh -c 'until docker info >/dev/null 2>&1; do sleep 1; done'"
    )
    assert started.returncode == 0, host.root("journalctl -u docker --no-pager -n 40").output
    assert host.root("docker images -q").output.strip() == "", "the machine's engine is not empty"


def _clone_checkout(host: Machine, folder: Path) -> None:
    """A clone of HEAD, as `git clone` gives a newcomer: committed files only, no .venv."""
    bundle = folder / "tm351.bundle"
    subprocess.run(["git", "bundle", "create", str(bundle), "HEAD"], cwd=REPO, check=True, capture_output=True)
    subprocess.run(["docker", "cp", str(bundle), f"{host.name}:/tmp/tm351.bundle"], check=True, capture_output=True)
    cloned = host.as_user(f"git -c advice.detachedHead=false clone -q /tmp/tm351.bundle {CHECKOUT}", in_checkout=False)
    assert cloned.returncode == 0, cloned.output
    assert host.as_user("test ! -e .venv && git log -1 --format=%h").returncode == 0


def test_the_start_line_builds_starts_and_prints_a_url_that_asks_for_the_password(machine, capsys):
    start = readme_command("Start it")
    outputs: list[str] = []
    try:
        ran = _start(machine, start, outputs)
    finally:
        _report(capsys, machine, outputs)

    url = re.search(r"Ready: open (\S+)", ran.output)
    assert url, ran.output[-3000:]
    assert f"`{url[1]}`" in README, f"README.md does not name the URL {url[1]}"
    named_password = re.search(r"the password that `([^`]+)` prints", ran.output)
    assert named_password, ran.output[-3000:]
    assert f"`{named_password[1]}`" in readme_section("Start it")
    password = machine.as_user(named_password[1])
    assert password.returncode == 0, password.output
    secret = password.output.strip().splitlines()[-1]

    assert machine.http_status(url[1]) == "401"
    assert machine.http_status(url[1], ("student", "not-the-password")) == "401"
    assert machine.http_status(url[1], ("student", secret)) in ("200", "302")
    assert machine.http_status(f"{url[1]}api/status", ("student", secret)) == "200"


def _start(machine: Machine, start: str, outputs: list[str]) -> Run:
    """The start line, and where the machine reaches no registry, the one root build it names, then the line again."""
    first = machine.as_user(start, timeout=1200)
    machine.timings[f"`{start}`, first run"] = first.seconds
    outputs.append(first.output)
    assert "making the toolkit's Python environment" in first.output, first.output[-3000:]
    if first.returncode == 0:
        return first
    assert first.returncode == 2, first.output[-3000:]
    named = re.search(r"needs root, once: run `(sudo [^`]+)`", first.output)
    assert named, first.output[-3000:]
    command = shlex.split(named[1])
    assert command[1:4] == [f"{CHECKOUT}/.venv/bin/python", f"{CHECKOUT}/tasks.py", "build"], command
    assert machine.as_user(f"{command[1]} -c 'import typer, docker'").returncode == 0, "not the toolkit's Python"
    assert first.output.rstrip().endswith("Then run this command again."), first.output[-1000:]
    as_root = machine.as_user(named[1], timeout=3600)
    machine.timings[f"`{named[1]}`"] = as_root.seconds
    outputs.append(as_root.output)
    assert as_root.returncode == 0, as_root.output[-5000:]
    root_owned = machine.root(f"find /home/{USER} -user root").output.split()
    assert root_owned == [], f"the root build left files in the newcomer's home that they cannot change: {root_owned}"
    again = machine.as_user(start, timeout=1200)
    machine.timings[f"`{start}`, again"] = again.seconds
    outputs.append(again.output)
    assert again.returncode == 0, again.output[-5000:]
    return again


def test_the_test_line_passes_its_fast_tests(machine, capsys):
    line = readme_command("Run the tests")
    assert line.endswith(".venv/bin/python -m pytest"), line
    ran = machine.as_user(line + FAST_TESTS, timeout=1800)
    machine.timings[f"`{line}{FAST_TESTS}`"] = ran.seconds
    _report(capsys, machine, [ran.output])
    assert ran.returncode == 0, ran.output[-5000:]
    assert re.search(r"\d+ passed", ran.output), ran.output[-3000:]
    assert "Unable to symlink" not in ran.output


def _report(capsys: pytest.CaptureFixture[str], machine: Machine, outputs: list[str]) -> None:
    """The figures, printed whatever the outcome: the machine's timings and the builds' own."""
    steps = [
        line
        for output in outputs
        for line in output.splitlines()
        if re.search(r": (done|failed) in |^=+ .*(passed|failed).* =+$", line)
    ]
    with capsys.disabled():
        print(f"\n[newcomer on a fresh Debian 12 host {machine.name}]")
        for what, seconds in machine.timings.items():
            print(f"  {seconds:7.1f} s  {what}")
        for step in steps:
            print(f"            {step}")
