"""`up jupyter` end to end on the real engine, then what a student relies on: the token, files, persistence."""

from __future__ import annotations

import json
import os
import socket
import time

import pytest

from compose.catalogue import load_shelf
from compose.progress import LOG_DIR
from tests.conftest import run_cli
from tests.integration.conftest import free_port, remove_project
from tests.integration.jupyter_kernel import execute

pytestmark = pytest.mark.integration

STACK_IMPORTS = """
import pandas, numpy, matplotlib, seaborn, sqlalchemy, psycopg, pymongo, ipywidgets, nbdime, sql
print("imported", pandas.__version__)
"""


@pytest.fixture(scope="module")
def running(built, stack):
    started = time.monotonic()
    result = stack.up("jupyter", timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    stack.seconds_to_healthy = time.monotonic() - started
    return stack


def test_image_is_labelled_and_has_a_healthcheck(built):
    config = built.attrs["Config"]
    assert config["Labels"]["org.opencontainers.image.version"] == load_shelf().version
    assert config["Healthcheck"]["Test"]
    assert config["Entrypoint"][0] == "tini"


def test_rebuild_with_nothing_changed_uses_the_cache(built, cli):
    result = cli("build", "jupyter")
    assert result.returncode == 0, result.stderr
    text = (LOG_DIR / "build.log").read_text()
    assert "pip install" in text
    assert "CACHED" in text
    assert "Installing collected packages" not in text


def test_up_prints_the_url_and_becomes_healthy_within_60s(running):
    status = json.loads(running.cli("status", "--json").stdout)
    assert status["recipe"] == "jupyter"
    assert status["url"] == running.url("/jupyter/")
    (service,) = status["services"]
    assert service["name"] == "jupyter"
    assert service["state"] == "running"
    assert service["health"] == "healthy"
    assert 0 < service["memory_mib"] < load_shelf().apps["jupyter"].memory_mib
    assert running.seconds_to_healthy < 60


def test_port_is_published_on_loopback_only(running, engine):
    (container,) = engine.containers.list(filters={"label": f"com.docker.compose.project={running.project}"})
    bindings = container.attrs["HostConfig"]["PortBindings"]
    assert [binding["HostIp"] for ports in bindings.values() for binding in ports] == ["127.0.0.1"]


def test_api_refuses_requests_without_the_right_token(running):
    assert running.get("/jupyter/api/contents").status_code == 403
    assert running.get("/jupyter/api/contents", token="x" * 32).status_code == 403
    assert running.get("/jupyter/api/contents", token=running.token()).status_code == 200


def test_password_command_prints_the_token(running):
    result = running.cli("password", "--data-dir", str(running.data_dir))
    assert result.returncode == 0
    assert result.stdout.strip() == running.token()


def test_logs_of_one_service_and_an_unknown_one(running):
    result = running.cli("logs", "jupyter", "--lines", "50")
    assert result.returncode == 0
    assert "Jupyter Server" in result.stdout
    assert running.token() not in result.stdout
    unknown = running.cli("logs", "nosuch")
    assert unknown.returncode == 2
    assert "choose one of jupyter" in unknown.stderr


def test_kernel_imports_the_stack_and_writes_a_file_owned_by_the_host_user(running):
    code = STACK_IMPORTS + "open('notebooks/from-kernel.txt', 'w').write('kept')\n"
    result = execute(running.url("/jupyter/"), running.token(), code)
    assert result.status == "ok", result.errors
    assert "imported" in result.stdout
    written = running.data_dir / "notebooks" / "from-kernel.txt"
    assert written.read_text() == "kept"
    assert written.stat().st_uid == os.getuid()
    assert written.stat().st_gid == os.getgid()


def test_port_in_use_is_one_line_naming_the_port(running, tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        busy = holder.getsockname()[1]
        other = running.__class__(project=running.project + "-busy", port=busy, data_dir=tmp_path)
        result = other.up("jupyter", timeout=120)
    assert result.returncode == 2
    assert f"Port {busy}" in result.stderr
    assert "--port" in result.stderr
    assert "Traceback" not in result.stderr


def test_down_then_up_keeps_files_and_state(running, engine):
    home_file = execute(running.url("/jupyter/"), running.token(), "open('/home/student/state.txt','w').write('x')")
    assert home_file.status == "ok"
    assert running.cli("down").returncode == 0
    assert not engine.containers.list(all=True, filters={"label": f"com.docker.compose.project={running.project}"})
    result = running.up("jupyter", timeout=120)
    assert result.returncode == 0, result.stderr
    assert (running.data_dir / "notebooks" / "from-kernel.txt").read_text() == "kept"
    check = execute(running.url("/jupyter/"), running.token(), "print(open('/home/student/state.txt').read())")
    assert check.stdout.strip() == "x"


def test_purge_asks_first_then_removes_volumes_but_not_the_folder(running, engine):
    volumes = {"label": f"com.docker.compose.project={running.project}"}
    assert engine.volumes.list(filters=volumes)
    refused = running.cli("down", "--purge")  # no terminal to confirm on
    assert refused.returncode == 2
    assert "--yes" in refused.stderr
    assert engine.volumes.list(filters=volumes)
    result = running.cli("down", "--purge", "--yes")
    assert result.returncode == 0, result.stderr
    assert not engine.volumes.list(filters=volumes)
    assert (running.data_dir / "notebooks" / "from-kernel.txt").read_text() == "kept"
    assert (running.data_dir / ".tm351" / "jupyter_token").is_file()


def test_a_service_that_fails_to_start_is_reported_with_its_logs(built, engine, tmp_path):
    project = "tm351-test-broken"
    secrets = tmp_path / ".tm351"
    secrets.mkdir(mode=0o700)
    (secrets / "jupyter_token").write_text("short\n")  # the image refuses a token under 16 characters
    try:
        result = run_cli(
            "up",
            "jupyter",
            "--data-dir",
            str(tmp_path),
            "--port",
            str(free_port()),
            env={"TM351_PROJECT": project},
            timeout=300,
        )
        assert result.returncode == 1
        assert "did not become healthy" in result.stderr
        assert "shorter than 16 characters" in result.stderr
        assert "Traceback" not in result.stderr
    finally:
        remove_project(engine, project)
