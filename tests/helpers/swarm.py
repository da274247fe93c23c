"""Is a rendered stack file one that `docker stack deploy` reads?

`docker stack config -c FILE` answers that with Swarm's own loader, but only Docker CLIs from 23.0 on have it:
Debian 12's (20.10) stops at `unknown shorthand flag: 'c'`. Without it, the file is checked by Compose's parser
(`docker compose config`, for the Compose specification and interpolation) and then, interpolated, against the
part of the specification that Swarm's loader reads: its keys, the types it converts to, and the properties it
refuses outright. SWARM_SCHEMA is that part, written from what `docker stack config` of CLI 28 accepts and
refuses; test_swarm_check.py holds the two to the same verdicts wherever the real command is there.
"""

from __future__ import annotations

import functools
import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema

from tests.helpers.documents import parse_yaml

_STRING = {"type": "string"}
_BOOLEAN = {"type": "boolean"}
_MAPPING = {"type": "object"}
_LIST = {"type": "array"}
# Swarm's loader converts interpolated strings to the numbers it needs.
_INTEGER = {"type": ["integer", "string"], "pattern": r"^-?[0-9]+$"}
_NUMBER = {"type": ["number", "string"], "pattern": r"^-?[0-9]+(\.[0-9]+)?$"}
_STRING_OR_LIST = {"type": ["string", "array"], "items": _STRING}
_LIST_OR_MAPPING = {"type": ["array", "object"]}
_EXTENSIONS = {"^x-": {}}


