"""How a fresh Debian host runs as a container (images/host): what systemd and an engine of its own need."""

from __future__ import annotations

# --privileged and --cap-add ALL are refused on some engines; this named set is enough.
HOST_CONTAINER_ARGS = [
    "--cap-add=SYS_ADMIN",
    "--cap-add=NET_ADMIN",
    "--cap-add=MKNOD",
    "--cap-add=SYS_PTRACE",
    "--cap-add=NET_RAW",
    "--security-opt=seccomp=unconfined",
    "--security-opt=apparmor=unconfined",
    "--device=/dev/fuse",
    "--cgroupns=host",
    "--tmpfs=/run",
    "--tmpfs=/run/lock",
]
SEED_TARGET = "/var/lib/cloud/seed/nocloud"
ENGINE_TARGET = "/var/lib/docker"


def nocloud_meta_data(instance_id: str) -> str:
    return f"instance-id: {instance_id}\nlocal-hostname: tm351\n"
