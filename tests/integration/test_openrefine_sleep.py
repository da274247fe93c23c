"""OpenRefine starts on demand: `up` leaves it asleep, opening /openrefine/ shows a page that says it is starting and
then OpenRefine itself, and after its idle time without a request the dashboard stops it again, its projects kept.
The dashboard and `status` show it sleeping; the dashboard wakes and stops it."""

from __future__ import annotations

import json
import time

import pytest
import requests

from tests.helpers.net import wait_until
from tests.helpers.openrefine import MODULES, ROWS, create_project, csrf_token, logged_in, project_id, rows
from tests.helpers.stacks import WAKE_BOUND_S, Stack, is_starting_page, opened, service_container

RECIPE = "openrefine"
# Short, so the test sees it fall asleep; long enough that the steps between two requests stay well within it.
IDLE_S = 45
# The dashboard looks every 5 s; OpenRefine then has its grace period (60 s) to save its projects and stop.
ASLEEP_WITHIN_S = IDLE_S + 5 + 60


@pytest.fixture(scope="module")
def running(built, stack) -> Stack:
    return stack.started(RECIPE, "--idle-minutes", str(IDLE_S / 60), timeout=600)


@pytest.fixture
def asleep(running, engine) -> Stack:
    """The stack with OpenRefine asleep, as `up` leaves it (put back to sleep from the dashboard if a test woke it)."""
    openrefine = service_container(engine, running, "openrefine")
    if openrefine.status == "running":
        stopped = post(running, "/dashboard/api/services/openrefine/stop")
        assert stopped.status_code == 200, stopped.text
    return running


def post(stack: Stack, path: str, headers: dict[str, str] | None = None) -> requests.Response:
    return requests.post(stack.url(path), headers={**stack.login(), **(headers or {})}, timeout=90)


def services(stack: Stack) -> dict[str, dict]:
    listing = stack.get("/dashboard/api/services", stack.login())
    assert listing.status_code == 200, listing.text
    return {service["name"]: service for service in listing.json()}


def is_running(engine, stack: Stack) -> bool:
    return service_container(engine, stack, "openrefine").status == "running"


def dashboard_log(engine, stack: Stack) -> str:
    return service_container(engine, stack, "dashboard").logs().decode()


def test_up_leaves_openrefine_asleep_and_status_and_the_dashboard_say_so(asleep, engine):
    assert service_container(engine, asleep, "openrefine").status in ("created", "exited")
    status = json.loads(asleep.cli("status", "--json").stdout)
    states = {service["name"]: (service["state"], service["sleeps_after_s"]) for service in status["services"]}
    assert states == {"gateway": ("running", None), "dashboard": ("running", None), "openrefine": ("sleeping", IDLE_S)}
    table = asleep.cli("status").stdout
    assert "sleeping" in table and "wakes when opened" in table
    openrefine = services(asleep)["openrefine"]
    assert (openrefine["state"], openrefine["sleeps_after_s"], openrefine["memory_mib"]) == ("sleeping", IDLE_S, None)


def test_opening_it_asleep_shows_the_starting_page_then_openrefine(asleep, engine):
    assert asleep.get("/openrefine/").status_code == 401
    time.sleep(2)
    assert not is_running(engine, asleep), "a request without the login woke it"

    began = time.monotonic()
    first = asleep.get("/openrefine/", asleep.login())
    assert is_starting_page(first), (first.status_code, first.text[:300])
    assert "<title>OpenRefine is starting</title>" in first.text
    assert "sleeps after 45 seconds without use" in first.text
    assert first.headers["Cache-Control"] == "no-store"
    assert is_running(engine, asleep)

    page = opened(asleep, "/openrefine/")
    took = time.monotonic() - began
    assert page.status_code == 200 and "<title>OpenRefine</title>" in page.text, took
    assert took < WAKE_BOUND_S
    print(f"first page {took:.1f} s after opening it asleep")
    assert "tm351-woken: openrefine was asked for while asleep: started" in dashboard_log(engine, asleep)


def test_it_stays_awake_while_used_then_sleeps_and_wakes_with_its_projects(asleep, engine):
    assert opened(asleep, "/openrefine/").status_code == 200
    session = logged_in(asleep)
    project = project_id(create_project(asleep, session, "TM351 modules", MODULES, csrf_token(asleep, session)))

    # Used more often than its idle time, it stays awake longer than that time.
    used_until = time.monotonic() + IDLE_S * 1.5
    while True:
        assert rows(asleep, session, project) == ROWS
        last_request = time.monotonic()
        if last_request > used_until:
            break
        time.sleep(5)
    assert is_running(engine, asleep)

    assert wait_until(lambda: not is_running(engine, asleep), timeout=ASLEEP_WITHIN_S, pause=1)
    assert time.monotonic() - last_request >= IDLE_S - 1
    assert "tm351-slept: openrefine had no request for" in dashboard_log(engine, asleep)
    exited = service_container(engine, asleep, "openrefine").attrs["State"]
    assert not exited["OOMKilled"] and exited["ExitCode"] != 137, exited  # stopped in its grace period, not killed
    assert services(asleep)["openrefine"]["state"] == "sleeping"

    assert opened(asleep, "/openrefine/").status_code == 200
    assert rows(asleep, logged_in(asleep), project) == ROWS


def test_the_dashboard_wakes_and_stops_it(asleep, engine):
    woken = post(asleep, "/dashboard/api/services/openrefine/start")
    assert woken.status_code == 200, woken.text
    assert woken.json()["state"] == "running"
    assert is_running(engine, asleep)
    assert opened(asleep, "/openrefine/").status_code == 200
    stopped = post(asleep, "/dashboard/api/services/openrefine/stop")
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["state"] == "sleeping"
    assert not is_running(engine, asleep)


def test_only_a_same_site_request_with_the_login_wakes_it_and_only_it(asleep, engine):
    """Another site's page in the student's browser (the login cached) may not start it with a post."""
    foreign = post(asleep, "/openrefine/command/core/get-version", {"Origin": "http://elsewhere.example"})
    assert foreign.status_code == 403
    for other in ("dashboard", "gateway", "no-such-app"):
        assert asleep.get(f"/dashboard/wake/{other}", asleep.login()).status_code == 404
    assert asleep.get("/dashboard/wake/openrefine").status_code == 401
    time.sleep(2)
    assert not is_running(engine, asleep)


@pytest.mark.needs("chromium")
def test_a_browser_that_opens_it_asleep_lands_on_openrefine_by_itself(asleep, browser):
    context = browser.new_context(http_credentials={"username": "student", "password": asleep.password()})
    page = context.new_page()
    page.goto(asleep.url("/openrefine/"))
    assert page.title() == "OpenRefine is starting"
    page.wait_for_function("document.title === 'OpenRefine'", timeout=WAKE_BOUND_S * 1000)
    assert page.url == asleep.url("/openrefine/")
    context.close()