def _strict(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    schema = {"type": "object", "properties": properties, "patternProperties": _EXTENSIONS}
    schema["additionalProperties"] = False
    if required:
        schema["required"] = list(required)
    return schema


_RESOURCES = _strict({"cpus": _NUMBER, "memory": _STRING, "pids": _INTEGER})
_DEPLOY = _strict(
    {
        "mode": _STRING,
        "endpoint_mode": _STRING,
        "replicas": _INTEGER,
        "labels": _LIST_OR_MAPPING,
        "rollback_config": _MAPPING,
        "update_config": _MAPPING,
        "resources": _strict(
            {
                "limits": _RESOURCES,
                "reservations": _strict({"cpus": _NUMBER, "memory": _STRING, "generic_resources": _LIST}),
            }
        ),
        "restart_policy": _strict(
            {"condition": _STRING, "delay": _STRING, "max_attempts": _INTEGER, "window": _STRING}
        ),
        "placement": _MAPPING,
    }
)
_HEALTHCHECK = _strict(
    {
        "disable": _BOOLEAN,
        "interval": _STRING,
        "retries": _NUMBER,
        "test": _STRING_OR_LIST,
        "timeout": _STRING,
        "start_period": _STRING,
        "start_interval": _STRING,
    }
)
_PORT = {
    "oneOf": [
        {"type": ["string", "integer"]},
        _strict({"mode": _STRING, "target": _INTEGER, "published": _INTEGER, "protocol": _STRING}),
    ]
}
_VOLUME = {
    "oneOf": [
        _STRING,
        _strict(
            {
                "type": _STRING,
                "source": _STRING,
                "target": _STRING,
                "read_only": _BOOLEAN,
                "consistency": _STRING,
                "bind": _MAPPING,
                "volume": _MAPPING,
                "tmpfs": _MAPPING,
            },
            required=("type",),
        ),
    ]
}
_FILE_REFERENCE = {
    "oneOf": [
        _STRING,
        _strict({"source": _STRING, "target": _STRING, "uid": _STRING, "gid": _STRING, "mode": _NUMBER}),
    ]
}
_SERVICE_KEYS_WITHOUT_CHECKED_VALUES = (
    "build", "cap_add", "cap_drop", "cgroup_parent", "command", "container_name", "credential_spec", "devices",
    "dns", "dns_search", "domainname", "entrypoint", "env_file", "environment", "expose", "external_links",
    "extra_hosts", "hostname", "init", "ipc", "isolation", "labels", "links", "logging", "mac_address",
    "network_mode", "networks", "oom_score_adj", "pid", "privileged", "read_only", "restart", "security_opt",
    "shm_size", "stdin_open", "stop_grace_period", "stop_signal", "sysctls", "tmpfs", "tty", "ulimits",
    "userns_mode", "working_dir",
)  # fmt: skip
_SERVICE = _strict(
    {
        **{key: {} for key in _SERVICE_KEYS_WITHOUT_CHECKED_VALUES},
        "image": _STRING,
        "user": _STRING,
        "depends_on": {"type": "array", "items": _STRING},
        "deploy": _DEPLOY,
        "healthcheck": _HEALTHCHECK,
        "ports": {"type": "array", "items": _PORT},
        "volumes": {"type": "array", "items": _VOLUME},
        "secrets": {"type": "array", "items": _FILE_REFERENCE},
        "configs": {"type": "array", "items": _FILE_REFERENCE},
    }
)
_EXTERNAL = {"type": ["boolean", "object"]}
_TOP_SECRET = _strict(
    {
        "file": _STRING,
        "external": _EXTERNAL,
        "name": _STRING,
        "labels": _LIST_OR_MAPPING,
        "driver": _STRING,
        "driver_opts": _MAPPING,
        "template_driver": _STRING,
    }
)
_TOP_CONFIG = _strict(
    {"file": _STRING, "external": _EXTERNAL, "name": _STRING, "labels": _LIST_OR_MAPPING, "template_driver": _STRING}
)
_TOP_VOLUME = {
    "oneOf": [
        {"type": "null"},
        _strict(
            {
                "driver": _STRING,
                "driver_opts": _MAPPING,
                "external": _EXTERNAL,
                "labels": _LIST_OR_MAPPING,
                "name": _STRING,
            }
        ),
    ]
}
SWARM_SCHEMA: dict[str, Any] = _strict(
    {
        "version": _STRING,
        "services": {"type": "object", "additionalProperties": _SERVICE},
        "networks": _MAPPING,
        "volumes": {"type": "object", "additionalProperties": _TOP_VOLUME},
        "secrets": {"type": "object", "additionalProperties": _TOP_SECRET},
        "configs": {"type": "object", "additionalProperties": _TOP_CONFIG},
    }
)
# In the schema but refused by the loader ("Configuration contains forbidden properties").
FORBIDDEN = (
    "extends",
    "volume_driver",
    "volumes_from",
    "cpu_quota",
    "cpu_shares",
    "cpuset",
    "mem_limit",
    "memswap_limit",
)


@dataclass(frozen=True)
class StackCheck:
    ok: bool
    how: str  # "docker stack config", or the fallback's name
    message: str


def has_stack_config(docker: str = "docker", env: dict[str, str] | None = None) -> bool:
    return _has_stack_config(docker, (env or os.environ).get("PATH", ""))


@functools.cache
def _has_stack_config(docker: str, path: str) -> bool:
    listed = subprocess.run(
        [docker, "stack", "--help"], capture_output=True, text=True, check=False, env={**os.environ, "PATH": path}
    )
    return re.search(r"^\s+config\s", listed.stdout, re.MULTILINE) is not None


_VARIABLE = re.compile(
    r"\$(?:\$|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?])?(?P<default>[^}]*)\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's `${VAR}`, `${VAR:-default}`, `${VAR-default}` and `$$`, as Swarm's loader applies them."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("braced") or match.group("bare")
        found = env.get(name)
        op = match.group("op") or ""
        if op.startswith(":") and not found:
            return match.group("default") if op == ":-" else ""
        if found is None:
            return match.group("default") if op == "-" else ""
        return found

    return _VARIABLE.sub(replace, value)


def swarm_problems(document: Any) -> list[str]:
    """What Swarm's loader would refuse in an interpolated stack document, one line each."""
    validator = jsonschema.Draft7Validator(SWARM_SCHEMA)
    problems = [
        f"{'.'.join(str(p) for p in error.absolute_path) or '(root)'}: {error.message}"
        for error in validator.iter_errors(document)
    ]
    services = document.get("services", {}) if isinstance(document, dict) else {}
    for name, service in services.items():
        for key in FORBIDDEN:
            if isinstance(service, dict) and key in service:
                problems.append(f"services.{name}: {key} is a forbidden property in a stack")
    return sorted(problems)


def check_stack(folder: Path, file: str = "stack.yaml", env: dict[str, str] | None = None) -> StackCheck:
    """Swarm's verdict on FOLDER/FILE: from `docker stack config` where the CLI has it, else from the fallback."""
    environment = {**os.environ, **(env or {})}
    if has_stack_config(env=environment):
        checked = subprocess.run(
            ["docker", "stack", "config", "-c", file], cwd=folder, env=environment, capture_output=True, text=True,
            check=False,
        )  # fmt: skip
        return StackCheck(checked.returncode == 0, "docker stack config", checked.stderr.strip())
    composed = subprocess.run(
        ["docker", "compose", "-f", file, "config", "-q"], cwd=folder, env=environment, capture_output=True,
        text=True, check=False,
    )  # fmt: skip
    if composed.returncode != 0:
        return StackCheck(False, "docker compose config", composed.stderr.strip())
    document = interpolate(parse_yaml((folder / file).read_text()), environment)
    problems = swarm_problems(document)
    return StackCheck(not problems, "docker compose config and Swarm's schema", "\n".join(problems))


def without_stack_config(folder: Path) -> dict[str, str]:
    """The environment of a machine whose Docker CLI is Debian 12's (20.10): a `docker` first on PATH that answers
    `docker stack config` as 20.10 does and passes everything else to the real CLI."""
    real = shutil.which("docker")
    if real is None:
        raise FileNotFoundError("docker")
    wrapper = folder / "docker"
    wrapper.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = stack ] && [ "$2" = --help ]; then\n'
        "  printf '\\nUsage:  docker stack [OPTIONS] COMMAND\\n\\nCommands:\\n  deploy      Deploy a new stack\\n"
        "  ls          List stacks\\n  ps          List the tasks in the stack\\n  rm          Remove stacks\\n"
        "  services    List the services in the stack\\n'\n"
        "  exit 0\n"
        "fi\n"
        'if [ "$1" = stack ] && [ "$2" = config ]; then\n'
        "  echo \"unknown shorthand flag: 'c' in -c\" >&2\n"
        "  echo \"See 'docker stack --help'.\" >&2\n"
        "  exit 125\n"
        "fi\n"
        f'exec {shlex.quote(real)} "$@"\n'
    )
    wrapper.chmod(0o755)
    return {"PATH": f"{folder}{os.pathsep}{os.environ.get('PATH', '')}"}
