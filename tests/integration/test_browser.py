"""A real browser (Debian's headless Chromium) logs in at the gateway, opens JupyterLab and runs a notebook."""

from __future__ import annotations

import pytest
from playwright.sync_api import Error as PlaywrightError

pytestmark = pytest.mark.needs("chromium")


@pytest.fixture(scope="module")
def running(built, stack):
    return stack.started("jupyter-postgres")


def test_without_the_password_the_browser_gets_no_further_than_the_login(running, browser):
    page = browser.new_page()
    with pytest.raises(PlaywrightError, match="ERR_INVALID_AUTH_CREDENTIALS"):
        page.goto(running.url("/jupyter/lab"))


def test_a_student_logs_in_runs_python_and_sql_in_a_notebook(running, browser, tmp_path):
    context = browser.new_context(
        http_credentials={"username": "student", "password": running.password()},
        viewport={"width": 1280, "height": 800},
    )
    page = context.new_page()
    failed = []
    page.on("response", lambda response: failed.append(response.url) if response.status == 401 else None)
    page.goto(running.url("/"))
    page.locator(".jp-LauncherCard").first.click(timeout=60_000)
    editor = page.locator(".jp-NotebookPanel .jp-Cell .cm-content").first
    editor.wait_for(timeout=60_000)
    page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=60_000)  # the kernel's websocket is up
    editor.click()
    page.keyboard.type("import psycopg; print(6 * 7, psycopg.connect().execute('SELECT current_user').fetchone()[0])")
    page.keyboard.press("Shift+Enter")
    output = page.locator(".jp-OutputArea-output").first
    output.wait_for(timeout=60_000)
    assert output.inner_text().strip() == "42 tm351"
    screenshot = tmp_path / "notebook.png"
    page.screenshot(path=str(screenshot))
    assert screenshot.stat().st_size > 10_000
    assert failed == []
    context.close()


def test_the_dashboard_stops_and_starts_jupyter_in_the_browser(running, browser, tmp_path):
    context = browser.new_context(
        http_credentials={"username": "student", "password": running.password()},
        viewport={"width": 1100, "height": 700},
    )
    page = context.new_page()
    page.goto(running.url("/dashboard/"))
    for name in ("dashboard", "gateway", "jupyter", "postgres"):
        page.locator(f"tr[data-service={name}] .state").wait_for(timeout=30_000)
    state = page.locator("tr[data-service=jupyter] .state")
    assert state.inner_text() == "running"
    assert page.locator("tr[data-service=gateway] [data-action=stop]").is_disabled()

    page.locator("tr[data-service=jupyter] [data-action=stop]").click()
    page.wait_for_function(
        "document.querySelector('tr[data-service=jupyter] .state').textContent === 'exited'", timeout=60_000
    )
    assert page.locator("tr[data-service=jupyter] .memory span").inner_text() == "\u2013"  # no memory while stopped
    page.locator("tr[data-service=jupyter] [data-action=start]").click()
    page.wait_for_function(
        "document.querySelector('tr[data-service=jupyter] .health').textContent === 'healthy'", timeout=60_000
    )
    assert "MiB of" in page.locator("#total").inner_text()
    screenshot = tmp_path / "dashboard.png"
    page.screenshot(path=str(screenshot))
    assert screenshot.stat().st_size > 10_000
    context.close()
