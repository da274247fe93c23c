#!/usr/bin/env python3
"""Pin an image's requirements.in into its requirements.txt, resolved for the Python in the image.

    python images/lock_requirements.py images/jupyter [images/dashboard ...]

The images run Debian bookworm's Python 3.11.2, which some newer releases refuse (Requires-Python
>=3.11.5), so pip resolves for that version and for wheels only, without installing anything, once for
each architecture the images are built for (x86_64 and aarch64). A requirement whose wheels differ by
architecture carries a `platform_machine` marker in requirements.in; the lock evaluates those markers
itself, and pins a package with such a marker only where the two resolutions disagree.

A `--no-binary NAME,...` line in requirements.in names the packages PyPI has only as source (they must
be pure Python): the lock builds each into a wheel to resolve with, and the lock file keeps the line, so the
image builds those from source and takes everything else as a wheel. A package that depends on one of
them (even indirectly) fails to resolve until it is named there.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

IMAGE_PYTHON = "3.11.2"
# Debian bookworm's glibc is 2.36: every manylinux wheel up to that runs in the images.
GLIBC_MINOR = 36
ARCHITECTURES = ("x86_64", "aarch64")
HEADER = f"""# Pinned from requirements.in for Debian bookworm's Python {IMAGE_PYTHON} on {" and ".join(ARCHITECTURES)}
# by images/lock_requirements.py; edit requirements.in, then run that script again.
"""


class LockError(Exception):
    """requirements.in cannot be locked: the message says why."""


@dataclass(frozen=True)
class Wanted:
    requirements: list[Requirement]
    # Packages only published as source, built from it (`--no-binary` in requirements.in).
    from_source: list[str]


def read_wanted(path: Path) -> Wanted:
    """The requirements of path and of the files it includes (`-r FILE`, relative to it)."""
    requirements: list[Requirement] = []
    from_source: list[str] = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        option, _, value = line.partition(" ")
        if option == "--no-binary":
            from_source += [canonicalize_name(name) for name in value.split(",") if name.strip()]
        elif option in ("-r", "--requirement"):
            included = read_wanted(path.parent / value.strip())
            requirements += included.requirements
            from_source += included.from_source
        elif line.startswith("-"):
            raise LockError(f"{path}:{number}: only -r and --no-binary are understood among pip's options: {line}")
        else:
            try:
                requirements.append(Requirement(line))
            except InvalidRequirement as error:
                raise LockError(f"{path}:{number}: {error}") from None
    return Wanted(requirements, from_source)


def environment(machine: str) -> dict[str, str]:
    """The marker environment of the images' Python on that architecture."""
    return {
        "implementation_name": "cpython",
        "implementation_version": IMAGE_PYTHON,
        "os_name": "posix",
        "platform_machine": machine,
        "platform_python_implementation": "CPython",
        "platform_system": "Linux",
        "python_full_version": IMAGE_PYTHON,
        "python_version": IMAGE_PYTHON.rsplit(".", 1)[0],
        "sys_platform": "linux",
        "extra": "",
    }


def for_machine(requirements: Iterable[Requirement], machine: str) -> list[str]:
    """The requirements that apply on that architecture, their markers dropped (pip would read the build
    machine's)."""
    chosen = []
    for requirement in requirements:
        if requirement.marker is None or requirement.marker.evaluate(environment(machine)):
            bare = Requirement(str(requirement))
            bare.marker = None
            chosen.append(str(bare))
    return chosen


def platform_tags(machine: str) -> list[str]:
    return [f"manylinux_2_{minor}_{machine}" for minor in range(GLIBC_MINOR, 16, -1)] + [f"manylinux2014_{machine}"]


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", *args], check=True)


def build_source_wheels(wanted: Wanted, wheels: Path) -> None:
    """Wheels of the packages published only as source, to resolve with: the version requirements.in asks for,
    else the newest. Each must be pure Python, as the image builds it without a compiler."""
    if not wanted.from_source:
        return
    asked = {canonicalize_name(requirement.name): str(requirement) for requirement in wanted.requirements}
    specs = [asked.get(name, name) for name in wanted.from_source]
    source_only = ",".join(wanted.from_source)
    pip("wheel", "--quiet", "--no-deps", "--no-binary", source_only, "--wheel-dir", str(wheels), *specs)
    for wheel in wheels.glob("*.whl"):
        _, _, _, tags = parse_wheel_filename(wheel.name)
        if any(tag.platform != "any" for tag in tags):
            raise LockError(f"{wheel.name}: --no-binary is for pure Python packages; this one builds native code")


def resolve(requirements: list[str], machine: str, wheels: Path, workdir: Path) -> dict[str, tuple[str, str]]:
    """canonical name -> (name as published, version) of everything pip would install on that architecture."""
    listed = workdir / f"requirements-{machine}.in"
    listed.write_text("\n".join(requirements) + "\n", encoding="utf-8")
    report = workdir / f"report-{machine}.json"
    platforms = [option for tag in platform_tags(machine) for option in ("--platform", tag)]
    pip(
        "install",
        "--quiet",
        "--dry-run",
        "--ignore-installed",
        "--python-version",
        IMAGE_PYTHON,
        *platforms,
        "--only-binary",
        ":all:",
        "--find-links",
        str(wheels),
        "--target",
        str(workdir / "target"),
        "--requirement",
        str(listed),
        "--report",
        str(report),
    )
    installed = json.loads(report.read_text(encoding="utf-8"))["install"]
    return {
        canonicalize_name(item["metadata"]["name"]): (item["metadata"]["name"].lower(), item["metadata"]["version"])
        for item in installed
    }


def pins(resolved: Mapping[str, Mapping[str, tuple[str, str]]]) -> list[str]:
    """One pin per package; where the architectures differ, one per architecture with its marker."""
    lines = []
    for name in sorted(set().union(*resolved.values())):
        found = {machine: packages.get(name) for machine, packages in resolved.items()}
        if len(set(found.values())) == 1:
            published, version = next(iter(found.values()))  # type: ignore[misc]
            lines.append(f"{published}=={version}")
            continue
        for machine, pin in found.items():
            if pin is not None:
                lines.append(f'{pin[0]}=={pin[1]}; platform_machine == "{machine}"')
    return lines


def lock(image_dir: Path) -> None:
    wanted = read_wanted(image_dir / "requirements.in")
    with tempfile.TemporaryDirectory() as workdir:
        work = Path(workdir)
        wheels = work / "wheels"
        wheels.mkdir()
        build_source_wheels(wanted, wheels)
        resolved = {
            machine: resolve(for_machine(wanted.requirements, machine), machine, wheels, work)
            for machine in ARCHITECTURES
        }
    options = ["--only-binary :all:"]
    if wanted.from_source:
        options.append(f"--no-binary {','.join(wanted.from_source)}")
    lines = pins(resolved)
    (image_dir / "requirements.txt").write_text(HEADER + "\n".join([*options, *lines]) + "\n", encoding="utf-8")
    print(f"{image_dir / 'requirements.txt'}: {len(lines)} pins")


if __name__ == "__main__":
    try:
        for folder in sys.argv[1:] or ["images/jupyter", "images/dashboard"]:
            lock(Path(folder))
    except LockError as problem:
        sys.exit(str(problem))
    except subprocess.CalledProcessError as failed:
        sys.exit(f"pip failed (exit {failed.returncode}); its messages are above.")
