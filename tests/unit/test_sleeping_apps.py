"""The dashboard's side of apps that start on demand, against stand-in containers: woken by the gateway's wake page
(only they, and only with the login) or by its door for the stack's own clients, put to sleep after their idle
time counted from the gateway's log, shown as sleeping, and never restarted by the healer while they sleep."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from tm351vce.images.dashboard.tm351_dashboard.app import create_app, tend
from tm351vce.images.dashboard.tm351_dashboard.services import Healer, NotInProject, Stack, describe
from tm351vce.images.dashboard.tm351_dashboard.sleep import REQUEST_MARK, SLEPT_MARK, WOKEN_MARK, Sleeper, wake

PROJECT = "tm351"
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
IDLE_S = 600


def engine_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f000Z")


class Container:
    """What the dashboard reads of a container, and the actions it takes on one."""

    def __init__(self, name: str, status: str = "running", started: datetime = NOW, **labels: str) -> None:
        self.name = self.id = name
        self.status = status
        self.labels = {"com.docker.compose.project": PROJECT, "com.docker.compose.service": name, **labels}
        self.attrs = {"State": {"StartedAt": engine_time(started), "Health": {"Status": "healthy"}}}
        self.log: list[tuple[datetime, str]] = []
        self.actions: list[str] = []

    def logs(self, tail: int, timestamps: bool = False, since: float | None = None) -> bytes:
        lines = [(when, text) for when, text in self.log if since is None or when.timestamp() >= since][-tail:]
        return "".join(f"{engine_time(when)} {text}\n" for when, text in lines).encode()

    def start(self) -> None:
        self.actions.append("start")
        self.status = "running"

    def stop(self) -> None:
        self.actions.append("stop")
        self.status = "exited"

    def restart(self) -> None:
        self.actions.append("restart")
        self.status = "running"

    def reload(self) -> None:
        pass

    def stats(self, stream: bool, one_shot: bool) -> dict:
        return {"memory_stats": {"usage": 100 * 2**20, "stats": {}}}


class Engine:
    """The engine's container listing, filtered by labels as the dashboard asks."""

    def __init__(self, containers: list[Container]) -> None:
        self.containers = self
        self.listed = containers

    def list(self, filters: dict[str, str | list[str]], **_: bool) -> list[Container]:
        wanted = filters["label"] if isinstance(filters["label"], list) else [filters["label"]]
        pairs = [label.split("=", 1) for label in wanted]
        return [c for c in self.listed if all(c.labels.get(key) == value for key, value in pairs)]


def openrefine(**state) -> Container:
    return Container("openrefine", **state, **{"org.tm351.idle_s": str(IDLE_S), "org.tm351.title": "OpenRefine",
                                               "org.tm351.path": "/openrefine/"})  # fmt: skip


def gateway() -> Container:
    return Container("gateway", **{"org.tm351.gateway": "true", "org.tm351.essential": "true"})


def stack_of(*containers: Container) -> Stack:
    return Stack(Engine(list(containers)), PROJECT)  # type: ignore[arg-type]


def at(moment: datetime) -> float:
    return moment.timestamp()


def test_an_app_unused_since_it_started_sleeps_once_its_idle_time_has_passed(capsys):
    app, entrance = openrefine(), gateway()
    sleeper = Sleeper(stack_of(app, entrance))
    assert sleeper.check(at(NOW + timedelta(seconds=IDLE_S - 5))) == []
    assert app.status == "running"
    assert sleeper.check(at(NOW + timedelta(seconds=IDLE_S + 1))) == ["openrefine"]
    assert app.actions == ["stop"]
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith(f"{SLEPT_MARK} openrefine had no request for {IDLE_S + 1} s: stopped")


def test_each_request_in_the_gateways_log_starts_its_idle_time_again():
    app, entrance = openrefine(), gateway()
    sleeper = Sleeper(stack_of(app, entrance))
    sleeper.check(at(NOW + timedelta(seconds=60)))
    entrance.log.append((NOW + timedelta(seconds=300), f"{REQUEST_MARK} openrefine"))
    entrance.log.append((NOW + timedelta(seconds=400), '172.18.0.1 - student "GET /jupyter/api/status HTTP/1.1" 200'))
    assert sleeper.check(at(NOW + timedelta(seconds=IDLE_S + 60))) == []
    assert sleeper.check(at(NOW + timedelta(seconds=300 + IDLE_S + 1))) == ["openrefine"]


def test_a_dashboard_that_restarted_reads_the_last_requests_at_their_own_time():
    app, entrance = openrefine(), gateway()
    entrance.log.append((NOW + timedelta(seconds=100), f"{REQUEST_MARK} openrefine"))
    sleeper = Sleeper(stack_of(app, entrance))
    assert sleeper.check(at(NOW + timedelta(seconds=100 + IDLE_S - 1))) == []
    assert sleeper.check(at(NOW + timedelta(seconds=100 + IDLE_S + 1))) == ["openrefine"]


def test_an_app_that_is_always_awake_is_never_put_to_sleep():
    jupyter = Container("jupyter", started=NOW - timedelta(days=3))
    assert Sleeper(stack_of(jupyter, gateway())).check(at(NOW)) == []
    assert jupyter.actions == []


