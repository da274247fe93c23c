"""What the code a student runs in a notebook can reach: its own database login, never the install's secrets."""

from __future__ import annotations

import json

import pytest

from tests.helpers.jupyter_kernel import browser_session
from tm351vce.compose.render import recipe_secrets
from tm351vce.shelf.catalogue import load_shelf

RECIPE = "jupyter-postgres"
PROBE = """
import json, os
folder = '/srv/TM351VCE/.tm351'
found = {'listed': sorted(os.listdir(folder)), 'read': {}, 'planted': None}
for name in NAMES:
    try:
        found['read'][name] = len(open(os.path.join(folder, name)).read())
    except OSError as error:
        found['read'][name] = type(error).__name__
try:
    os.symlink('/etc/passwd', os.path.join(folder, 'compose.yaml'))
    found['planted'] = True
except OSError as error:
    found['planted'] = type(error).__name__
found['database_login'] = bool(os.environ.get('PGPASSWORD'))
print(json.dumps(found))
"""


@pytest.fixture(scope="module")
def running(built, stack):
    return stack.started(RECIPE)


def test_a_notebook_can_neither_read_nor_plant_anything_among_the_installs_secrets(running):
    shelf = load_shelf()
    names = recipe_secrets(shelf, shelf.recipe(RECIPE))
    assert {"password", "jupyter_token", "postgres_password"} <= set(names)
    assert all((running.data_dir / ".tm351" / name).is_file() for name in names)  # they are there, on the host
    result = running.run(f"NAMES = {names!r}\n{PROBE}")
    assert result.status == "ok", result.errors
    found = json.loads(result.stdout)
    assert found["listed"] == [], found
    assert all(outcome == "FileNotFoundError" for outcome in found["read"].values()), found
    assert found["planted"] == "OSError", found  # a read-only file system
    assert not (running.data_dir / ".tm351" / "compose.yaml").is_symlink()
    assert found["database_login"], "the notebook lost its own database login"


def test_jupyterlab_keeps_its_settings_in_the_student_folder(running):
    jupyter = running.url("/jupyter/")
    session = browser_session(jupyter, running.login())
    theme = {"raw": json.dumps({"theme": "JupyterLab Dark"})}
    saved = session.put(f"{jupyter}lab/api/settings/@jupyterlab/apputils-extension:themes", json=theme, timeout=30)
    assert saved.status_code == 204, saved.text
    kept = running.data_dir / ".jupyterlab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    assert "JupyterLab Dark" in (kept / "themes.jupyterlab-settings").read_text()


def test_a_runaway_notebook_stops_at_the_containers_process_limit_and_the_server_lives_on(running, engine):
    limit = load_shelf().apps["jupyter"].pids_limit
    result = running.run(
        "import threading, time\n"
        "stop = threading.Event()\n"
        "started = 0\n"
        "try:\n"
        f"    for _ in range({limit * 2}):\n"
        "        threading.Thread(target=stop.wait, daemon=True).start()\n"
        "        started += 1\n"
        "except RuntimeError as error:\n"
        "    print('refused after', started)\n"
        "stop.set()\n"
    )
    assert result.status == "ok", result.errors
    assert result.stdout.startswith("refused after"), result.stdout
    assert int(result.stdout.split()[-1]) < limit
    container = engine.containers.list(filters={"label": [f"com.docker.compose.project={running.project}",
                                                          "com.docker.compose.service=jupyter"]})[0]  # fmt: skip
    assert container.attrs["HostConfig"]["PidsLimit"] == limit
    assert container.attrs["HostConfig"]["LogConfig"]["Config"] == {"max-size": "10m", "max-file": "3"}
    assert running.run("print(6 * 7)").stdout.strip() == "42"
