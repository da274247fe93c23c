"""Finding the programs the project runs, including those Debian installs in /usr/sbin and /sbin, which are not
on a normal user's PATH (debootstrap, losetup), and saying how to run a command as root with this same Python."""

from __future__ import annotations

import os
import shlex
import shutil
import sys

SYSTEM_DIRS = ("/usr/local/sbin", "/usr/sbin", "/sbin")


def system_path() -> str:
    """PATH with the system folders after it: tools such as debootstrap run chroot and mount by name."""
    return os.pathsep.join([os.environ.get("PATH", os.defpath), *SYSTEM_DIRS])


def find_tool(name: str) -> str | None:
    return shutil.which(name, path=system_path())


def as_root(*args: str) -> str:
    """`sudo` and this very program by its full path: sudo drops a virtual environment's PATH, so a bare `python`
    (or `tm351`) would be another program, or none. A script (tasks.py) runs with this very interpreter."""
    program = os.path.abspath(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    if program.endswith(".py"):
        return shlex.join(["sudo", sys.executable, program, *args])
    if os.path.isfile(program) and os.access(program, os.X_OK):  # the `tm351` command of `pip install .`
        return shlex.join(["sudo", program, *args])
    return shlex.join(["sudo", sys.executable, "tasks.py", *args])
