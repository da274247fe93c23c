"""What `render` writes: the local Compose project, or the cloud-init user-data that provisions a host."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from tm351vce.compose.render import StackOptions, render_compose
from tm351vce.provision.bundle import host_settings
from tm351vce.provision.cloud_init import host_user_data
from tm351vce.provision.kinds import Target
from tm351vce.shelf.catalogue import Recipe, Shelf
from tm351vce.shelf.serialise import to_yaml


def render_target(
    shelf: Shelf,
    recipe: Recipe,
    target: Target,
    data_dir: Path | None = None,
    port: int | None = None,
    expose_db: bool = False,
    registry: str | None = None,
    registry_ca: Path | None = None,
    power_off: bool = False,
) -> str:
    settings = host_settings(shelf, recipe, registry, registry_ca, port, for_image=power_off)
    if target is Target.cloud_init:
        return host_user_data(shelf, recipe, settings, power_off=power_off)
    options = replace(StackOptions.for_host(shelf, data_dir, port, expose_db=expose_db), images=settings.images)
    return to_yaml(render_compose(shelf, recipe, options))
