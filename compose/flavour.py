"""The ways one recipe's Compose project is delivered, as data the renderer reads.

Each flavour says how the entrance is published, how secrets reach the apps, how the host user's ids are
mapped, and how limits and restarts are set. The renderer makes every flavour in one pass; nothing
changes a rendered document afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Variable(str):
    """A value Compose fills in from the environment or the .env file: the renderer leaves its `$` alone."""


# How the entrance is published. ON_ADDRESS: on the options' own address and port. FROM_SETTINGS: on
# ${TM351_HOST}:${TM351_PORT}, from the user's .env file. INGRESS: Swarm's routing mesh on ${TM351_PORT}, which
# every node publishes, so there is no host address.
Ports = Enum("Ports", ["ON_ADDRESS", "FROM_SETTINGS", "INGRESS"])

# How secrets reach the apps. FILES: Compose reads each from a file in the install's secrets folder.
# MADE_ON_START: a one-shot service makes the missing ones in the student folder, then hands each app its own in
# a volume. SWARM: Swarm's own secrets, from files the operator makes once in ./secrets/, owned per app.
SecretDelivery = Enum("SecretDelivery", ["FILES", "MADE_ON_START", "SWARM"])

# Whose ids the apps run with. THIS_MACHINE: the user rendering the project, and this machine's Docker socket
# group. HOST_SETTINGS: the host's service user and Docker group, from the .env file provisioning writes.
# ANY_MACHINE: the user's ids from .env (with defaults); the socket's group differs between machines, so the app
# that holds it runs as the socket's owner, root, which is the same everywhere.
Users = Enum("Users", ["THIS_MACHINE", "HOST_SETTINGS", "ANY_MACHINE"])

# How limits and restarts are set. COMPOSE: mem_limit, restart, security_opt and health-gated depends_on.
# SWARM: deploy.resources and deploy.restart_policy (Swarm has no security_opt, group_add or depends_on conditions).
Limits = Enum("Limits", ["COMPOSE", "SWARM"])


@dataclass(frozen=True)
class Flavour:
    name: str
    ports: Ports
    secrets: SecretDelivery
    users: Users
    limits: Limits
    # The student folder is ${TM351_DATA_DIR}, not a path of the rendering machine.
    folder_from_settings: bool
    # The document names its project (Swarm takes the stack's name from `docker stack deploy` instead).
    named: bool = True
    # The gateway's routes travel in its environment (compose/gateway.py), rather than in a file beside the document.
    routes_inline: bool = True


# `python3 tasks.py up` on this machine.
LOCAL = Flavour("local", Ports.ON_ADDRESS, SecretDelivery.FILES, Users.THIS_MACHINE, Limits.COMPOSE,
                folder_from_settings=False)  # fmt: skip
# A provisioned VM or instance: the project is rendered elsewhere, the host's ids come from its .env file.
HOST = Flavour("host", Ports.ON_ADDRESS, SecretDelivery.FILES, Users.HOST_SETTINGS, Limits.COMPOSE,
               folder_from_settings=False)  # fmt: skip
# A published recipe folder that runs anywhere with Docker alone.
PORTABLE = Flavour("portable", Ports.FROM_SETTINGS, SecretDelivery.MADE_ON_START, Users.ANY_MACHINE, Limits.COMPOSE,
                   folder_from_settings=True)  # fmt: skip
# A published recipe's Swarm stack file.
SWARM = Flavour("swarm", Ports.INGRESS, SecretDelivery.SWARM, Users.ANY_MACHINE, Limits.SWARM,
                folder_from_settings=True, named=False, routes_inline=False)  # fmt: skip

# The .env settings the flavours read.
DATA_DIR = Variable("${TM351_DATA_DIR:-./TM351VCE}")
PORT = Variable("${TM351_PORT:-35180}")
HOST_ADDRESS = Variable("${TM351_HOST:-127.0.0.1}")
ANY_UID, ANY_GID = Variable("${TM351_UID:-1000}"), Variable("${TM351_GID:-100}")
HOST_UID, HOST_GID, HOST_DOCKER_GID = Variable("${TM351_UID}"), Variable("${TM351_GID}"), Variable("${DOCKER_GID}")
PASSWORD = Variable("${TM351_PASSWORD:-}")

# Beside a Swarm stack file: the gateway's routes, and the folder of secret files the operator makes.
ROUTES_FILE = "gateway-routes.conf"
SECRETS_DIR = "secrets"
# The one-shot service of SecretDelivery.MADE_ON_START.
SECRETS_SERVICE = "secrets"
