"""The project's compatibility notebooks (tests/notebooks/), written as the course's own are (connection strings
at localhost, the SQL magic's idioms, MongoDB with no login, OpenRefine's API, charts and a map), run as a student
runs them: on the whole tm351 stack (OpenRefine asleep until a notebook's first request wakes it), each in its own
notebook session through the gateway's login and Jupyter's kernel websocket, within the container's memory limit.
Each must run with no error cell and no printed error; the installation check then exports to Word with its tables
and charts. A notebook's request to OpenRefine asleep wakes it; JupyterLab's OpenRefine tile opens the stack's
OpenRefine."""

from __future__ import annotations

import io
import os
import shutil

import docx
import pytest
import requests

from tests.helpers.notebooks import FOLDER, NOTEBOOK_FOLDER, NOTEBOOKS, failures, run_notebook
from tests.helpers.stacks import WAKE_BOUND_S, service_container


@pytest.fixture(scope="module")
def course_stack(built, stack):
    result = stack.up("tm351", timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    (stack.data_dir / FOLDER).mkdir(exist_ok=True)
    return stack


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[notebook.stem for notebook in NOTEBOOKS])
def test_the_notebook_runs_with_no_error_cell_and_no_printed_error(course_stack, notebook):
    assert not failures(run_notebook(course_stack, notebook))


def test_the_installation_check_saves_its_map_and_exports_to_word_with_its_tables_and_charts(course_stack, engine):
    name = "installation-check.ipynb"
    shutil.copy(NOTEBOOK_FOLDER / name, course_stack.data_dir / FOLDER)
    # Run all, then save, as the student does before exporting: nbconvert in the Jupyter container, as the student's
    # uid, runs it in one kernel working in the notebook's folder. (Driving that from a second course kernel, which
    # holds the start-up's stack too, went past Jupyter's memory limit on a first, uncompiled start.)
    executed = service_container(engine, course_stack, "jupyter").exec_run(
        ["jupyter", "nbconvert", "--to", "notebook", "--execute", "--inplace", f"{FOLDER}/{name}"],
        user=f"{os.getuid()}:{os.getgid()}",
        workdir="/srv/TM351VCE",
        environment={"HOME": "/home/student"},
    )
    assert executed.exit_code == 0, executed.output.decode(errors="replace")[-2000:]
    saved_map = (course_stack.data_dir / FOLDER / "test.html").read_text()
    assert "leaflet" in saved_map and "The Open University" in saved_map
    # JupyterLab's File, Save and Export As, Word: Jupyter checks that the request comes from its page.
    from_lab = {**course_stack.login(), "Referer": course_stack.url("/jupyter/lab")}
    response = course_stack.get(f"/jupyter/nbconvert/docx/{FOLDER}/{name}?download=true", from_lab, timeout=120)
    assert response.status_code == 200, response.text[:300]
    document = docx.Document(io.BytesIO(response.content))
    tables = [[[cell.text for cell in row.cells] for row in table.rows] for table in document.tables]
    assert any(row[-3:] == ["1", "This", "12"] for table in tables for row in table), tables  # quickdemo's first row
    assert len(document.inline_shapes) >= 4  # the line chart, the histogram, the cumulative sum and the places


def test_a_notebooks_first_request_to_openrefine_asleep_wakes_it_and_keeps_its_body(course_stack, engine):
    """OpenRefine's clients look at localhost:3333: the gateway's door there, without the student's login, wakes it,
    and the request that found it asleep (here an upload, a post with a body) is answered once it is awake."""
    openrefine = service_container(engine, course_stack, "openrefine")
    if openrefine.status == "running":
        stopped = requests.post(
            course_stack.url("/dashboard/api/services/openrefine/stop"), headers=course_stack.login(), timeout=90
        )
        assert stopped.status_code == 200, stopped.text
    result = course_stack.run(
        "import requests\n"
        "answer = requests.post('http://localhost:3333/command/core/create-project-from-upload',\n"
        "                       files={'project-file': ('big.csv', 'a,b\\n' + '1,2\\n' * 500000)}, timeout=300)\n"
        "print(answer.status_code, [step.status_code for step in answer.history], answer.json()['message'])\n"
    )
    assert result.status == "ok", result.errors
    # OpenRefine itself refused it, having read it: the upload carries no CSRF token.
    assert result.stdout.strip() == "200 [307] Missing or invalid csrf_token parameter", result.stdout
    openrefine.reload()
    assert openrefine.status == "running"
    assert "tm351-woken: openrefine" in service_container(engine, course_stack, "dashboard").logs().decode()
    assert "tm351-request: openrefine" in service_container(engine, course_stack, "gateway").logs().decode()


def test_the_door_to_openrefine_answers_only_requests_for_localhost(course_stack, engine):
    """A web page that got its own host name to point at the gateway's address on Docker's bridge (DNS rebinding)
    would read OpenRefine's CSRF token through the door, which asks for no login: it sends its name, and is refused."""
    gateway = service_container(engine, course_stack, "gateway")
    address = next(iter(gateway.attrs["NetworkSettings"]["Networks"].values()))["IPAddress"]
    rebound = requests.get(
        f"http://{address}:3333/command/core/get-csrf-token", headers={"Host": "attacker.example:3333"}, timeout=30
    )
    assert rebound.status_code == 421 and "token" not in rebound.text
    asked = course_stack.run(
        "import requests\n"
        "for host in ('localhost', '127.0.0.1'):\n"
        "    print(requests.get(f'http://{host}:3333/command/core/get-csrf-token', timeout=300).status_code)\n"
    )
    assert asked.stdout.split() == ["200", "200"], asked.stdout + str(asked.errors)


@pytest.mark.needs("chromium")
def test_jupyterlabs_openrefine_tile_opens_the_stacks_openrefine_in_a_new_tab(course_stack, browser):
    context = browser.new_context(
        http_credentials={"username": "student", "password": course_stack.password()},
        viewport={"width": 1280, "height": 800},
    )
    page = context.new_page()
    page.goto(course_stack.url("/jupyter/lab"))
    tile = page.locator(".jp-LauncherCard", has_text="OpenRefine")
    with context.expect_page(timeout=60_000) as new_tab:
        tile.click(timeout=60_000)
    refine = new_tab.value
    refine.wait_for_load_state()
    assert refine.url == course_stack.url("/openrefine/")
    # Asleep, it shows the gateway's starting page, which opens OpenRefine once it is awake.
    refine.wait_for_function("document.title === 'OpenRefine'", timeout=WAKE_BOUND_S * 1000)
    context.close()
