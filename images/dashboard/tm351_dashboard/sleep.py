"""Apps that start on demand: woken when a request for one finds it asleep, stopped after their idle time.

The gateway cannot start a container (it has no Docker socket): when an app that starts on demand does not
answer, it hands the request to the dashboard's wake page instead. It also writes a line to its log for each
request to such an app (REQUEST_MARK), which is how the dashboard knows when the app was last used.
"""

from __future__ import annotations

import threading
import time

from docker.models.containers import Container

from .services import NotInProject, Stack, docker_time, idle_limit_s, service_name

# The gateway's label, and what its log says for each request to an app that starts on demand
# (images/gateway/routes.conf.j2 writes it, rendered with compose/gateway.py's REQUEST_MARK).
GATEWAY_LABEL = "org.tm351.gateway"
REQUEST_MARK = "tm351-request:"
# This app's own log: one line each time it wakes an app or puts one to sleep.
WOKEN_MARK = "tm351-woken:"
SLEPT_MARK = "tm351-slept:"
# The most gateway log lines read at each check, so a long log costs no more than a short one: far more than a
# student's requests between two checks.
LOG_TAIL = 2000
# Each read goes back this far before the previous one, so a line written while it ran is not missed.
READ_OVERLAP_S = 5

_waking = threading.Lock()


def wake(stack: Stack, name: str) -> Container:
    """Start an app that starts on demand, if it is asleep; returns its container. No other app is started this way."""
    container = stack.container(name)
    if idle_limit_s(container) is None:
        raise NotInProject(name)
    with _waking:  # two requests at once start it once
        container.reload()
        if container.status != "running":
            container.start()
            print(f"{WOKEN_MARK} {name} was asked for while asleep: started", flush=True)
    return container


def wait_until_healthy(container: Container, bound_s: float, pause_s: float = 0.5) -> bool:
    """Whether the app's container is healthy (or running, if it has no health check) within bound_s."""
    deadline = time.monotonic() + bound_s
    while True:
        container.reload()
        health = container.attrs["State"].get("Health", {}).get("Status")
        if container.status == "running" and health in (None, "healthy"):
            return True
        if container.status != "running" or time.monotonic() >= deadline:
            return False
        time.sleep(pause_s)


class Sleeper:
    """Stops an app that starts on demand once it has gone its idle time without a request, counted from its last
    request or, when it has had none since, from its start. `docker stop` gives it its grace period to save."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.last_request: dict[str, float] = {}
        self._read_since: float | None = None

    def check(self, now: float) -> list[str]:
        """Put the apps idle for their time to sleep; now is the wall clock (the engine's times are too)."""
        containers = self.stack.containers()
        self._read_requests(containers, now)
        stopped = []
        for container in containers:
            limit_s = idle_limit_s(container)
            if limit_s is None or container.status != "running":
                continue
            name = service_name(container)
            started = docker_time(container.attrs["State"]["StartedAt"]).timestamp()
            idle_s = now - max(self.last_request.get(name, 0.0), started)
            if idle_s < limit_s:
                continue
            print(f"{SLEPT_MARK} {name} had no request for {idle_s:.0f} s: stopped, saving its work", flush=True)
            container.stop()
            stopped.append(name)
        return stopped

    def _read_requests(self, containers: list[Container], now: float) -> None:
        for gateway in containers:
            if gateway.labels.get(GATEWAY_LABEL) != "true" or gateway.status != "running":
                continue
            log = gateway.logs(tail=LOG_TAIL, timestamps=True, since=self._read_since)
            for line in log.decode("utf-8", errors="replace").splitlines():
                stamp, _, message = line.partition(" ")
                if message.startswith(REQUEST_MARK):
                    name = message[len(REQUEST_MARK) :].strip()
                    when = docker_time(stamp).timestamp()
                    self.last_request[name] = max(self.last_request.get(name, 0.0), when)
        self._read_since = now - READ_OVERLAP_S
