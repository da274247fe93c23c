"""What `render` writes: the local Compose project, or the cloud-init user-data that provisions a host."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from compose.render import StackOptions, render_compose
from images.registry import pinned_images
from provision.bundle import host_bundle, host_settings
from provision.cloud_init import render_cloud_config, to_user_data
from shelf.catalogue import load_shelf
from shelf.serialise import to_yaml


class Target(StrEnum):
    compose = "compose"
    cloud_init = "cloud-init"


def render_target(
    recipe_name: str,
    target: Target,
    data_dir: Path | None = None,
    port: int | None = None,
    expose_db: bool = False,
    registry: str | None = None,
    registry_ca: Path | None = None,
    power_off: bool = False,
) -> str:
    shelf = load_shelf()
    recipe = shelf.recipe(recipe_name)
    if target is Target.cloud_init:
        settings = host_settings(shelf, recipe, registry, registry_ca, port, for_image=power_off)
        files = host_bundle(shelf, recipe, settings)
        return to_user_data(render_cloud_config(files, power_off=power_off))
    options = StackOptions.for_host(shelf, data_dir, port, expose_db=expose_db)
    if registry:
        options = StackOptions(**{**options.__dict__, "images": pinned_images(shelf, shelf.apps_of(recipe), registry)})
    return to_yaml(render_compose(shelf, recipe, options))
