"""Attacks from a web page on another origin, against a student whose browser has the login cached.

A page served on another loopback port (another origin, as any site the student visits) makes the browser send
requests to the stack. The browser adds the student's cached login to them, so only the apps' own cross-site
checks stand between that page and the student's files: each attack below must leave no trace. The student's
own use of the same browser must keep working.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from playwright.sync_api import BrowserContext

from tests.helpers.jupyter_kernel import browser_session
from tests.helpers.net import free_port, serving, wait_until
from tests.helpers.stacks import Stack

pytestmark = pytest.mark.needs("chromium")

# A real package on PyPI that the image does not have: installing it would prove the server ran pip.
PLANTED_PACKAGE = "pip-install-test"

ATTACK_PAGE = """<!doctype html>
<title>cat pictures</title>
<form id="plant" method="post" action="{stack}/jupyter/api/contents/notebooks" target="sink"></form>
<iframe name="sink"></iframe>
<script>
const stack = "{stack}";
const done = [];
function report(what) {{ if (!done.includes(what)) {{ done.push(what); document.title = done.join(" "); }} }}
// A form post (a navigation: the browser always sends the cached login) that would create a file.
document.getElementById("plant").submit();
report("form");
// A no-cors post that would have the extension manager pip-install a package.
fetch(stack + "/jupyter/lab/api/extensions", {{
    method: "POST", mode: "no-cors", credentials: "include", headers: {{"Content-Type": "text/plain"}},
    body: JSON.stringify({{cmd: "install", extension_name: "{package}"}}),
}}).finally(() => report("install"));
// A no-cors post that would start a terminal.
fetch(stack + "/jupyter/api/terminals", {{method: "POST", mode: "no-cors", credentials: "include"}})
    .finally(() => report("terminal"));
// A websocket to the terminal the student has open, typing a command into it.
const socket = new WebSocket(stack.replace("http", "ws") + "/jupyter/terminals/websocket/{terminal}");
socket.onopen = () => {{
    socket.send(JSON.stringify(["stdin", "touch /srv/TM351VCE/typed-by-a-web-page\\r"]));
    setTimeout(() => socket.close(), 1000);
}};
socket.onclose = () => report("websocket");
// A read of the student's files, which only works where the server allows this origin.
fetch(stack + "/jupyter/api/contents", {{credentials: "include"}})
    .then(response => response.text()).then(text => report("read:" + text.length), () => report("unread"));
</script>
"""


@pytest.fixture(scope="module")
def running(built, stack) -> Stack:
    return stack.started("jupyter")


@pytest.fixture
def student(running, browser) -> Iterator[BrowserContext]:
    """The student's browser: it has logged in to the stack, so the login is cached for that origin."""
    context = browser.new_context(http_credentials={"username": "student", "password": running.password()})
    page = context.new_page()
    page.goto(running.url("/jupyter/lab"))
    page.locator(".jp-LauncherCard").first.wait_for(timeout=60_000)
    yield context
    context.close()


def attacker_site(page: str) -> ThreadingHTTPServer:
    """A site on another loopback port that serves the attack page."""

    class AttackerSite(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = page.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    return ThreadingHTTPServer(("127.0.0.1", free_port()), AttackerSite)


def test_a_page_on_another_origin_cannot_use_the_cached_login(running, student):
    jupyter = running.url("/jupyter/")
    session = browser_session(jupyter, running.login())
    terminal = session.post(f"{jupyter}api/terminals", timeout=30)
    assert terminal.status_code == 200, terminal.text
    terminals_before = {item["name"] for item in session.get(f"{jupyter}api/terminals", timeout=30).json()}
    notebooks = running.data_dir / "notebooks"
    files_before = set(notebooks.iterdir())

    page = ATTACK_PAGE.format(stack=running.url("").rstrip("/"), package=PLANTED_PACKAGE,
                              terminal=terminal.json()["name"])  # fmt: skip
    with serving(attacker_site(page)) as server:
        visit = student.new_page()
        visit.goto(f"http://127.0.0.1:{server.server_port}/")
        assert wait_until(lambda: len(visit.title().split()) == 5, timeout=60), visit.title()
        time.sleep(3)  # anything the requests set going (a terminal's command, pip) has time to show
        title = visit.title()

    assert set(notebooks.iterdir()) == files_before, "a cross-site form post created a file"
    assert not (running.data_dir / "typed-by-a-web-page").exists(), "a cross-site websocket typed in a terminal"
    terminals_after = {item["name"] for item in session.get(f"{jupyter}api/terminals", timeout=30).json()}
    assert terminals_after == terminals_before, "a cross-site post started a terminal"
    assert "unread" in title.split(), f"a cross-site read of the student's files succeeded: {title}"
    module = PLANTED_PACKAGE.replace("-", "_")
    planted = running.run(f"import importlib.util; print(importlib.util.find_spec({module!r}))")
    assert planted.stdout.strip() == "None", "a cross-site post had the server install a package"


def test_jupyter_names_no_foreign_origin_in_cors_and_refuses_its_changes(running):
    foreign = {**running.login(), "Origin": "http://127.0.0.1:9"}
    listed = requests.get(running.url("/jupyter/api/contents"), headers=foreign, timeout=10)
    assert "Access-Control-Allow-Origin" not in listed.headers
    created = requests.post(running.url("/jupyter/api/contents/notebooks"), headers=foreign, timeout=10)
    assert created.status_code in (403, 404), created.text


def test_the_extension_manager_installs_nothing_even_for_the_student(running):
    jupyter = running.url("/jupyter/")
    session = browser_session(jupyter, running.login())
    lab = session.get(f"{jupyter}lab", timeout=30).text
    config = json.loads(re.search(r'<script id="jupyter-config-data"[^>]*>(.*?)</script>', lab, re.DOTALL)[1])
    assert config["extensionManager"]["can_install"] is False, config["extensionManager"]
    asked = session.post(
        f"{jupyter}lab/api/extensions", json={"cmd": "install", "extension_name": PLANTED_PACKAGE}, timeout=120
    )
    assert asked.status_code != 201, asked.text


def test_a_file_the_student_opens_keeps_jupyters_sandbox(running, student):
    (running.data_dir / "notebooks" / "page.html").write_text(
        "<!doctype html><title>x</title><script>document.title = 'origin ' + window.origin;</script>"
    )
    page = student.new_page()
    # Opened from JupyterLab's file browser: a new tab whose referrer is the lab page.
    response = page.goto(running.url("/jupyter/files/notebooks/page.html"), referer=running.url("/jupyter/lab"))
    assert response is not None and response.status == 200
    assert "sandbox" in response.headers.get("content-security-policy", "")
    assert wait_until(lambda: page.title().startswith("origin "), timeout=30)
    assert page.title() == "origin null", "the file ran as the stack's own origin, where it could read the token"


def test_the_student_still_creates_files_and_opens_terminals(running, student):
    page = student.new_page()
    page.goto(running.url("/jupyter/lab"))
    page.locator(".jp-LauncherCard", has_text="Terminal").first.click(timeout=60_000)
    page.locator(".jp-Terminal").first.wait_for(timeout=60_000)
    page.locator(".jp-Terminal").first.click()
    page.keyboard.type("touch /srv/TM351VCE/typed-by-the-student\n")
    assert wait_until(lambda: (running.data_dir / "typed-by-the-student").exists(), timeout=30)
