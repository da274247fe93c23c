"""Run code in a Jupyter kernel through the server's REST API and websocket, as the browser does."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field

import requests
import websocket


@dataclass
class Execution:
    status: str = ""
    stdout: str = ""  # all the cell printed, standard error's included, in order
    errors: list[str] = field(default_factory=list)
    stderr: str = ""  # what it printed on standard error alone
    value: str = ""  # the cell's result as the notebook shows it in text (its last expression's)


def browser_session(base_url: str, headers: dict[str, str] | None = None, auth: tuple[str, str] | None = None
                    ) -> requests.Session:  # fmt: skip
    """Requests as JupyterLab makes them: its page sets Jupyter's _xsrf cookie, which each later request sends back
    in X-XSRFToken (Jupyter refuses a change without it unless the request carries a token of its own)."""
    session = requests.Session()
    session.headers.update(headers or {})
    session.auth = auth
    page = session.get(f"{base_url}lab", timeout=60)
    page.raise_for_status()
    xsrf = session.cookies.get("_xsrf")
    if xsrf:
        session.headers["X-XSRFToken"] = xsrf
    return session


def execute(base_url: str, headers: dict[str, str], code: str, timeout: float = 120, keep: bool = False
            ) -> Execution:  # fmt: skip
    """base_url like http://127.0.0.1:35180/jupyter/; headers carry the login (the gateway's or Jupyter's).
    keep leaves the kernel running afterwards, as a student's open notebook does."""
    (result,) = execute_cells(base_url, headers, [code], timeout, keep)
    return result


def execute_cells(base_url: str, headers: dict[str, str], cells: list[str], timeout: float = 120, keep: bool = False,
                  notebook: str | None = None) -> list[Execution]:  # fmt: skip
    """Each cell in turn in one new kernel, as a notebook's are run (all of them, whatever one gives). With notebook
    (a path under the server's root), the kernel is that notebook's session, working in its folder, as when the
    student opens it."""
    session = browser_session(base_url, headers)
    if notebook:
        name = notebook.rsplit("/", 1)[-1]
        opened = {"path": notebook, "name": name, "type": "notebook", "kernel": {"name": "python3"}}
        created = session.post(f"{base_url}api/sessions", json=opened, timeout=60)
        created.raise_for_status()
        kernel_id = created.json()["kernel"]["id"]
        opened_at = f"{base_url}api/sessions/{created.json()['id']}"
    else:
        created = session.post(f"{base_url}api/kernels", json={"name": "python3"}, timeout=30)
        created.raise_for_status()
        kernel_id = created.json()["id"]
        opened_at = f"{base_url}api/kernels/{kernel_id}"
    channels = base_url.replace("http://", "ws://") + f"api/kernels/{kernel_id}/channels"
    header = [f"{name}: {value}" for name, value in headers.items()]
    connection = websocket.create_connection(channels, header=header, timeout=timeout)
    try:
        return [_run(connection, code) for code in cells]
    finally:
        connection.close()
        if not keep:
            session.delete(opened_at, timeout=30)  # a session's end shuts its kernel down


def _run(connection: websocket.WebSocket, code: str) -> Execution:
    msg_id = uuid.uuid4().hex
    session = uuid.uuid4().hex
    request = {
        "header": {
            "msg_id": msg_id,
            "msg_type": "execute_request",
            "session": session,
            "username": "test",
            "version": "5.3",
        },
        "parent_header": {},
        "metadata": {},
        "content": {
            "code": code,
            "silent": False,
            "store_history": False,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": True,
        },
        "channel": "shell",
        "buffers": [],
    }
    connection.send(json.dumps(request))
    result = Execution()
    replied = idle = False
    while not (replied and idle):
        message = json.loads(connection.recv())
        if message["msg_type"] == "status" and message["content"].get("execution_state") in ("restarting", "dead"):
            # Killed (for memory, say): Jupyter restarts it, and the request never gets its reply.
            result.status = "died"
            result.errors.append(f"the kernel died and is {message['content']['execution_state']}")
            return result
        if message.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind = message["msg_type"]
        content = message["content"]
        if kind == "stream":
            result.stdout += content["text"]
            if content.get("name") == "stderr":
                result.stderr += content["text"]
        elif kind == "execute_result":
            result.value = content["data"].get("text/plain", "")
        elif kind == "error":
            result.errors.append("\n".join(content["traceback"]))
        elif kind == "execute_reply":
            result.status = content["status"]
            replied = True
        elif kind == "status" and content["execution_state"] == "idle":
            idle = True
    return result
