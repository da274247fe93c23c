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
# On an image: the digest of the course data it carries (images/course_data.py), "none" when it carries none.
COURSE_DATA = "org.tm351.course_data"
PATH = "org.tm351.path"
ESSENTIAL = "org.tm351.essential"
# How pages name the app to a person.
TITLE = "org.tm351.title"
# On an app that starts on demand: the seconds without a request after which the dashboard stops it.
IDLE_S = "org.tm351.idle_s"
# On the gateway: its log marks each request to an app that starts on demand (images/gateway/routes.conf.j2).
GATEWAY = "org.tm351.gateway"
ROLE = "org.tm351.role"
# A digest of the secrets a service holds: Compose does not look into secret files, so a changed one would
# otherwise leave the service running with the old.
SECRETS_DIGEST = "org.tm351.secrets_digest"
# On the volume that records which student folder a project's volumes belong to.
STUDENT_FOLDER = "org.tm351.student_folder"
