"""The service dashboard: a page and a JSON API under /dashboard/, behind the student's login.

The gateway asks for the login too, but the dashboard checks it itself on every request, so nothing
on the stack's internal network (a notebook, say) can use it without the password. The one exception is the
gateway's door for the stack's own clients (ready/NAME), which can do nothing but wake an app that starts on
demand: those clients reach that app without the password anyway.
"""

from __future__ import annotations

import hmac
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import bcrypt
import docker
import docker.errors
from flask import Flask, Response, abort, jsonify, render_template, request

from .services import ACTIONS, IDLE_LABEL, PATH_LABEL, TITLE_LABEL, Healer, NotInProject, Refused, Stack
from .sleep import Sleeper, wait_until_healthy, wake

PREFIX = "/dashboard"
MAX_LOG_LINES = 2000
# How soon the wake page asks again whether its app is ready, in seconds (it says so in its Retry-After).
WAKE_POLL_S = 1
BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")
# How long a client at the gateway's door waits for the app it woke (its start period, and some: the gateway
# waits longer, compose/gateway.py's READY_TIMEOUT_S).
READY_BOUND_S = 150
# The gateway's resolver keeps an app's absence for up to 10 s after it has started: a client sent back before
# then finds it asleep again, so an app already awake is given this before the client goes back.
RESOLVER_PAUSE_S = 2
# The header in which the gateway's door says what its client asked for (shelf/constants.py's READY_RETRY_HEADER).
RETRY_HEADER = "X-TM351-Retry"


def create_app(stack: Stack, password_file: Path, user: str = "student") -> Flask:
    app = Flask(__name__, static_url_path=f"{PREFIX}/static")

    @app.before_request
    def require_login() -> Response | None:
        if request.path == f"{PREFIX}/healthz":
            return None
        open_door = request.path.startswith(f"{PREFIX}/ready/")
        if not open_door and not _logged_in(request.authorization, user, password_file):
            return Response("Log in as the student.\n", 401, {"WWW-Authenticate": 'Basic realm="TM351"'})
        if request.method == "POST" and not _same_origin(request.headers.get("Origin"), request.host):
            # A page on another site could otherwise make the browser post with the cached login.
            return Response("Cross-site request refused.\n", 403)
        return None

    @app.get(f"{PREFIX}/healthz")
    def health() -> str:
        return "ok\n"

    @app.get(f"{PREFIX}/")
    def page() -> str:
        return render_template("index.html", prefix=PREFIX)

    @app.get(f"{PREFIX}/api/services")
    def services() -> Response:
        return jsonify([service.as_dict() for service in stack.services()])

    @app.get(f"{PREFIX}/api/host")
    def host() -> Response:
        return jsonify({"memory_mib": stack.host_memory_mib()})

    @app.post(f"{PREFIX}/api/services/<name>/<action>")
    def act(name: str, action: str) -> Response:
        if action not in ACTIONS:
            abort(404)
        try:
            return jsonify(stack.act(name, action).as_dict())
        except NotInProject:
            abort(404)
        except Refused as refusal:
            return jsonify({"error": str(refusal)}), 409

    # The gateway sends here whatever request found an app that starts on demand asleep or still starting: a GET
    # of its page, or its page's own requests. Starting it is the only thing a request here can do.
    @app.route(f"{PREFIX}/wake/<name>", methods=["GET", "POST"])
    def waking(name: str) -> Response:
        try:
            labels = wake(stack, name).labels
        except NotInProject:
            abort(404)
        except docker.errors.APIError as error:
            return Response(f"{name} could not be started: {error.explanation or error}\n", 500, mimetype="text/plain")
        page = render_template(
            "waking.html", title=labels.get(TITLE_LABEL) or name, path=labels.get(PATH_LABEL),
            idle=spoken_duration(int(labels[IDLE_LABEL])), poll_ms=WAKE_POLL_S * 1000, prefix=PREFIX,
        )  # fmt: skip
        return Response(page, 503, {"Retry-After": str(WAKE_POLL_S), "Cache-Control": "no-store"})

    # The gateway's door for the stack's own clients sends here a request that found an app that starts on demand
    # asleep or starting: once the app answers, the client is sent back to ask again (its body with it).
    @app.route(f"{PREFIX}/ready/<name>", methods=["GET", "POST"])
    def ready(name: str) -> Response:
        try:
            awake = stack.container(name).status == "running"
            container = wake(stack, name)
        except NotInProject:
            abort(404)
        except docker.errors.APIError as error:
            return Response(f"{name} could not be started: {error.explanation or error}\n", 500, mimetype="text/plain")
        if not wait_until_healthy(container, READY_BOUND_S):
            title = container.labels.get(TITLE_LABEL) or name
            message = f"{title} did not start within {READY_BOUND_S} s: its log is in the dashboard.\n"
            return Response(message, 504, mimetype="text/plain")
        if awake:
            time.sleep(RESOLVER_PAUSE_S)
        return Response(status=307, headers={"Location": _back_to(request.headers.get(RETRY_HEADER))})

    @app.get(f"{PREFIX}/api/services/<name>/logs")
    def logs(name: str) -> Response:
        lines = min(max(request.args.get("lines", 100, type=int), 1), MAX_LOG_LINES)
        try:
            return Response(stack.logs(name, lines), mimetype="text/plain")
        except NotInProject:
            abort(404)

    @app.errorhandler(404)
    def not_found(_: Exception) -> tuple[Response, int]:
        return jsonify({"error": "No such service in this stack."}), 404

    return app


