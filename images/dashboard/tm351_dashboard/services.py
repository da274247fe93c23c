"""The stack's services as the dashboard sees them: only containers of its own Compose project."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import docker
from docker.errors import APIError
from docker.models.containers import Container

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
ACTIONS = ("start", "stop", "restart")
APP_LABEL = "org.tm351.app"
# On an app that starts on demand (the renderer's label contract, shelf/labels.py): its idle time in seconds.
IDLE_LABEL = "org.tm351.idle_s"
TITLE_LABEL = "org.tm351.title"
PATH_LABEL = "org.tm351.path"
# What an app that starts on demand is while it is not running: waiting to be opened, not failed.
SLEEPING = "sleeping"
# The app that heals the stack, and the mark its log gives each service it restarted.
HEALER_APP = "dashboard"
HEALED_MARK = "tm351-healed:"


class NotInProject(LookupError):
    """No service of that name in this project (another container's name or id is never looked up)."""


class Refused(PermissionError):
    """The action would cut the student off from the stack."""


@dataclass(frozen=True)
class Service:
    name: str
    state: str
    health: str
    memory_mib: float | None
    # Its container's memory limit: past it, the kernel kills the app's processes.
    limit_mib: int | None
    uptime_s: int | None
    path: str | None
    essential: bool
    # Restarts by the healer, after the service stayed unhealthy.
    healed: int = 0
    # An app that starts on demand is stopped after this long without a request; None for the others.
    sleeps_after_s: int | None = None

    def as_dict(self) -> dict:
        return asdict(self)


class Stack:
    def __init__(self, client: docker.DockerClient, project: str) -> None:
        self.client = client
        self.project = project

    def services(self) -> list[Service]:
        containers = self.containers()
        healed = self.healed_counts(containers)
        described = (describe(container, healed.get(service_name(container), 0)) for container in containers)
        return sorted(described, key=lambda service: service.name)

    def healed_counts(self, containers: list[Container] | None = None) -> dict[str, int]:
        """How often the healer restarted each service, from its own log (kept while its container is)."""
        counts: dict[str, int] = {}
        for container in containers if containers is not None else self.containers():
            if container.labels.get(APP_LABEL) != HEALER_APP:
                continue
            for line in container.logs(tail=2000).decode("utf-8", errors="replace").splitlines():
                if line.startswith(HEALED_MARK):
                    name = line[len(HEALED_MARK) :].split()[0]
                    counts[name] = counts.get(name, 0) + 1
        return counts

    def containers(self) -> list[Container]:
        return self.client.containers.list(all=True, filters={"label": f"{PROJECT_LABEL}={self.project}"})

    def host_memory_mib(self) -> int:
        return round(self.client.info()["MemTotal"] / 2**20)

    def act(self, name: str, action: str) -> Service:
        container = self.container(name)
        if action not in ACTIONS:
            raise NotInProject(action)
        if action != "start" and container.labels.get("org.tm351.essential") == "true":
            raise Refused(f"{name} keeps the stack reachable, so it cannot be stopped or restarted from here.")
        getattr(container, action)()
        container.reload()
        return describe(container)

    def logs(self, name: str, lines: int) -> str:
        return self.container(name).logs(tail=lines, timestamps=True).decode("utf-8", errors="replace")

    def container(self, name: str) -> Container:
        """The project's container for a service name, looked up by label on every call."""
        labels = [f"{PROJECT_LABEL}={self.project}", f"{SERVICE_LABEL}={name}"]
        found = self.client.containers.list(all=True, filters={"label": labels})
        # The filter is the boundary; the check below keeps it one if the engine ever ignored a label.
        found = [
            c for c in found if c.labels.get(PROJECT_LABEL) == self.project and c.labels.get(SERVICE_LABEL) == name
        ]
        if not found:
            raise NotInProject(name)
        return found[0]


class Healer:
    """Restarts a service that has stayed unhealthy this long: Docker marks it so, but restarts it only when it
    exits, and a hung server does not exit. Each restart is a line of this app's log (HEALED_MARK)."""

    def __init__(self, stack: Stack, after_s: float, own_id: str) -> None:
        self.stack, self.after_s, self.own_id = stack, after_s, own_id
        self.unhealthy_since: dict[str, float] = {}

    def check(self, now: float) -> list[str]:
        restarted = []
        for container in self.stack.containers():
            name = service_name(container)
            health = container.attrs["State"].get("Health", {}).get("Status")
            if container.id.startswith(self.own_id) or container.status != "running" or health != "unhealthy":
                self.unhealthy_since.pop(name, None)
                continue
            since = self.unhealthy_since.setdefault(name, now)
            if now - since < self.after_s:
                continue
            print(f"{HEALED_MARK} {name} unhealthy for {now - since:.0f} s: restarted", flush=True)
            container.restart()
            self.unhealthy_since.pop(name, None)
            restarted.append(name)
        return restarted


def service_name(container: Container) -> str:
    return container.labels.get(SERVICE_LABEL, container.name)


def idle_limit_s(container: Container) -> int | None:
    """How long an app that starts on demand may go without a request; None for an app that is always awake."""
    limit = container.labels.get(IDLE_LABEL, "")
    return int(limit) if limit.isdigit() else None


def describe(container: Container, healed: int = 0) -> Service:
    labels = container.labels
    state = container.attrs["State"]
    running = container.status == "running"
    limit = labels.get("org.tm351.memory_mib")
    sleeps_after_s = idle_limit_s(container)
    return Service(
        name=labels.get(SERVICE_LABEL, container.name),
        state=SLEEPING if sleeps_after_s is not None and not running else container.status,
        health=state.get("Health", {}).get("Status", "none") if running else "none",
        memory_mib=_memory_mib(container) if running else None,
        limit_mib=int(limit) if limit else None,
        uptime_s=_uptime_s(state["StartedAt"]) if running else None,
        path=labels.get(PATH_LABEL) or None,
        essential=labels.get("org.tm351.essential") == "true",
        healed=healed,
        sleeps_after_s=sleeps_after_s,
    )


def _memory_mib(container: Container) -> float | None:
    """Memory in use as `docker stats` counts it: the cgroup's usage less the inactive page cache."""
    memory = container.stats(stream=False, one_shot=True).get("memory_stats") or {}
    if memory.get("usage") is not None:
        details = memory.get("stats") or {}
        return _without_inactive(memory["usage"], details.get("total_inactive_file", details.get("inactive_file", 0)))
    # Some engines (cgroup v1 hierarchies the runtime cannot read) report no metrics at all;
    # the container still sees its own cgroup, so ask it.
    return memory_from_cgroup(container)


# Prints usage then inactive page cache, from the cgroup v2 or the cgroup v1 memory controller.
_READ_CGROUP_MEMORY = (
    "if [ -r /sys/fs/cgroup/memory.current ]; then d=/sys/fs/cgroup; u=memory.current;"
    " else d=/sys/fs/cgroup/memory; u=memory.usage_in_bytes; fi;"
    ' cat "$d/$u"; awk \'$1 == "inactive_file" {print $2}\' "$d/memory.stat"'
)


def memory_from_cgroup(container: Container) -> float | None:
    try:
        result = container.exec_run(["sh", "-c", _READ_CGROUP_MEMORY], user="0")
    except APIError:
        return None
    figures = result.output.decode(errors="replace").split()
    if result.exit_code != 0 or not figures or not all(figure.isdigit() for figure in figures):
        return None
    usage, inactive = int(figures[0]), int(figures[1]) if len(figures) > 1 else 0
    return _without_inactive(usage, inactive)


def _without_inactive(usage: int, inactive: int) -> float:
    return round((usage - inactive if inactive < usage else usage) / 2**20, 1)


def _uptime_s(started_at: str) -> int:
    return max(0, round((datetime.now(UTC) - docker_time(started_at)).total_seconds()))


def docker_time(text: str) -> datetime:
    """A time as the engine writes it (RFC 3339 in UTC, with nanoseconds)."""
    # fromisoformat takes at most microseconds.
    whole, _, fraction = text.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{whole}.{(fraction + '000000')[:6]}").replace(tzinfo=UTC)