def test_an_app_asleep_is_shown_as_sleeping_and_a_stopped_app_as_stopped():
    asleep = describe(openrefine(status="exited"))
    assert (asleep.state, asleep.sleeps_after_s) == ("sleeping", IDLE_S)
    created = describe(openrefine(status="created"))
    assert created.state == "sleeping"
    stopped = describe(Container("jupyter", status="exited"))
    assert (stopped.state, stopped.sleeps_after_s) == ("exited", None)
    assert describe(openrefine()).state == "running"


def test_waking_starts_only_an_app_that_starts_on_demand_and_only_once(capsys):
    app, jupyter = openrefine(status="exited"), Container("jupyter", status="exited")
    stack = stack_of(app, jupyter)
    assert wake(stack, "openrefine").status == "running"
    assert wake(stack, "openrefine").status == "running"
    assert app.actions == ["start"]
    assert capsys.readouterr().out == f"{WOKEN_MARK} openrefine was asked for while asleep: started\n"
    with pytest.raises(NotInProject):
        wake(stack, "jupyter")
    assert jupyter.actions == []


def test_an_idle_app_gone_unhealthy_is_put_to_sleep_not_restarted_by_the_healer():
    app = openrefine(started=datetime.now(UTC) - timedelta(seconds=IDLE_S + 10))
    app.attrs["State"]["Health"]["Status"] = "unhealthy"
    stack = stack_of(app, gateway())
    # A healer that restarts an unhealthy service at once would restart it, were it still running.
    tend(Sleeper(stack), Healer(stack, after_s=0, own_id="dashboard"))
    assert app.actions == ["stop"]


@pytest.fixture
def client(tmp_path):
    def make(*containers: Container):
        password = tmp_path / "password"
        password.write_text("s3cret-password\n")
        return create_app(stack_of(*containers), password).test_client()

    return make


LOGIN = {"Authorization": "Basic " + base64.b64encode(b"student:s3cret-password").decode()}


def test_the_wake_page_starts_the_app_and_says_it_is_starting(client):
    app = openrefine(status="exited")
    answer = client(app, gateway()).get("/dashboard/wake/openrefine", headers=LOGIN)
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "1"
    assert answer.headers["Cache-Control"] == "no-store"
    page = answer.get_data(as_text=True)
    assert "<title>OpenRefine is starting</title>" in page
    assert "sleeps after 10 minutes without use" in page
    assert 'const path = "/openrefine/";' in page
    assert app.actions == ["start"]


def test_the_wake_page_needs_the_login_and_wakes_no_other_app_nor_from_another_site(client):
    app, jupyter = openrefine(status="exited"), Container("jupyter", status="exited")
    pages = client(app, jupyter, gateway())
    assert pages.get("/dashboard/wake/openrefine").status_code == 401
    assert pages.get("/dashboard/wake/jupyter", headers=LOGIN).status_code == 404
    foreign = pages.post("/dashboard/wake/openrefine", headers={**LOGIN, "Origin": "http://elsewhere.example"})
    assert foreign.status_code == 403
    assert app.actions == [] and jupyter.actions == []


def test_the_door_wakes_the_app_without_the_login_and_sends_its_client_back_once_it_answers(client):
    """A notebook's OpenRefine client at its localhost holds no password: the gateway's door brings it here."""
    app = openrefine(status="exited")
    answer = client(app, gateway()).post(
        "/dashboard/ready/openrefine", headers={"X-TM351-Retry": "/command/core/get-version?x=1"}
    )
    assert answer.status_code == 307, answer.get_data(as_text=True)
    assert answer.headers["Location"] == "/command/core/get-version?x=1"
    assert app.actions == ["start"]


def test_the_door_sends_its_client_nowhere_but_back_and_wakes_only_sleeping_apps(client, monkeypatch):
    monkeypatch.setattr("tm351vce.images.dashboard.tm351_dashboard.app.RESOLVER_PAUSE_S", 0)
    app, jupyter = openrefine(status="exited"), Container("jupyter", status="exited")
    doors = client(app, jupyter, gateway())
    for asked in ("//elsewhere.example/", "http://elsewhere.example/", None):
        headers = {"X-TM351-Retry": asked} if asked else {}
        assert doors.get("/dashboard/ready/openrefine", headers=headers).headers["Location"] == "/"
    assert doors.get("/dashboard/ready/jupyter").status_code == 404
    assert doors.post("/dashboard/ready/openrefine", headers={"Origin": "http://elsewhere.example"}).status_code == 403
    assert jupyter.actions == [] and app.actions == ["start"]
    # Nothing else of the dashboard opens without the login.
    assert doors.get("/dashboard/api/services").status_code == 401


def test_the_door_says_so_when_the_app_does_not_start(client, monkeypatch):
    monkeypatch.setattr("tm351vce.images.dashboard.tm351_dashboard.app.READY_BOUND_S", 0)
    app = openrefine(status="exited")
    app.attrs["State"]["Health"]["Status"] = "starting"
    answer = client(app, gateway()).get("/dashboard/ready/openrefine")
    assert answer.status_code == 504
    assert answer.get_data(as_text=True) == "OpenRefine did not start within 0 s: its log is in the dashboard.\n"
