"""The choices `vagrant`, `up --provider vagrant` and `vm-release` offer, light enough for the CLI to import early."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Provider(StrEnum):
    virtualbox = "virtualbox"
    libvirt = "libvirt"
    docker = "docker"
    aws = "aws"


@dataclass(frozen=True)
class AwsOptions:
    region: str = "eu-west-2"
    instance_type: str = "t3.small"
    ami: str | None = None
    key_pair: str | None = None
    security_group: str | None = None


class BoxFormat(StrEnum):
    libvirt = "libvirt"
    virtualbox = "virtualbox"
    all = "all"

    @property
    def providers(self) -> list[str]:
        return [BoxFormat.libvirt.value, BoxFormat.virtualbox.value] if self is BoxFormat.all else [self.value]


DEFAULT_DISK_GB = 20
