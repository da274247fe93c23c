"""Build step: trim.py VENV takes out of the virtual environment what nothing runs, without changing what runs.

- The packages' own test suites, but for one their code imports (PyTables imports tables.tests).
- The symbols and debug information of shared libraries that linking does not use (`strip --strip-unneeded`),
  each library kept as it was unless it still loads afterwards (strip can break a library that auditwheel's
  patchelf rewrote).
- What only compiling against a package needs (C and Cython sources, headers, static libraries): nothing
  compiles in the image, whose packages belong to root.
- Source maps of the JavaScript served to the browser (read only by its developer tools).
- Compiled bytecode (__pycache__): Python compiles a module when it imports it (the image sets
  PYTHONPYCACHEPREFIX, so that it does so once per student folder, not at every start).
Prints what it took, in MB.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

BUILD_ONLY = ("*.c", "*.cpp", "*.h", "*.hpp", "*.pyx", "*.pxd", "*.pxi", "*.a")
RELATIVE_TESTS = re.compile(r"^\s*from\s+(\.tests\b|\.\s+import\s+tests\b)", re.M)


def size(paths: Iterable[Path]) -> int:
    total = 0
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            total += sum(item.stat().st_size for item in path.rglob("*") if item.is_file() and not item.is_symlink())
        elif path.is_file() and not path.is_symlink():
            total += path.stat().st_size
    return total


def remove(paths: list[Path], what: str) -> None:
    taken = size(paths)
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    print(f"trim: {what}: {len(paths)} removed, {taken / 1e6:.0f} MB")


def imported(tests: Path, site_packages: Path) -> bool:
    """Whether code of its package outside the test suites imports this tests package (by its dotted name, or
    relatively from the package that holds it)."""
    dotted = ".".join(tests.relative_to(site_packages).parts)
    absolute = re.compile(rf"^\s*(from|import)\s+{re.escape(dotted)}\b", re.M)
    top = site_packages / tests.relative_to(site_packages).parts[0]
    for module in top.rglob("*.py"):
        if "tests" in module.relative_to(top).parts or module.name == "conftest.py":
            continue
        text = module.read_text(encoding="utf-8", errors="replace")
        if absolute.search(text) or (module.parent == tests.parent and RELATIVE_TESTS.search(text)):
            return True
    return False


def loads(library: Path) -> bool:
    """Whether the dynamic loader takes the library (in a process of its own, which a bad one may crash)."""
    check = f"import ctypes; ctypes.CDLL({str(library)!r})"
    return subprocess.run([sys.executable, "-c", check], capture_output=True, check=False).returncode == 0


def is_elf(path: Path) -> bool:
    with path.open("rb") as opened:
        return opened.read(4) == b"\x7fELF"


def strip(libraries: Iterable[Path]) -> None:
    before = after = count = 0
    for library in libraries:
        if library.is_symlink() or not is_elf(library) or not loads(library):
            continue
        original = library.with_name(library.name + ".unstripped")
        shutil.copy2(library, original)
        subprocess.run(["strip", "--strip-unneeded", str(library)], check=True)
        # A library that strip broke no longer loads: the original goes back.
        if not loads(library):
            original.replace(library)
            print(f"trim: kept {library} as it was: stripped, it would not load")
            continue
        before += original.stat().st_size
        after += library.stat().st_size
        count += 1
        original.unlink()
    print(f"trim: symbols: {count} libraries stripped, {(before - after) / 1e6:.0f} MB")


def main(venv: Path) -> None:
    start = size([venv])
    site_packages = next(venv.glob("lib/python3*/site-packages"))
    tests = [path for path in site_packages.rglob("tests") if path.is_dir()]
    tests = [path for path in tests if not any(parent in tests for parent in path.parents)]
    kept = [path for path in tests if imported(path, site_packages)]
    for path in kept:
        print(f"trim: kept {path}: its package imports it")
    remove([path for path in tests if path not in kept], "test suites")
    strip(path for path in venv.rglob("*.so*") if path.is_file())
    remove([path for pattern in BUILD_ONLY for path in venv.rglob(pattern) if path.is_file()], "build-only files")
    remove([path for path in venv.rglob("*.map") if path.is_file()], "source maps")
    remove([path for path in venv.rglob("__pycache__") if path.is_dir()], "compiled bytecode")
    print(f"trim: {venv}: {start / 1e6:.0f} MB to {size([venv]) / 1e6:.0f} MB")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
