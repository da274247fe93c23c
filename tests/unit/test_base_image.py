"""The Debian base made from Debian's archive is trimmed like debian:bookworm-slim and gets security updates; where
only root can make it, the command to run as root is the build that is needed."""

from __future__ import annotations

import os
import shlex
import sys
from types import SimpleNamespace

import pytest
from docker.errors import DockerException

from tm351vce.images import base, build
from tm351vce.images.base import NeedsRoot, _tidy_rootfs
from tm351vce.images.build import BuildOptions, build_apps, build_host_image, ensure_images
from tm351vce.shelf.catalogue import load_shelf
from tm351vce.shelf.errors import OperationFailed
from tm351vce.shelf.progress import Finished


def test_tidy_rootfs_trims_docs_and_locales_and_adds_update_sources(tmp_path):
    for path in (
        "usr/share/doc/bash/README",
        "usr/share/doc/bash/copyright",
        "usr/share/doc/bash/examples/x",
        "usr/share/man/man1/bash.1.gz",
        "usr/share/locale/de/LC_MESSAGES/bash.mo",
        "usr/share/locale/locale.alias",
        "var/cache/apt/archives/bash.deb",
        "var/lib/apt/lists/deb.debian.org_Packages",
        "etc/apt/sources.list",
    ):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("x")
    (tmp_path / "etc/dpkg/dpkg.cfg.d").mkdir(parents=True)
    (tmp_path / "etc/apt/apt.conf.d").mkdir(parents=True)

    _tidy_rootfs(tmp_path)

    assert (tmp_path / "usr/share/doc/bash/copyright").exists()
    assert (tmp_path / "usr/share/locale/locale.alias").exists()
    for gone in (
        "usr/share/doc/bash/README",
        "usr/share/doc/bash/examples",
        "usr/share/man",
        "usr/share/locale/de",
        "var/cache/apt/archives/bash.deb",
        "var/lib/apt/lists/deb.debian.org_Packages",
    ):
        assert not (tmp_path / gone).exists(), gone
    sources = (tmp_path / "etc/apt/sources.list").read_text()
    assert "bookworm-security" in sources
    assert "bookworm-updates" in sources
    excludes = (tmp_path / "etc/dpkg/dpkg.cfg.d/tm351-slim").read_text()
    assert "path-exclude /usr/share/doc/*" in excludes
    assert "archives/*.deb" in (tmp_path / "etc/apt/apt.conf.d/docker-clean").read_text()


def _refuse_pull(reference: str) -> None:
    raise DockerException(f"no registry for {reference}")


# An engine that has no image and reaches no registry.
UNPULLABLE = SimpleNamespace(images=SimpleNamespace(pull=_refuse_pull))


@pytest.fixture
def no_registry_as_a_user(monkeypatch):
    monkeypatch.setattr(build, "docker_client", lambda: UNPULLABLE)
    monkeypatch.setattr(build, "image_present", lambda client, reference: False)
    monkeypatch.setattr(base, "image_present", lambda client, reference: False)
    monkeypatch.setattr(base, "find_tool", lambda name: f"/usr/sbin/{name}")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(sys, "argv", ["/home/newcomer/tm351/tasks.py", "up"])


def test_up_names_the_root_build_of_just_its_missing_images_then_itself_again(no_registry_as_a_user):
    """Not a build of every app: some need downloads this machine may not reach, and the root step would fail."""
    shelf = load_shelf()
    apps = shelf.apps_of(shelf.default_recipe)
    with pytest.raises(NeedsRoot) as refused:
        ensure_images(shelf, apps)
    names = [app.name for app in apps]
    command = f"sudo {shlex.quote(sys.executable)} /home/newcomer/tm351/tasks.py build {' '.join(names)}"
    assert f"run `{command}`" in str(refused.value)
    assert str(refused.value).endswith("Then run this command again.")


def test_build_names_itself_with_its_options_to_run_as_root(no_registry_as_a_user, tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    with pytest.raises(NeedsRoot, match=r"tasks\.py build jupyter --ca-cert " + str(bundle) + "`"):
        build_apps(load_shelf(), ["jupyter"], BuildOptions(ca_cert=bundle))
    with pytest.raises(NeedsRoot, match=r"tasks\.py build --host`"):
        build_host_image(load_shelf(), BuildOptions())


def test_debootstrap_runs_with_the_system_folders_on_its_path(monkeypatch, tmp_path):
    """debootstrap runs chroot and mount by name: a sudo without secure_path leaves /usr/sbin off PATH."""
    monkeypatch.setenv("PATH", "/usr/local/bin:/usr/bin:/bin")
    monkeypatch.setattr(base, "image_present", lambda client, reference: False)
    monkeypatch.setattr(base, "find_tool", lambda name: f"/usr/sbin/{name}")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    seen = {}

    def debootstrap(command, title, log, **options):
        seen.update(options)
        return Finished(1, ["stop here"], log)

    monkeypatch.setattr(base, "run_with_progress", debootstrap)
    with pytest.raises(OperationFailed):
        base.bootstrapped_base_image(UNPULLABLE, tmp_path, ["build"])
    assert "/usr/sbin" in seen["env"]["PATH"].split(os.pathsep)
