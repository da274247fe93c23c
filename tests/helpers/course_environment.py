"""The course's Python environment as the Jupyter image must hold it: the distributions of its list
(images/jupyter/course.in) at the versions of the image's lock (requirements.txt), and the check a student's kernel
runs to see that each is there and imports."""

from __future__ import annotations

import importlib.metadata as metadata
import inspect
import json
import re
import subprocess
import sys

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tm351vce.images.lock_requirements import environment, read_wanted
from tm351vce.shelf.catalogue import PROJECT_ROOT

JUPYTER_DIR = PROJECT_ROOT / "images" / "jupyter"
# Docker's names for the architectures, and Python's (platform.machine(), the lock's markers).
MACHINES = {"amd64": "x86_64", "arm64": "aarch64"}
# Imported a few distributions to a process: all of them at once outgrow Jupyter's memory limit (540 MiB measured).
BATCH = 5


def course_pins(machine: str) -> dict[str, str]:
    """Each distribution of the course's list that applies on the machine (x86_64, aarch64), with its version in
    the lock."""
    applies = environment(machine)
    wanted = read_wanted(JUPYTER_DIR / "course.in")
    names = [
        canonicalize_name(req.name) for req in wanted.requirements if not req.marker or req.marker.evaluate(applies)
    ]
    locked = {}
    for line in (JUPYTER_DIR / "requirements.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith(("#", "-")):
            pin = Requirement(line)
            if not pin.marker or pin.marker.evaluate(applies):
                (specifier,) = pin.specifier
                locked[canonicalize_name(pin.name)] = specifier.version
    return {name: locked[name] for name in names}


# What each child process runs: the modules, as a notebook's cells import them (IPython's run_cell).
IMPORT_IN_A_SHELL = """
import json, sys
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
for module in json.loads(sys.argv[1]):
    result = shell.run_cell("import " + module, silent=True)
    if not result.success:
        print(json.dumps([module, repr(result.error_in_exec or result.error_before_exec)]), flush=True)
"""


def check_course_environment(pins: dict[str, str]) -> dict:
    """Run in the student's kernel: each distribution at its pinned version and importable (the module named as
    the distribution where there is one, else every top-level module it installs); a distribution that is a
    JupyterLab extension is looked for among the extensions JupyterLab loads instead. Returns the problems found.
    Uses only the standard library, as it runs in the image's Python."""

    def canonical(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    top_levels: dict[str, set[str]] = {}
    for module, distributions in metadata.packages_distributions().items():
        for distribution in distributions:
            if module.isidentifier():
                top_levels.setdefault(canonical(distribution), set()).add(module)
    labextension = re.compile(r"share/jupyter/labextensions/((?:@[^/]+/)?[^/@]+)/package\.json$")
    problems: list[str] = []
    modules: list[tuple[str, str]] = []
    extensions: dict[str, list[str]] = {}
    for name, pinned in sorted(pins.items()):
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            problems.append(f"{name}: not installed")
            continue
        if installed != pinned:
            problems.append(f"{name}: {installed} installed, not {pinned}")
        files = [str(path) for path in metadata.distribution(name).files or ()]
        found = [match[1] for match in map(labextension.search, files) if match]
        if found:
            extensions[name] = found
            continue
        own = [module for module in top_levels.get(name, ()) if canonical(module) == name]
        chosen = sorted(own or top_levels.get(name, ()))
        if not chosen:
            problems.append(f"{name}: installs no module to import")
        modules += [(name, module) for module in chosen]
    for start in range(0, len(modules), BATCH):
        batch = modules[start : start + BATCH]
        child = subprocess.run(
            [sys.executable, "-c", IMPORT_IN_A_SHELL, json.dumps([module for _, module in batch])],
            capture_output=True,
            text=True,
            check=False,
        )
        failed = dict(json.loads(line) for line in child.stdout.splitlines() if line.startswith("["))
        problems += [f"{name}: import {module}: {failed[module]}" for name, module in batch if module in failed]
        if child.returncode:
            problems.append(f"importing {batch} exited with {child.returncode}: {child.stderr[-800:]}")
    listed = subprocess.run(["jupyter", "labextension", "list"], capture_output=True, text=True, check=False)
    listing = re.sub(r"\x1b\[[0-9;]*m", "", listed.stdout + listed.stderr)
    for name, found in extensions.items():
        for extension in found:
            if not re.search(rf"^\s*{re.escape(extension)} v\S+ enabled\s+OK", listing, re.M):
                problems.append(f"{name}: JupyterLab extension {extension} is not enabled and OK")
    return {"problems": problems, "imported": len(modules), "extensions": len(extensions)}


def kernel_code(pins: dict[str, str]) -> str:
    """The cell that runs check_course_environment in a kernel and prints its answer as JSON."""
    return "\n".join(
        [
            "import importlib.metadata as metadata, json, re, subprocess, sys",
            f"BATCH = {BATCH}",
            f"IMPORT_IN_A_SHELL = {IMPORT_IN_A_SHELL!r}",
            inspect.getsource(check_course_environment),
            f"print(json.dumps(check_course_environment({pins!r})))",
        ]
    )
