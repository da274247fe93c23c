"""The service dashboard's API on the real engine: login, listing, control, and the project boundary."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest
import requests

from tests.helpers.net import wait_until
from tests.helpers.stacks import service_container
from tm351vce.images.dashboard.tm351_dashboard.services import memory_from_cgroup
from tm351vce.provision.instance import hash_password
from tm351vce.shelf.catalogue import load_shelf


@pytest.fixture(scope="module")
def running(built, stack):
    return stack.started("jupyter")


@pytest.fixture
def outsider(engine, built):
    """A container of no stack at all, which the dashboard must never touch."""
    image = f"tm351/dashboard:{load_shelf().version}"
    container = engine.containers.run(
        image,
        ["python", "-c", "import time; time.sleep(600)"],
        name=f"outsider-{uuid.uuid4().hex[:8]}",
        detach=True,
        entrypoint=[],
    )
    try:
        yield container
    finally:
        container.remove(force=True)


def post(stack, path: str, headers: dict[str, str] | None = None) -> requests.Response:
    return requests.post(stack.url(path), headers={**stack.login(), **(headers or {})}, timeout=60)


def test_the_api_needs_the_login(running):
    assert running.get("/dashboard/api/services").status_code == 401
    assert running.get("/dashboard/api/services", running.login("wrong-password-000")).status_code == 401
    assert running.get("/dashboard/api/services", running.login()).status_code == 200
    assert running.get("/dashboard/", running.login()).status_code == 200


def test_listing_shows_each_service_with_its_budget(running):
    services = {service["name"]: service for service in running.get("/dashboard/api/services", running.login()).json()}
    assert set(services) == {"dashboard", "gateway", "jupyter"}
    shelf = load_shelf()
    for name, service in services.items():
        assert {"name", "state", "health", "memory_mib", "limit_mib", "uptime_s"} <= set(service)
        assert service["state"] == "running"
        assert service["limit_mib"] == shelf.apps[name].memory_mib
        # Idle, each holds less than a normal session's budget.
        assert 0 < service["memory_mib"] < shelf.apps[name].fit_mib
        assert service["uptime_s"] >= 0
    assert services["jupyter"]["path"] == "/jupyter/"


def test_memory_is_read_from_the_cgroup_when_the_engine_reports_none(running, engine):
    """Engines on some cgroup v1 hosts answer stats with no metrics; the fallback reads the container's own cgroup."""
    shelf = load_shelf()
    for name in ("dashboard", "gateway", "jupyter"):
        used = memory_from_cgroup(service_container(engine, running, name))
        assert used is not None, name
        assert 0 < used < shelf.apps[name].fit_mib, name


def test_stop_start_restart_change_the_real_container(running, engine):
    jupyter = service_container(engine, running, "jupyter")
    stopped = post(running, "/dashboard/api/services/jupyter/stop")
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["state"] == "exited"
    jupyter.reload()
    assert jupyter.status == "exited"
    started = post(running, "/dashboard/api/services/jupyter/start")
    assert started.json()["state"] == "running"
    jupyter.reload()
    assert jupyter.status == "running"
    before = jupyter.attrs["State"]["StartedAt"]
    assert post(running, "/dashboard/api/services/jupyter/restart").status_code == 200
    jupyter.reload()
    assert jupyter.attrs["State"]["StartedAt"] != before

    def healthy() -> bool:
        listing = running.get("/dashboard/api/services", running.login()).json()
        return {service["name"]: service["health"] for service in listing}["jupyter"] == "healthy"

    assert wait_until(healthy, timeout=60)


@pytest.mark.parametrize("service", ["gateway", "dashboard"])
def test_the_gateway_and_the_dashboard_cannot_be_stopped_from_it(running, engine, service):
    refused = post(running, f"/dashboard/api/services/{service}/stop")
    assert refused.status_code == 409
    assert "cannot be stopped" in refused.json()["error"]
    assert service_container(engine, running, service).status == "running"


def test_containers_outside_the_project_are_not_found_and_untouched(running, outsider):
    for name in (outsider.name, outsider.id, outsider.short_id, "../../containers/" + outsider.id):
        for action in ("stop", "restart"):
            assert post(running, f"/dashboard/api/services/{name}/{action}").status_code == 404, name
        assert running.get(f"/dashboard/api/services/{name}/logs", running.login()).status_code == 404
    outsider.reload()
    assert outsider.status == "running"
    assert post(running, "/dashboard/api/services/jupyter/remove").status_code == 404


