"""Server settings for the TM351 Jupyter image, driven by environment variables."""

from __future__ import annotations

import hmac
import os
import sys
from collections.abc import Awaitable
from pathlib import Path

from jupyter_server.auth.identity import IdentityProvider, User
from tornado import web

c = get_config()  # noqa: F821 - provided by Jupyter when it loads this file

# Every interface of the container; the host publishes the port on 127.0.0.1 only.
c.ServerApp.ip = "0.0.0.0"  # noqa: S104
c.ServerApp.port = int(os.environ.get("JUPYTER_PORT", "8888"))
c.ServerApp.base_url = os.environ.get("JUPYTER_BASE_URL", "/")
c.ServerApp.root_dir = os.environ.get("JUPYTER_ROOT_DIR", "/srv/TM351VCE")
c.ServerApp.open_browser = False
# Reached through the gateway, which logs the student in and forwards the original host and scheme;
# the server still requires its own token on every request.
c.ServerApp.allow_remote_access = True
c.ServerApp.trust_xheaders = True
c.ServerApp.quit_button = False
# The language server is not part of the course and costs memory at start-up.
c.ServerApp.jpserver_extensions = {"jupyter_lsp": False}

# The access token is generated per install and handed in as a secret file: there is no default.
token_file = Path(os.environ.get("JUPYTER_TOKEN_PATH", "/run/secrets/jupyter_token"))
try:
    token = token_file.read_text().strip()
except OSError as error:
    sys.exit(f"No Jupyter access token: cannot read {token_file} ({error.strerror}).")
if len(token) < 16:
    sys.exit(f"The Jupyter access token in {token_file} is shorter than 16 characters.")
c.IdentityProvider.token = token


class GatewayLogin(IdentityProvider):
    """The student logged in at the gateway, which says so with this server's token in a header only it sets.

    Such a request counts as a browser's, not as a token-bearing script's: Jupyter's XSRF check, its Origin
    checks on HTTP and websockets, and its CORS refusal all stay on, so a page on another site cannot use the
    login the browser has cached. A token sent by a script itself still works as Jupyter's own.
    """

    def get_user(self, handler: web.RequestHandler) -> User | Awaitable[User | None] | None:
        vouched = handler.request.headers.get(LOGIN_HEADER, "")
        if vouched and hmac.compare_digest(vouched.encode(), self.token.encode()):
            return User(username="student", name="student", display_name="Student")
        return super().get_user(handler)


LOGIN_HEADER = os.environ.get("TM351_LOGIN_HEADER", "")
if LOGIN_HEADER:
    c.ServerApp.identity_provider_class = GatewayLogin


def memory_limit() -> int | None:
    """The container's memory limit in bytes (cgroup v2, else v1); None when it has none."""
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            value = Path(path).read_text().strip()
        except OSError:
            continue
        # v1 says "no limit" with a number near 2**63.
        if value.isdigit() and int(value) < 2**60:
            return int(value)
    return None


# The status bar shows the memory the server and its kernels use against the container's limit (the app's
# budget in compose/shelf.yaml), so a student sees a notebook running out before its kernel is killed.
limit = memory_limit()
if limit is not None:
    c.ResourceUseDisplay.mem_limit = limit

# With OpenRefine in the stack, JupyterLab's launcher has an OpenRefine tile that opens it in a new tab where the
# gateway serves it (its path relative to Jupyter's, so the browser leaves Jupyter for it: no process is started and
# nothing is proxied, and opening it wakes OpenRefine as any visit does).
openrefine_path = os.environ.get("OPENREFINE_PATH", "")
if openrefine_path:
    c.ServerProxy.servers = {
        "openrefine": {
            "command": [],
            "port": 0,
            "new_browser_tab": True,
            "launcher_entry": {
                "title": "OpenRefine",
                "path_info": os.path.relpath(openrefine_path, c.ServerApp.base_url) + "/",
                "icon_path": "/usr/local/share/tm351/openrefine-launcher.svg",
            },
        }
    }

# Extensions come with the image: a page cannot have the server pip-install a package.
c.LabApp.extension_manager = "readonly"

# A host user who is root is mapped to uid 0 with every capability dropped by start.sh,
# so running as "root" here gives no more power than any other uid.
c.ServerApp.allow_root = os.geteuid() == 0
