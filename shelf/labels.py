"""The label contract: what the renderer puts on containers and volumes, and what hosts read back."""

from __future__ import annotations

# Set by Compose itself on every container and volume of a project.
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"

# Set by the renderer.
APP = "org.tm351.app"
RECIPE = "org.tm351.recipe"
URL = "org.tm351.url"
PROJECT = "org.tm351.project"
VERSION = "org.tm351.version"
MEMORY_MIB = "org.tm351.memory_mib"
PATH = "org.tm351.path"
ESSENTIAL = "org.tm351.essential"
ROLE = "org.tm351.role"
# A digest of the secrets a service holds: Compose does not look into secret files, so a changed one would
# otherwise leave the service running with the old.
SECRETS_DIGEST = "org.tm351.secrets_digest"
# On the volume that records which student folder a project's volumes belong to.
STUDENT_FOLDER = "org.tm351.student_folder"