def test_only_the_dashboard_has_the_docker_socket(running, engine):
    for container in engine.containers.list(filters={"label": f"com.docker.compose.project={running.project}"}):
        sockets = [mount for mount in container.attrs["Mounts"] if mount["Destination"].endswith("docker.sock")]
        assert bool(sockets) == (container.labels["org.tm351.app"] == "dashboard"), container.name
        if sockets:
            assert container.attrs["Config"]["User"] not in ("", "root")


def test_a_notebook_on_the_internal_network_needs_the_login_too(running):
    code = (
        "import urllib.request, urllib.error\n"
        "try:\n"
        "    urllib.request.urlopen('http://dashboard:8000/dashboard/api/services')\n"
        "except urllib.error.HTTPError as error:\n"
        "    print(error.code)\n"
    )
    assert running.run(code).stdout.strip() == "401"


def test_a_post_from_another_site_is_refused(running, engine):
    refused = post(running, "/dashboard/api/services/jupyter/restart", {"Origin": "http://elsewhere.example"})
    assert refused.status_code == 403
    assert service_container(engine, running, "jupyter").status == "running"


def test_logs_on_demand(running):
    response = running.get("/dashboard/api/services/jupyter/logs?lines=5", running.login())
    assert response.status_code == 200
    lines = response.text.strip().splitlines()
    assert 0 < len(lines) <= 5


@pytest.mark.needs("page-cache")
def test_the_stack_starts_from_a_cold_page_cache(running):
    """A student's first start after a reboot: nothing cached. Inside the dashboard's 40 MiB limit a second
    Python for the health check evicted the server's own pages, every check outlasted its timeout, and `up`
    gave up on the whole recipe."""
    drop = Path("/proc/sys/vm/drop_caches")
    if not os.access(drop, os.W_OK):
        pytest.fail("Dropping the page cache needs root, as in CI (.ci/run runs as root).")
    stopped = running.cli("down")
    assert stopped.returncode == 0, stopped.stderr
    subprocess.run(["sync"], check=True)
    drop.write_text("3\n")
    started = running.up("jupyter", timeout=180)
    assert started.returncode == 0, started.stdout + started.stderr


def test_the_login_may_be_stored_as_a_bcrypt_hash(running, engine):
    """An instance's password secret holds only the hash its user-data carried: the gateway and the dashboard
    (which checks the login again) both take the password against it, and not the hash itself."""
    secret = running.data_dir / ".tm351" / "password"
    original = secret.read_text()
    password = "Zq3-vN8_pL2xR7tY4kW9sB1m"
    stored = hash_password(password)
    gateway = service_container(engine, running, "gateway")
    try:
        secret.write_text(stored + "\n")  # in place: Compose's secret is a bind mount of this file
        gateway.restart()  # the gateway reads the secret when it starts
        api = "/dashboard/api/services"
        assert wait_until(lambda: _status(running, api, password) == 200, timeout=30)
        assert running.get(api, running.login(stored)).status_code == 401
        assert running.get(api, running.login(original.strip())).status_code == 401
    finally:
        secret.write_text(original)
        gateway.restart()
    assert wait_until(lambda: _status(running, "/dashboard/api/services", original.strip()) == 200, timeout=30)


def _status(stack, path: str, password: str) -> int:
    try:
        return stack.get(path, stack.login(password)).status_code
    except requests.RequestException:
        return 0


def test_a_hung_service_is_restarted_and_the_dashboard_and_status_say_so(running, engine):
    jupyter = service_container(engine, running, "jupyter")
    started = jupyter.attrs["State"]["StartedAt"]
    # Freeze the server (every process but this shell's): it stays up, answers nothing, and never exits.
    freeze = 'for p in /proc/[0-9]*; do p=${p#/proc/}; [ "$p" = 1 ] || [ "$p" = $$ ] || kill -STOP "$p"; done'
    frozen = jupyter.exec_run(["bash", "-c", freeze], user="root")
    assert frozen.exit_code == 0, frozen.output

    def restarted() -> bool:
        jupyter.reload()
        return jupyter.attrs["State"]["StartedAt"] != started

    assert wait_until(restarted, timeout=180, pause=2), "the hung server was never restarted"
    listing = running.get("/dashboard/api/services", running.login()).json()
    assert {service["name"]: service["healed"] for service in listing} == {"dashboard": 0, "gateway": 0, "jupyter": 1}
    assert wait_until(lambda: running.get("/jupyter/api/status", running.login()).status_code == 200, timeout=120)
    status = running.cli("status")
    assert status.returncode == 0, status.stderr
    assert "restarted 1 times when unhealthy" in status.stdout
