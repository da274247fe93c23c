"""The Jupyter image on its own: it takes any host uid at run time and runs with no privilege."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest

from tests.helpers.jupyter_kernel import execute
from tests.helpers.net import free_port
from tests.helpers.stacks import Stack, remove_project
from tm351vce.compose.render import StackOptions, recipe_secrets, render_compose
from tm351vce.hosts.student_folder import StudentFolder
from tm351vce.shelf.catalogue import load_shelf
from tm351vce.shelf.serialise import to_yaml

pytestmark = pytest.mark.needs("root")

HOST_UID, HOST_GID = 4321, 4322  # a user the image has never heard of


@pytest.fixture
def as_other_user(built, engine, tmp_path):
    """The jupyter recipe started by Compose for a host user with uid 4321, as `up` would render it."""
    shelf = load_shelf()
    data_dir = tmp_path / "TM351VCE"
    folder = StudentFolder(data_dir)
    recipe = shelf.recipe("jupyter")
    folder.prepare(shelf.student_folders, recipe_secrets(shelf, recipe))
    for path in (data_dir, *data_dir.rglob("*")):
        # chown, not the CLI: these tests run as root, and the point is a uid other than ours.
        subprocess.run(["chown", f"{HOST_UID}:{HOST_GID}", str(path)], check=True)
    options = StackOptions(
        data_dir=data_dir,
        port=free_port(),
        host="127.0.0.1",
        project=f"tm351-test-{uuid.uuid4().hex[:8]}",
        uid=HOST_UID,
        gid=HOST_GID,
    )
    compose_file = tmp_path / "compose.yaml"
    compose_file.write_text(to_yaml(render_compose(shelf, recipe, options)))
    try:
        started = subprocess.run(
            ["docker", "compose", "-f", str(compose_file), "up", "--detach", "--wait"], capture_output=True, text=True
        )
        assert started.returncode == 0, started.stderr
        yield options, Stack(options.project, options.port, data_dir).login()
    finally:
        remove_project(engine, options.project)


def test_files_belong_to_the_host_user(as_other_user):
    options, login = as_other_user
    result = execute(f"http://127.0.0.1:{options.port}/jupyter/", login, "open('data/out.csv', 'w').write('a,b')")
    assert result.status == "ok", result.errors
    written = Path(options.data_dir, "data", "out.csv")
    assert (written.stat().st_uid, written.stat().st_gid) == (HOST_UID, HOST_GID)


def test_the_server_runs_as_that_user_without_capabilities(as_other_user, engine):
    options, login = as_other_user
    code = (
        "import os\n"
        "print(os.getuid(), os.getgid(), os.environ['HOME'])\n"
        "print([line.split()[1] for line in open('/proc/self/status') if line.startswith(('CapEff', 'CapBnd'))])\n"
    )
    result = execute(f"http://127.0.0.1:{options.port}/jupyter/", login, code)
    assert result.status == "ok", result.errors
    identity, capabilities = result.stdout.splitlines()
    assert identity == f"{HOST_UID} {HOST_GID} /home/student"
    assert capabilities == "['0000000000000000', '0000000000000000']"


def test_docker_stop_shuts_every_service_down_cleanly(as_other_user, engine):
    """tini (root) must be able to pass the stop signal to servers that run as other users."""
    options, _ = as_other_user
    for container in engine.containers.list(filters={"label": f"com.docker.compose.project={options.project}"}):
        container.stop(timeout=20)
        container.reload()
        logs = container.logs().decode(errors="replace")
        assert container.attrs["State"]["ExitCode"] == 0, (container.name, logs[-2000:])
        assert "FATAL tini" not in logs
