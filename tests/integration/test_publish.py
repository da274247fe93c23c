"""The published shelf, used as a reader would: a recipe folder copied anywhere, run with plain Compose,
pulling its images by digest from a real registry, and reached through the gateway with the password."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

from tests.helpers.cli import run_cli
from tests.helpers.net import free_port, wait_until
from tests.helpers.swarm import check_stack
from tm351vce.shelf.catalogue import load_shelf

pytestmark = pytest.mark.needs("docker-registry")

RECIPE = "jupyter-postgres"
# Two recipes are enough to check publishing: pushing MongoDB's and OpenRefine's images too would add
# over 800 MB to the test registry (test_full_shelf.py runs those images).
PUBLISHED = ("jupyter", "jupyter-postgres")
BASE_URL = "https://git.example.org/ou/tm351-shelf"


@pytest.fixture(scope="module")
def registry(engine, built, tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """Debian's docker-registry on loopback (which the engine trusts without TLS), holding the pushed images."""
    if shutil.which("docker-registry") is None:
        pytest.fail("Debian's docker-registry package is missing: run .ci/run (it installs it).")
    folder = tmp_path_factory.mktemp("registry")
    address = f"127.0.0.1:{free_port()}"
    config = {
        "version": 0.1,
        "log": {"level": "warn"},
        "storage": {"filesystem": {"rootdirectory": str(folder / "data")}},
        "http": {"addr": address},
    }
    (folder / "config.yml").write_text(yaml.safe_dump(config))
    server = subprocess.Popen(
        ["docker-registry", "serve", str(folder / "config.yml")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    cache = tmp_path_factory.mktemp("cache")
    try:
        assert wait_until(lambda: _answers(f"http://{address}/v2/"), timeout=30), "the test registry did not start"
        apps = dict.fromkeys(app for recipe in PUBLISHED for app in load_shelf().recipe(recipe).apps)
        pushed = run_cli("push", *apps, "--registry", f"{address}/shelf",
                         env={"XDG_CACHE_HOME": str(cache)})  # fmt: skip
        assert pushed.returncode == 0, pushed.stdout + pushed.stderr
        yield f"{address}/shelf", cache
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="module")
def shelf_dir(registry, tmp_path_factory) -> Path:
    prefix, cache = registry
    folder = tmp_path_factory.mktemp("published")
    published = run_cli("publish", *PUBLISHED, "-o", str(folder), "--registry", prefix, "--base-url", BASE_URL,
                        env={"XDG_CACHE_HOME": str(cache)})  # fmt: skip
    assert published.returncode == 0, published.stdout + published.stderr
    return folder


def _answers(url: str, auth: tuple[str, str] | None = None) -> bool:
    try:
        return requests.get(url, auth=auth, timeout=3).status_code == 200
    except requests.RequestException:
        return False


def test_every_recipe_gets_a_folder_that_names_no_local_path(shelf_dir, registry):
    prefix, _ = registry
    for recipe in PUBLISHED:
        folder = shelf_dir / recipe
        assert {path.name for path in folder.iterdir()} >= {"compose.yaml", ".env.example", "README.md"}
        text = (folder / "compose.yaml").read_text()
        project = yaml.safe_load(text)
        assert "/work/" not in text and str(Path.home()) not in text
        for name, service in project["services"].items():
            assert "build" not in service
            assert service["image"].startswith(f"{prefix}/tm351/") and "@sha256:" in service["image"], name
        assert "docker compose up -d --wait" in (folder / "README.md").read_text()
        assert "TM351_PASSWORD=\n" in (folder / ".env.example").read_text()


def test_a_copied_recipe_folder_runs_with_plain_compose_and_asks_for_its_password(
    shelf_dir, registry, engine, tmp_path
):
    prefix, _ = registry
    folder = tmp_path / "elsewhere" / RECIPE
    shutil.copytree(shelf_dir / RECIPE, folder)
    port = free_port()
    project = f"tm351-pub-{port}"
    (folder / ".env").write_text(f"TM351_PORT={port}\nTM351_UID=0\nTM351_GID=0\n")
    # Forget the pushed names: the images must come from the registry, by digest.
    for image in engine.images.list():
        for reference in [*image.tags, *image.attrs.get("RepoDigests", [])]:
            if reference.startswith(prefix):
                subprocess.run(["docker", "rmi", reference], capture_output=True, check=False)
    compose = ["docker", "compose", "-p", project]
    try:
        started = subprocess.run([*compose, "up", "-d", "--wait"], cwd=folder, capture_output=True, text=True,
                                 timeout=600, check=False)  # fmt: skip
        assert started.returncode == 0, started.stdout + started.stderr
        password = (folder / "TM351VCE" / ".tm351" / "password").read_text().strip()
        assert len(password) >= 16
        url = f"http://127.0.0.1:{port}/jupyter/api/status"
        assert requests.get(url, timeout=10).status_code == 401
        assert wait_until(lambda: _answers(url, ("student", password)), timeout=60)
        running = subprocess.run([*compose, "images", "--format", "json"], cwd=folder, capture_output=True,
                                 text=True, check=True).stdout  # fmt: skip
        assert prefix in running

        # The password survives a restart, and the notebook server can reach its database.
        subprocess.run([*compose, "down"], cwd=folder, capture_output=True, check=True)
        again = subprocess.run([*compose, "up", "-d", "--wait"], cwd=folder, capture_output=True, text=True,
                               timeout=600, check=False)  # fmt: skip
        assert again.returncode == 0, again.stdout + again.stderr
        assert (folder / "TM351VCE" / ".tm351" / "password").read_text().strip() == password
        query = subprocess.run(
            [*compose, "exec", "-T", "jupyter", "python", "-c",
             "import os, psycopg; "
             "print(psycopg.connect(os.environ['DATABASE_URL']).execute('select 42').fetchone()[0])"],
            cwd=folder, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert query.stdout.strip() == "42", query.stdout + query.stderr
    finally:
        subprocess.run([*compose, "down", "--volumes"], cwd=folder, capture_output=True, check=False)


def test_a_published_stack_deploys_on_a_single_node_swarm(shelf_dir, engine, tmp_path):
    folder = tmp_path / "swarm" / "jupyter"
    shutil.copytree(shelf_dir / "jupyter", folder)
    readme = (folder / "README.md").read_text()
    secrets_step = readme.split("```")[-2].strip()  # the README's own commands, as a reader would paste them
    stack = f"tm351-swarm-{free_port()}"
    env = {**os.environ, "TM351_PORT": str(free_port())}
    config = check_stack(folder, env=env)  # `docker stack config` where the CLI has it
    assert config.ok, config.message
    assert engine.info()["Swarm"]["LocalNodeState"] == "inactive", "this engine is already in a swarm"
    subprocess.run(["docker", "swarm", "init", "--advertise-addr", "127.0.0.1"], capture_output=True, check=True)
    try:
        deployed = subprocess.run(["bash", "-euo", "pipefail", "-c", secrets_step.replace("tm351-jupyter", stack)],
                                  cwd=folder, env=env, capture_output=True, text=True, check=False)  # fmt: skip
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        assert (folder / "secrets" / "password").stat().st_size > 0

        def all_running() -> bool:
            listing = subprocess.run(["docker", "stack", "services", stack, "--format", "{{.Name}} {{.Replicas}}"],
                                     capture_output=True, text=True, check=False).stdout.split("\n")  # fmt: skip
            replicas = [line.split()[1] for line in listing if line.strip()]
            return len(replicas) == 3 and all(count == "1/1" for count in replicas)

        assert wait_until(all_running, timeout=240, pause=3), subprocess.run(
            ["docker", "stack", "ps", stack, "--no-trunc"], capture_output=True, text=True, check=False
        ).stdout
    finally:
        subprocess.run(["docker", "stack", "rm", stack], capture_output=True, check=False)
        subprocess.run(["docker", "swarm", "leave", "--force"], capture_output=True, check=False)


def test_the_portainer_feed_has_the_fields_of_format_3(shelf_dir):
    feed = json.loads((shelf_dir / "templates.json").read_text())
    assert feed["version"] == "3"
    templates = feed["templates"]
    assert [template["title"] for template in templates] == [f"TM351 {recipe}" for recipe in PUBLISHED]
    ids = [template["id"] for template in templates]
    assert all(isinstance(number, int) for number in ids) and len(set(ids)) == len(ids)
    for template in templates:
        assert template["type"] in (2, 3)  # a Swarm or a Compose stack
        assert template["description"] and template["categories"] and template["platform"] == "linux"
        assert template["logo"].startswith(BASE_URL + "/")
        assert (shelf_dir / template["logo"][len(BASE_URL) + 1 :]).is_file()
        assert template["repository"]["url"] == BASE_URL
        assert (shelf_dir / template["repository"]["stackfile"]).is_file()
        assert all({"name", "label"} <= set(variable) for variable in template["env"])


@pytest.mark.needs("chromium")
def test_the_index_page_works_offline_and_renders_in_a_browser(shelf_dir, tmp_path):
    page = (shelf_dir / "index.html").read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//|@import|url\(""", page), "the page loads something external"
    for recipe in PUBLISHED:
        assert f'id="{recipe}"' in page
        assert f"cd {recipe}\ndocker compose up -d --wait" in page
    assert page.count("<svg") == len(PUBLISHED)
    screenshot = tmp_path / "index.png"
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={screenshot}",
         "--window-size=1000,1600", (shelf_dir / "index.html").as_uri()],
        capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    assert screenshot.is_file() and screenshot.stat().st_size > 10_000
