"""The Jupyter image on its own: it takes any host uid at run time and runs with no privilege, and a student's kernel
finds the course's Python environment (images/jupyter/course.in, at the lock's versions) and command-line tools."""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.helpers.course_environment import MACHINES, course_pins, kernel_code
from tests.helpers.jupyter_kernel import browser_session, execute
from tests.helpers.net import free_port
from tests.helpers.stacks import Stack, remove_project
from tm351vce.compose.render import StackOptions, recipe_secrets, render_compose
from tm351vce.hosts.student_folder import StudentFolder
from tm351vce.shelf.catalogue import PROJECT_ROOT, load_shelf
from tm351vce.shelf.serialise import to_yaml

pytestmark = pytest.mark.needs("root")

HOST_UID, HOST_GID = 4321, 4322  # a user the image has never heard of
# MongoDB's database tools, which no registry the image is built from has.
MISSING_MONGO_TOOLS = ("mongoimport", "mongoexport", "mongodump", "mongorestore")


@pytest.fixture(scope="module")
def as_other_user(built, engine, tmp_path_factory):
    """The jupyter recipe started by Compose for a host user with uid 4321, as `up` would render it; one for this
    file's tests (the last stops it)."""
    tmp_path = tmp_path_factory.mktemp("other-user")
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


def kernel_json(options: StackOptions, login: dict[str, str], code: str, timeout: float = 120) -> object:
    """Run code in a student's kernel and return the JSON it printed last."""
    result = execute(f"http://127.0.0.1:{options.port}/jupyter/", login, code, timeout=timeout)
    assert result.status == "ok", result.errors
    return json.loads(result.stdout.strip().splitlines()[-1])


def run_in_kernel(options: StackOptions, login: dict[str, str], commands: list[list[str]]) -> dict[str, list]:
    """Each command run from the student's kernel, as a cell's `!command` runs it: exit code, stdout, stderr."""
    code = (
        "import json, subprocess\n"
        "answers = {}\n"
        f"for command in {commands!r}:\n"
        "    done = subprocess.run(command, capture_output=True, text=True)\n"
        "    answers[' '.join(command)] = [done.returncode, done.stdout, done.stderr]\n"
        "print(json.dumps(answers))\n"
    )
    return kernel_json(options, login, code)


def test_every_course_package_imports_at_its_pinned_version(as_other_user, built):
    options, login = as_other_user
    pins = course_pins(MACHINES[built.attrs["Architecture"]])
    checked = kernel_json(options, login, kernel_code(pins), timeout=900)
    assert checked["problems"] == []
    assert checked["imported"] >= len(pins) - checked["extensions"]


def test_the_command_line_tools_course_cells_call_answer(as_other_user):
    options, login = as_other_user
    package = json.loads((PROJECT_ROOT / "images" / "shared" / "mongosh" / "package.json").read_text())
    tools = ("psql", "pg_dump", "createdb", "mongosh")
    answers = run_in_kernel(options, login, [[tool, "--version"] for tool in tools])
    for tool in ("psql", "pg_dump", "createdb"):
        code, out, err = answers[f"{tool} --version"]
        assert code == 0 and re.fullmatch(rf"{tool} \(PostgreSQL\) 15\.\d+.*\n", out), (tool, out, err)
    code, out, err = answers["mongosh --version"]
    assert (code, out.strip()) == (0, package["dependencies"]["mongosh"]), err


def test_mongodbs_missing_tools_say_in_one_line_what_is_missing(as_other_user):
    options, login = as_other_user
    answers = run_in_kernel(options, login, [[tool, "--help"] for tool in MISSING_MONGO_TOOLS])
    for tool in MISSING_MONGO_TOOLS:
        code, out, err = answers[f"{tool} --help"]
        assert (code, out) == (127, ""), (tool, code, out)
        (line,) = err.splitlines()
        assert line.startswith(f"{tool}: not installed: MongoDB's database tools are not in this image"), line
        assert "https://www.mongodb.com/try/download/database-tools" in line


def test_the_student_sees_memory_against_jupyters_limit_and_the_server_extensions_load(as_other_user):
    options, login = as_other_user
    base = f"http://127.0.0.1:{options.port}/jupyter/"
    metrics = browser_session(base, login).get(f"{base}api/metrics/v1", timeout=30)
    assert metrics.status_code == 200, metrics.text
    assert metrics.json()["limits"]["memory"]["rss"] == load_shelf().apps["jupyter"].memory_mib * 2**20
    ((_, out, err),) = run_in_kernel(options, login, [["jupyter", "server", "extension", "list"]]).values()
    listing = re.sub(r"\x1b\[[0-9;]*m", "", out + err)
    for extension in ("jupyter_server_proxy", "jupyter_resource_usage", "nbdime", "jupyter_archive"):
        assert re.search(rf"^\s*{extension} \S+ OK$", listing, re.M), listing


STARTUP_SETTINGS = """
import json, sys, matplotlib, pandas
ip = get_ipython()
sql = [c for c in ip.configurables if type(c).__name__ == "SqlMagic"][0]
print(json.dumps({
    "sql": "sql" in ip.magics_manager.magics["line"] and "sql" in ip.magics_manager.magics["cell"],
    "autopandas": sql.autopandas, "displaylimit": sql.displaylimit, "short_errors": sql.short_errors,
    "backend": "inline" if "inline" in matplotlib.get_backend() else matplotlib.get_backend(),
    "pandas": [pandas.get_option(name) for name in ("display.precision", "display.max_rows", "display.max_columns")],
}))
"""


def test_every_kernel_starts_with_the_courses_start_up_settings(as_other_user):
    options, login = as_other_user
    ran = execute(f"http://127.0.0.1:{options.port}/jupyter/", login, STARTUP_SETTINGS)
    assert ran.status == "ok", ran.errors
    assert json.loads(ran.stdout) == {
        "sql": True,
        "autopandas": True,
        "displaylimit": 50,
        "short_errors": False,
        "backend": "inline",
        "pandas": [7, 50, 25],
    }


# Last: it stops the stack the tests above share.
def test_docker_stop_shuts_every_service_down_cleanly(as_other_user, engine):
    """tini (root) must be able to pass the stop signal to servers that run as other users."""
    options, _ = as_other_user
    for container in engine.containers.list(filters={"label": f"com.docker.compose.project={options.project}"}):
        container.stop(timeout=20)
        container.reload()
        logs = container.logs().decode(errors="replace")
        assert container.attrs["State"]["ExitCode"] == 0, (container.name, logs[-2000:])
        assert "FATAL tini" not in logs
