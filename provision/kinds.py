"""What `render --target` can write, light enough for the CLI to import early."""

from __future__ import annotations

from enum import StrEnum


class Target(StrEnum):
    compose = "compose"
    cloud_init = "cloud-init"
