"""Folders import only downward: the shelf model at the bottom, the CLI on top, no cycle between folders."""

from __future__ import annotations

import ast
import functools

from tests.helpers.cli import REPO

# Each folder, with the folders it may import; nothing may import a folder that is not listed below it.
LAYERS = {
    "shelf": set(),
    "compose": {"shelf"},
    "images": {"shelf"},
    "provision": {"shelf", "compose", "images"},
    "hosts": {"shelf", "compose", "images", "provision"},
    "vagrant": {"shelf", "compose", "images", "provision", "hosts"},
    "ami": {"shelf", "compose", "images", "provision", "hosts"},
}
# Programs that run inside an image import only their own package.
IMAGE_PROGRAMS = ("images/dashboard/tm351_dashboard", "images/jupyter/docx_exporter")


def _folder(module: str) -> str:
    """The project folder a module name is in (`tm351vce.hosts.local` is in hosts), else its top name."""
    parts = module.split(".")
    return parts[1] if parts[0] == "tm351vce" and len(parts) > 1 else parts[0]


@functools.cache
def nodes(module: str) -> tuple[ast.AST, ...]:
    """Every node of a module's syntax tree (parsed once for all the tests here)."""
    return tuple(ast.walk(ast.parse((REPO / module).read_text(encoding="utf-8"))))


def imported_folders(folder: str) -> dict[str, set[str]]:
    """{module path: project folders it imports}, for every module of one folder."""
    found = {}
    for path in sorted((REPO / folder).rglob("*.py")):
        relative = path.relative_to(REPO).as_posix()
        if relative.startswith(IMAGE_PROGRAMS):
            continue
        names: set[str] = set()
        for node in nodes(relative):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(_folder(node.module))
            elif isinstance(node, ast.Import):
                names.update(_folder(alias.name) for alias in node.names)
        found[relative] = {name for name in names if name in LAYERS and name != folder}
    return found


def test_every_folder_imports_only_the_layers_below_it():
    wrong = [
        f"{module} imports {', '.join(sorted(used - LAYERS[folder]))}"
        for folder in LAYERS
        for module, used in imported_folders(folder).items()
        if used - LAYERS[folder]
    ]
    assert not wrong, "\n".join(wrong)


def test_the_shelf_model_imports_nothing_of_the_project():
    assert imported_folders("shelf"), "the shelf package has modules"
    assert all(not used for used in imported_folders("shelf").values())


def test_only_the_cli_loads_the_shelf():
    callers = [
        f"{module}:{node.lineno}"
        for folder in LAYERS
        for module in imported_folders(folder)
        for node in nodes(module)
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "load_shelf"
    ]
    assert not callers, "load the shelf in tasks.py and pass it down: " + ", ".join(callers)
