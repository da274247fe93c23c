"""The published shelf for every recipe, checked by Compose's and Swarm's own parsers (no engine needed)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from tests.helpers.cli import invoke_cli
from tests.helpers.documents import parse_yaml
from tests.helpers.swarm import check_stack, has_stack_config, without_stack_config
from tm351vce.shelf.catalogue import load_shelf

SHELF = load_shelf()
REGISTRY = "registry.example.org/ou"


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    (cache / "tm351").mkdir()
    lock = {
        f"{REGISTRY}/tm351/{app}:{SHELF.version}": f"{REGISTRY}/tm351/{app}:{SHELF.version}@sha256:{index:064x}"
        for index, app in enumerate(SHELF.apps)
    }
    (cache / "tm351" / "images.lock.json").write_text(json.dumps(lock))
    folder = tmp_path_factory.mktemp("shelf")
    result = invoke_cli("publish", "-o", str(folder), "--registry", REGISTRY, env={"XDG_CACHE_HOME": str(cache)})
    assert result.returncode == 0, result.stdout + result.stderr
    return folder


@pytest.mark.needs("docker", "compose")
@pytest.mark.parametrize("recipe", list(SHELF.recipes))
def test_compose_accepts_each_recipe_folder(published, recipe):
    checked = subprocess.run(["docker", "compose", "config", "-q"], cwd=published / recipe, capture_output=True,
                             text=True, check=False)  # fmt: skip
    assert checked.returncode == 0, checked.stderr


@pytest.mark.needs("docker", "compose")
@pytest.mark.parametrize("docker_cli", ["installed", "debian-12"])
@pytest.mark.parametrize("recipe", list(SHELF.recipes))
def test_swarm_accepts_each_stack_and_it_uses_only_what_swarm_reads(published, recipe, docker_cli, tmp_path):
    """With the Docker CLI installed here, and with Debian 12's (20.10), which has no `docker stack config`."""
    env = without_stack_config(tmp_path) if docker_cli == "debian-12" else {}
    folder = tmp_path / recipe
    shutil.copytree(published / recipe, folder)
    text = (folder / "stack.yaml").read_text()
    for unsupported in ("mem_limit", "profiles", "extends", "include:", "service_healthy", "host_ip", "group_add"):
        assert unsupported not in text, unsupported
    stack = parse_yaml(text)
    for name, service in stack["services"].items():
        assert service["deploy"]["resources"]["limits"]["memory"] == f"{SHELF.apps[name].memory_mib}M"
        assert service["deploy"]["restart_policy"]["condition"] == "any"
        assert isinstance(service.get("depends_on", []), list)
    (folder / "secrets").mkdir()
    for secret in stack.get("secrets", {}):
        (folder / "secrets" / secret).write_text("not-a-real-secret")
    checked = check_stack(folder, env=env)
    assert checked.ok, checked.message
    assert (checked.how == "docker stack config") == (docker_cli == "installed" and has_stack_config())


def test_no_published_file_sets_a_password(published):
    for path in published.rglob("*"):
        if path.is_file() and path.parent.name != "secrets":
            assert not re.search(r"PASSWORD=\S", path.read_text()), path
    assert "TM351_PASSWORD=\n" in (published / "tm351" / ".env.example").read_text()