def _logged_in(credentials, user: str, password_file: Path) -> bool:
    if credentials is None or credentials.type != "basic" or credentials.password is None:
        return False
    expected = password_file.read_text(encoding="utf-8").strip()  # read each time: a reset takes effect at once
    return hmac.compare_digest(credentials.username or "", user) & _password_matches(credentials.password, expected)


def _password_matches(given: str, expected: str) -> bool:
    """`expected` is the password, or its bcrypt hash on an instance (a generated password never starts with '$')."""
    if expected.startswith(BCRYPT_PREFIXES):
        try:
            return bcrypt.checkpw(given.encode(), expected.encode())
        except ValueError:  # longer than bcrypt takes, or a damaged hash: not this password
            return False
    return hmac.compare_digest(given.encode(), expected.encode())


def _back_to(asked: str | None) -> str:
    """Where the door's client goes back to: what it asked for, a path on the same door (never another host)."""
    if not asked or not asked.startswith("/") or asked.startswith("//"):
        return "/"
    return asked


def _same_origin(origin: str | None, host: str) -> bool:
    """Scripts send no Origin; a browser sends one, which must be this very host and port."""
    return origin is None or urlsplit(origin).netloc == host


def spoken_duration(seconds: int) -> str:
    if seconds % 60:
        return f"{seconds} seconds"
    minutes = seconds // 60
    return f"{minutes} minute" if minutes == 1 else f"{minutes} minutes"


def tend(sleeper: Sleeper, healer: Healer) -> None:
    """One round: idle apps go to sleep first, so the healer never finds one that it would restart."""
    sleeper.check(time.time())
    healer.check(time.monotonic())


def _tend_forever(sleeper: Sleeper, healer: Healer, pause_s: float = 5) -> None:
    while True:
        try:
            tend(sleeper, healer)
        except docker.errors.DockerException as error:  # the engine restarting: try again at the next round
            print(f"healer: {error}", flush=True)
        time.sleep(pause_s)


def main() -> None:
    from waitress import serve

    # `docker stop` sends SIGTERM (through tini): leave cleanly, with status 0.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    stack = Stack(docker.from_env(), os.environ["TM351_PROJECT"])
    healer = Healer(stack, float(os.environ.get("DASHBOARD_HEAL_AFTER_S", "60")), socket.gethostname())
    threading.Thread(target=_tend_forever, args=(Sleeper(stack), healer), daemon=True).start()
    app = create_app(stack, Path(os.environ.get("DASHBOARD_PASSWORD_FILE", "/run/secrets/password")))
    serve(app, host="0.0.0.0", port=int(os.environ.get("DASHBOARD_PORT", "8000")), threads=4, ident="")  # noqa: S104


if __name__ == "__main__":
    main()
