"""`up jupyter` end to end on the real engine, used as a student would: through the gateway, with the password."""

from __future__ import annotations

import io
import json
import os
import socket
import time
import zipfile

import pytest
import requests
import websocket

from tests.helpers.cli import run_cli
from tests.helpers.jupyter_kernel import browser_session
from tests.helpers.net import free_port
from tests.helpers.stacks import remove_project
from tm351vce.shelf.catalogue import load_shelf

STACK_IMPORTS = """
import pandas, numpy, matplotlib, seaborn, sqlalchemy, psycopg, psycopg2, pymongo, ipywidgets, nbdime, sql
print("imported", pandas.__version__)
"""


@pytest.fixture(scope="module")
def running(built, stack):
    started = time.monotonic()
    result = stack.up("jupyter", timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    stack.seconds_to_healthy = time.monotonic() - started
    assert stack.url("/jupyter/") in result.stdout
    assert "python3 tasks.py password" in result.stdout
    return stack


def test_image_is_labelled_and_has_a_healthcheck(built):
    config = built.attrs["Config"]
    assert config["Labels"]["org.opencontainers.image.version"] == load_shelf().version
    assert config["Healthcheck"]["Test"]
    assert config["Entrypoint"][0] == "tini"


def test_rebuild_with_nothing_changed_uses_the_cache(built, cli, tmp_path):
    # A log of its own: another build on this machine may start as soon as this one ends.
    result = cli("build", "jupyter", env={"XDG_CACHE_HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "tm351" / "build.log").read_text()
    assert "pip install" in text
    assert "CACHED" in text
    assert "Installing collected packages" not in text


def test_up_becomes_healthy_within_60s(running):
    status = json.loads(running.cli("status", "--json").stdout)
    assert status["recipe"] == "jupyter"
    assert status["url"] == running.url("/jupyter/")
    assert {service["name"] for service in status["services"]} == {"dashboard", "gateway", "jupyter"}
    for service in status["services"]:
        assert (service["state"], service["health"]) == ("running", "healthy")
        assert 0 < service["memory_mib"] < load_shelf().apps[service["name"]].fit_mib
    assert running.seconds_to_healthy < 60


def test_only_the_gateway_is_published_and_only_on_loopback(running, engine):
    published = {}
    for container in engine.containers.list(filters={"label": f"com.docker.compose.project={running.project}"}):
        bindings = container.attrs["HostConfig"]["PortBindings"] or {}
        published[container.labels["org.tm351.app"]] = [b["HostIp"] for ports in bindings.values() for b in ports]
    assert published == {"dashboard": [], "gateway": ["127.0.0.1"], "jupyter": []}


def test_login_is_required_for_everything_but_health(running):
    assert running.get("/healthz").status_code == 200
    for path in ("/", "/jupyter/", "/jupyter/api/contents", "/jupyter/lab"):
        assert running.get(path).status_code == 401, path
        assert running.get(path, running.login("not-the-password-at-all")).status_code == 401, path
    assert running.get("/jupyter/api/contents", running.login()).status_code == 200
    home = running.get("/", running.login())
    assert home.url == running.url("/jupyter/lab")


def test_wrong_logins_are_throttled_but_the_right_one_and_a_logged_in_browser_pass(running, engine):
    """A brute force from one client: a burst of tries, then 429 until it slows down, and no flood in the log."""
    started = time.monotonic()
    statuses = [running.get("/jupyter/api/contents", running.login(f"guess-{n}")).status_code for n in range(80)]
    elapsed = time.monotonic() - started
    assert set(statuses) == {401, 429}, statuses
    assert statuses.count(401) <= 20 + 2 * elapsed + 1, (statuses, elapsed)
    assert running.get("/jupyter/api/contents", running.login()).status_code == 200  # the student still gets in
    browser = requests.Session()  # keeps the cookie a logged-in answer carries, as a browser does
    assert browser.get(running.url("/jupyter/lab"), headers=running.login(), timeout=10).status_code == 200
    # The bucket drains by two tries a second, so a slow machine may let one or two through before it answers 429.
    anonymous = [requests.get(running.url("/jupyter/lab"), timeout=10) for _ in range(10)]
    throttled = next((answer for answer in anonymous if answer.status_code == 429), anonymous[-1])
    assert throttled.status_code == 429 and "Too many wrong logins" in throttled.text, [
        answer.status_code for answer in anonymous
    ]
    assert "tm351_login" not in throttled.headers.get("Set-Cookie", "")
    assert "tm351_login" not in requests.get(running.url("/healthz"), timeout=10).headers.get("Set-Cookie", "")
    assert browser.get(running.url("/jupyter/lab"), timeout=10).status_code != 429
    (gateway,) = engine.containers.list(
        filters={"label": [f"com.docker.compose.project={running.project}", "org.tm351.app=gateway"]}
    )
    assert '" 429 ' not in gateway.logs().decode(errors="replace")
    deadline = time.monotonic() + 30
    while running.get("/jupyter/api/contents", running.login("one-more-guess")).status_code == 429:
        assert time.monotonic() < deadline, "still throttled 30 s after the brute force stopped"
        time.sleep(1)


def test_jupyter_keeps_its_own_token(running):
    """Without the gateway's token header, Jupyter itself refuses: it is not reachable without it."""
    code = (
        "import urllib.request\n"
        "try:\n"
        "    urllib.request.urlopen('http://127.0.0.1:8888/jupyter/api/contents')\n"
        "except Exception as error:\n"
        "    print(error.code)\n"
    )
    result = running.run(code)
    assert result.stdout.strip() == "403"


def test_gateway_headers_hide_the_version_and_protect_the_page(running):
    response = running.get("/jupyter/lab", running.login())
    assert response.status_code == 200
    assert response.headers["Server"] == "nginx"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in response.headers["Content-Security-Policy"]
    assert "," not in response.headers["X-Frame-Options"]  # one header, not the app's and the gateway's


@pytest.mark.needs("ps")
def test_gateway_runs_unprivileged(running, engine):
    (gateway,) = engine.containers.list(
        filters={"label": [f"com.docker.compose.project={running.project}", "org.tm351.app=gateway"]}
    )
    processes = gateway.top(ps_args="-o pid,uid,comm")["Processes"]
    nginx_uids = {int(uid) for _, uid, command in processes if command == "nginx"}
    assert nginx_uids, processes
    assert 0 not in nginx_uids


def test_websockets_work_through_the_gateway(running):
    refused = pytest.raises(websocket.WebSocketBadStatusException)
    with refused:
        websocket.create_connection(running.url("/jupyter/api/events/subscribe").replace("http", "ws"), timeout=10)
    result = running.run("print(6 * 7)")
    assert result.status == "ok", result.errors
    assert result.stdout.strip() == "42"


def test_the_notebooks_folder_downloads_as_one_zip(running):
    """The file browser's Download as an Archive (jupyter-archive), as JupyterLab asks for it."""
    notebooks = running.data_dir / "notebooks"
    (notebooks / "unit1").mkdir(exist_ok=True)
    (notebooks / "unit1" / "activity.ipynb").write_text('{"cells": []}')
    (notebooks / "draft.ipynb").write_text("{}")
    # JupyterLab's page sets Jupyter's _xsrf cookie and the menu item sends it back in the URL, as Jupyter asks.
    lab = browser_session(running.url("/jupyter/"), running.login())
    query = f"archiveToken=1&archiveFormat=zip&followSymlinks=false&downloadHidden=false&_xsrf={lab.cookies['_xsrf']}"
    response = lab.get(running.url(f"/jupyter/directories/notebooks?{query}"), timeout=60)
    assert response.status_code == 200, response.text[:300]
    assert "notebooks.zip" in response.headers["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        names = set(archive.namelist())
        assert archive.read("notebooks/unit1/activity.ipynb") == b'{"cells": []}'
    assert "notebooks/draft.ipynb" in names, names


def test_password_command_prints_the_password(running):
    result = running.cli("password", "--data-dir", str(running.data_dir))
    assert result.returncode == 0
    assert result.stdout.strip() == running.password()
    assert len(running.password()) >= 16
    assert running.password() != running.secret("jupyter_token")


def test_logs_of_one_service_and_an_unknown_one(running):
    result = running.cli("logs", "jupyter", "--lines", "50")
    assert result.returncode == 0
    assert "Jupyter Server" in result.stdout
    for secret in ("password", "jupyter_token"):
        assert running.secret(secret) not in result.stdout + running.cli("logs").stdout
    unknown = running.cli("logs", "nosuch")
    assert unknown.returncode == 2
    assert "choose one of dashboard, gateway, jupyter" in unknown.stderr


def test_kernel_imports_the_stack_and_writes_a_file_owned_by_the_host_user(running):
    result = running.run(STACK_IMPORTS + "open('notebooks/from-kernel.txt', 'w').write('kept')\n")
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


def test_password_reset_replaces_the_old_one(running):
    old = running.password()
    old_token = {"Authorization": f"token {running.secret('jupyter_token')}"}
    assert running.get("/jupyter/api/contents", old_token).status_code == 200  # the token alone passes the gateway
    result = running.cli("password", "--reset", "--data-dir", str(running.data_dir))
    assert result.returncode == 0, result.stderr
    new = result.stdout.strip()
    assert new == running.password() != old
    assert "gateway" in result.stderr and "jupyter" in result.stderr
    assert running.get("/jupyter/api/contents", running.login(old)).status_code == 401
    assert running.get("/jupyter/api/contents", old_token).status_code == 401, "the old Jupyter token still passes"
    assert running.get("/jupyter/api/contents", running.login(new)).status_code == 200
    new_token = {"Authorization": f"token {running.secret('jupyter_token')}"}
    assert new_token != old_token
    assert running.get("/jupyter/api/contents", new_token).status_code == 200


def test_up_with_another_folder_over_the_running_stack_is_refused_and_changes_nothing(running, tmp_path):
    other = tmp_path / "another" / "TM351VCE"
    result = running.cli("up", "jupyter", "--data-dir", str(other), "--port", str(running.port), timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"belong to the student folder {running.data_dir}" in result.stderr and "TM351_PROJECT" in result.stderr
    assert "Traceback" not in result.stderr and not other.exists()
    assert running.get("/jupyter/api/contents", running.login()).status_code == 200


def test_up_after_a_secret_changed_recreates_the_services_that_hold_it(running):
    """Compose does not look into secret files: without the digest label the gateway kept the old password."""
    old = running.password()
    new = "a-password-typed-by-hand-0123456789"
    (running.data_dir / ".tm351" / "password").write_text(new + "\n")
    result = running.up("jupyter", timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert running.get("/jupyter/api/contents", running.login(new)).status_code == 200
    assert running.get("/jupyter/api/contents", running.login(old)).status_code == 401


def test_down_then_up_keeps_files_and_state(running, engine):
    assert running.run("open('/home/student/state.txt','w').write('x')").status == "ok"
    assert running.cli("down").returncode == 0
    assert not engine.containers.list(all=True, filters={"label": f"com.docker.compose.project={running.project}"})
    with pytest.raises(requests.ConnectionError):
        running.get("/healthz")
    result = running.up("jupyter", timeout=120)
    assert result.returncode == 0, result.stderr
    assert (running.data_dir / "notebooks" / "from-kernel.txt").read_text() == "kept"
    assert running.run("print(open('/home/student/state.txt').read())").stdout.strip() == "x"


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
    assert (running.data_dir / ".tm351" / "password").is_file()


def test_up_without_a_recipe_starts_the_default_one(built, engine, tmp_path):
    """The README's main command names no recipe."""
    project = "tm351-test-default"
    port = free_port()
    try:
        result = run_cli("up", "--data-dir", str(tmp_path), "--port", str(port), env={"TM351_PROJECT": project})
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"http://127.0.0.1:{port}/" in result.stdout
        status = json.loads(run_cli("status", "--json", env={"TM351_PROJECT": project}).stdout)
        assert status["recipe"] == load_shelf().default_recipe.name
    finally:
        remove_project(engine, project)


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
