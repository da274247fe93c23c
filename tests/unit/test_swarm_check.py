"""The Swarm check without `docker stack config` gives that command's verdicts: on stacks it accepts, and on stacks
that each use one thing Swarm refuses."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.helpers.swarm import check_stack, has_stack_config, without_stack_config

ACCEPTED = """
x-shared: {}
services:
  web:
    image: registry.example.org/web:1
    user: "0:0"
    depends_on: [db]
    ports:
      - target: 8080
        published: ${PORT:-35180}
        protocol: tcp
        mode: ingress
    healthcheck: {test: [CMD, healthcheck.sh], interval: 1s, start_interval: 1s}
    deploy:
      resources: {limits: {memory: 16M}}
      restart_policy: {condition: any, delay: 5s}
    secrets:
      - {source: password, target: password, uid: "0", gid: "0", mode: 256}
    volumes:
      - {type: volume, source: data, target: /data}
    x-note: kept
  db:
    image: registry.example.org/db:1
volumes:
  data: {labels: {a: b}}
secrets:
  password: {file: ./secrets/password}
"""

# Each replaces one line of ACCEPTED with something Swarm's loader refuses.
REFUSED = {
    "profiles": ("    user: \"0:0\"", "    profiles: [debug]"),
    "mem_limit": ("    user: \"0:0\"", "    mem_limit: 16m"),
    "extends": ("    user: \"0:0\"", "    extends: {service: db}"),
    "group_add": ("    user: \"0:0\"", "    group_add: [\"999\"]"),
    "numeric-user": ("    user: \"0:0\"", "    user: 0"),
    "healthy-condition": ("    depends_on: [db]", "    depends_on: {db: {condition: service_healthy}}"),
    "host-ip": ("        mode: ingress", "        host_ip: 127.0.0.1"),
    "port-not-a-number": ("        published: ${PORT:-35180}", "        published: ${PORT:-web}"),
    "numeric-uid": ('      - {source: password, target: password, uid: "0", gid: "0", mode: 256}',
                    '      - {source: password, target: password, uid: 0, gid: "0", mode: 256}'),
    "reserved-devices": ("      resources: {limits: {memory: 16M}}",
                         "      resources: {limits: {memory: 16M}, reservations: {devices: []}}"),
    "top-level-name": ("x-shared: {}", "name: tm351"),
    "healthcheck-test-not-text": ("[CMD, healthcheck.sh]", "[CMD, true]"),
}  # fmt: skip


def stack_folder(base: Path, name: str, text: str) -> Path:
    folder = base / name
    (folder / "secrets").mkdir(parents=True)
    (folder / "secrets" / "password").write_text("not-a-real-secret")
    (folder / "stack.yaml").write_text(text)
    return folder


def refused(name: str) -> str:
    old, new = REFUSED[name]
    assert old in ACCEPTED, old
    return ACCEPTED.replace(old, new, 1)


@pytest.mark.needs("docker", "compose")
def test_without_stack_config_the_check_accepts_a_stack_swarm_reads(tmp_path):
    env = without_stack_config(tmp_path)
    assert not has_stack_config(env={"PATH": env["PATH"]})
    checked = check_stack(stack_folder(tmp_path, "accepted", ACCEPTED), env=env)
    assert checked.how == "docker compose config and Swarm's schema"
    assert checked.ok, checked.message


@pytest.mark.needs("docker", "compose")
@pytest.mark.parametrize("name", REFUSED)
def test_without_stack_config_the_check_refuses_what_swarm_refuses(name, tmp_path):
    checked = check_stack(stack_folder(tmp_path, name, refused(name)), env=without_stack_config(tmp_path))
    assert checked.how != "docker stack config"
    assert not checked.ok
    assert checked.message


def test_the_stand_in_for_debian_12s_cli_fails_as_it_does(tmp_path):
    env = without_stack_config(tmp_path)
    result = subprocess.run(
        ["docker", "stack", "config", "-c", "stack.yaml"], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode != 0 and "unknown shorthand flag: 'c'" in result.stderr


@pytest.mark.needs("docker-stack-config")
@pytest.mark.parametrize("name", ["accepted", *REFUSED])
def test_docker_stack_config_gives_the_same_verdicts(name, tmp_path):
    """Holds the fallback's schema to the real command, wherever the CLI has it (CI does)."""
    folder = stack_folder(tmp_path, name, ACCEPTED if name == "accepted" else refused(name))
    real = check_stack(folder)  # with this CLI, the check is one run of the real command
    assert real.how == "docker stack config"
    assert real.ok == (name == "accepted"), real.message
