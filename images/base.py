"""The base image every app image is built on: pulled, or made from Debian's archive."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import docker
from docker.errors import DockerException

from tm351vce.shelf.constants import DEBIAN_MIRROR, DEBIAN_SECURITY_MIRROR, DEBIAN_SUITE
from tm351vce.shelf.engine import image_present
from tm351vce.shelf.errors import OperationFailed, UsageProblem
from tm351vce.shelf.progress import console, run_with_progress
from tm351vce.shelf.tools import as_root, find_tool, system_path

# The tag names the recipe's revision, so a changed recipe makes a new image rather than reusing an old one.
BOOTSTRAPPED_BASE_IMAGE = "tm351/debian-base:bookworm-r3"
# debootstrap writes only the main suite; the image should get point and security updates too.
APT_SOURCES = f"""deb {DEBIAN_MIRROR} {DEBIAN_SUITE} main
deb {DEBIAN_MIRROR} {DEBIAN_SUITE}-updates main
deb {DEBIAN_SECURITY_MIRROR} {DEBIAN_SUITE}-security main
"""
# What debian:bookworm-slim leaves out, and every package installed later leaves out too: the foundation
# image's own list, so that a base made here and debian:bookworm-slim trim the same.
DPKG_EXCLUDES = (Path(__file__).with_name("foundation") / "dpkg-excludes").read_text()
# As in Debian's container images: apt keeps no downloaded packages, so no image carries them.
_REMOVE_DOWNLOADS = "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin"
APT_NO_CACHE = f"""DPkg::Post-Invoke {{ "{_REMOVE_DOWNLOADS} || true"; }};
APT::Update::Post-Invoke {{ "{_REMOVE_DOWNLOADS} || true"; }};
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
"""


class NeedsRoot(UsageProblem):
    """Only root can make the base image: the message names the build to run as root."""


def resolve_base_image(
    client: docker.DockerClient, requested: str, bootstrap: bool, log_dir: Path, as_root_build: Sequence[str]
) -> str:
    """The base image to build on: the requested one if present or pullable, else one made by debootstrap.
    as_root_build: the command line (`build ...`) to name when only root can make it."""
    if bootstrap:
        return bootstrapped_base_image(client, log_dir, as_root_build)
    if image_present(client, requested):
        return requested
    try:
        console.print(f"Pulling base image {requested} ...")
        client.images.pull(requested)
        return requested
    except DockerException as error:
        reason = getattr(error, "explanation", None) or str(error)
        console.print(
            f"[yellow]Could not pull {requested}[/yellow] ({reason.splitlines()[0][:160]}); "
            "making a Debian base image from Debian's archive instead (--bootstrap-base)."
        )
    return bootstrapped_base_image(client, log_dir, as_root_build)


def bootstrapped_base_image(client: docker.DockerClient, log_dir: Path, as_root_build: Sequence[str]) -> str:
    if image_present(client, BOOTSTRAPPED_BASE_IMAGE):
        console.print(f"Using the Debian base image made earlier from Debian's archive: {BOOTSTRAPPED_BASE_IMAGE}")
        return BOOTSTRAPPED_BASE_IMAGE
    debootstrap = find_tool("debootstrap")
    if debootstrap is None:
        raise UsageProblem(
            "debootstrap is not installed, so no base image can be made from Debian's archive: "
            "install it (`sudo apt-get install debootstrap`), or build on an image your engine can pull with "
            "`build --base-image IMAGE`."
        )
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        raise NeedsRoot(
            f"Making a base image with debootstrap needs root, once: run `{as_root(*as_root_build)}` (it makes the "
            "base image and builds on it), or build on an image your engine can pull with `build --base-image IMAGE`."
        )
    with tempfile.TemporaryDirectory(prefix="tm351-rootfs-") as workdir:
        rootfs = Path(workdir) / "rootfs"
        finished = run_with_progress(
            [debootstrap, "--variant=minbase", DEBIAN_SUITE, str(rootfs), DEBIAN_MIRROR],
            f"Making {BOOTSTRAPPED_BASE_IMAGE} from Debian's archive (debootstrap)",
            log_dir / "debootstrap.log",
            env={**os.environ, "PATH": system_path()},
        )
        if not finished.ok:
            raise OperationFailed(
                f"debootstrap failed (exit {finished.returncode}); full log: {finished.log}", "\n".join(finished.tail)
            )
        _tidy_rootfs(rootfs)
        _import_rootfs(rootfs, BOOTSTRAPPED_BASE_IMAGE)
    console.print(f"Made base image {BOOTSTRAPPED_BASE_IMAGE} from Debian's archive.")
    return BOOTSTRAPPED_BASE_IMAGE


def _tidy_rootfs(rootfs: Path) -> None:
    (rootfs / "etc/apt/sources.list").write_text(APT_SOURCES)
    (rootfs / "etc/dpkg/dpkg.cfg.d/tm351-slim").write_text(DPKG_EXCLUDES)
    (rootfs / "etc/apt/apt.conf.d/docker-clean").write_text(APT_NO_CACHE)
    for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for entry in (rootfs / cache).glob("*"):
            if entry.is_file():
                entry.unlink()
    for folder in ("usr/share/man", "usr/share/groff", "usr/share/info", "usr/share/lintian"):
        shutil.rmtree(rootfs / folder, ignore_errors=True)
    for entry in (rootfs / "usr/share/locale").glob("*"):
        if entry.name != "locale.alias":
            shutil.rmtree(entry, ignore_errors=True)
    for entry in (rootfs / "usr/share/doc").glob("*/*"):
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        elif entry.name != "copyright":
            entry.unlink()


def _import_rootfs(rootfs: Path, tag: str) -> None:
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    try:
        imported = subprocess.run(
            ["docker", "import", "--change", 'CMD ["bash"]', "-", tag],
            stdin=tar.stdout,
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        if tar.stdout is not None:
            tar.stdout.close()
        tar.wait()
    if imported.returncode != 0 or tar.returncode != 0:
        raise OperationFailed(f"Importing the Debian root filesystem as {tag} failed: {imported.stderr.strip()}")
