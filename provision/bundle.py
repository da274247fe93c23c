"""The files that turn a Debian 12 host into a TM351 host: one set, written by cloud-init or copied by Vagrant."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from tm351vce.compose.flavour import HOST
from tm351vce.compose.render import StackOptions, recipe_secrets, render_compose
from tm351vce.images.registry import pinned_images
from tm351vce.shelf.catalogue import Recipe, Shelf
from tm351vce.shelf.constants import (
    COMPOSE_PLUGIN_SHA256,
    COMPOSE_PLUGIN_URL,
    HOST_DATA_DIR,
    HOST_PROJECT,
    HOST_SECRETS_DIR,
    INSTALL_DIR,
    LOGIN_SECRET,
    PROVISIONED_MARKER,
    SERVICE_UID,
    SERVICE_USER,
    STATE_DIR,
)
from tm351vce.shelf.errors import UsageProblem
from tm351vce.shelf.serialise import to_yaml

PROVISION_DIR = Path(__file__).parent
_units = Environment(loader=FileSystemLoader(PROVISION_DIR), undefined=StrictUndefined, keep_trailing_newline=True,
                     autoescape=False)  # noqa: S701 - systemd units, not HTML  # fmt: skip
IMAGES_ARCHIVE = "images.tar"
TLS_OVERRIDE = "compose.tls.yaml"
# nginx runs unprivileged, so it listens for HTTPS above 1024; the host publishes it on 443.
GATEWAY_TLS_PORT = 8443


@dataclass(frozen=True)
class HostSettings:
    """How one host runs a recipe."""

    # {app: image reference}: a registry's name@digest, or None to run the local tags (loaded from an archive).
    images: dict[str, str] | None = None
    # The PEM CA of a registry with a private CA (a classroom mirror), trusted for that registry only.
    registry_ca: str | None = None
    port: int | None = None
    # Baking an image: no secrets and no start now; every machine made from it does both on first boot.
    for_image: bool = False


@dataclass(frozen=True)
class BundleFile:
    name: str
    content: str
    mode: int = 0o644


def host_options(shelf: Shelf, settings: HostSettings) -> StackOptions:
    """The stack's options on a host: every interface (the VM or firewall is the boundary), host-side ids."""
    return StackOptions(
        data_dir=Path(HOST_DATA_DIR),
        port=settings.port or shelf.defaults.port,
        host="0.0.0.0",  # noqa: S104 - inside a VM or instance whose forwarding or firewall decides who reaches it
        project=HOST_PROJECT,
        secrets_root=Path(HOST_SECRETS_DIR),
        images=settings.images,
        flavour=HOST,
        patient_health=True,
    )


def host_bundle(shelf: Shelf, recipe: Recipe, settings: HostSettings) -> list[BundleFile]:
    options = host_options(shelf, settings)
    values = {
        "TM351_RECIPE": recipe.name,
        "TM351_VERSION": shelf.version,
        "TM351_PORT": str(options.port),
        "TM351_DATA_DIR": str(HOST_DATA_DIR),
        "TM351_FOLDERS": " ".join(shelf.student_folders),
        "TM351_SECRETS": " ".join(recipe_secrets(shelf, recipe)),
        "TM351_REGISTRY_HOST": _registry_host(settings.images),
        "TM351_IMAGES_ARCHIVE": "" if settings.images else IMAGES_ARCHIVE,
        "COMPOSE_PLUGIN_URL": COMPOSE_PLUGIN_URL,
        "COMPOSE_PLUGIN_SHA256": COMPOSE_PLUGIN_SHA256,
        "TM351_FOR_IMAGE": "yes" if settings.for_image else "",
        "TM351_GATEWAY": next((app.name for app in shelf.apps_of(recipe) if app.gateway), ""),
        "TM351_INSTALL_DIR": str(INSTALL_DIR),
        "TM351_STATE_DIR": str(STATE_DIR),
        "TM351_MARKER": str(PROVISIONED_MARKER),
        "TM351_SECRETS_DIR": str(HOST_SECRETS_DIR),
        "TM351_LOGIN_SECRET": LOGIN_SECRET,
        "TM351_SERVICE_USER": SERVICE_USER,
        "TM351_SERVICE_UID": str(SERVICE_UID),
    }
    settings_env = "".join(f"{key}={shlex.quote(value)}\n" for key, value in values.items())
    ca = [BundleFile("registry-ca.crt", settings.registry_ca)] if settings.registry_ca else []
    return [
        *ca,
        BundleFile("compose.yaml", to_yaml(render_compose(shelf, recipe, options))),
        BundleFile(TLS_OVERRIDE, to_yaml(tls_override(shelf, recipe))),
        BundleFile("settings.env", settings_env),
        *[_script(name) for name in ("provision.sh", "secrets.sh", "tls.sh", "compose.sh")],
        *[_unit(name, shelf, recipe) for name in ("tm351.service", "tm351-acme.service")],
    ]


def _unit(name: str, shelf: Shelf, recipe: Recipe) -> BundleFile:
    """A systemd unit, with the host's paths and service user from the shelf's constants and the recipe's apps
    that start at once and on demand."""
    template = _units.get_template(f"{name}.j2")
    content = template.render(
        install_dir=INSTALL_DIR,
        service_user=SERVICE_USER,
        state_dir=STATE_DIR,
        awake=[app.name for app in shelf.awake_apps(recipe)],
        on_demand=[app.name for app in shelf.on_demand_apps(recipe)],
    )
    return BundleFile(name, content, 0o644)


def _script(name: str, mode: int = 0o755) -> BundleFile:
    return BundleFile(name, (PROVISION_DIR / name).read_text(encoding="utf-8"), mode)


def tls_override(shelf: Shelf, recipe: Recipe) -> dict[str, Any]:
    """compose.tls.yaml: the gateway serves HTTPS on 443 and, on 80, only redirects and answers ACME's challenge.

    Every host gets it; compose.sh adds it to compose.yaml when /opt/tm351/instance.env turns TLS on.
    """
    gateway = next((app for app in shelf.apps_of(recipe) if app.gateway), None)
    if gateway is None:
        return {"services": {}}
    everywhere = "0.0.0.0"  # noqa: S104 - an instance's security group decides who reaches it
    return {
        "services": {
            gateway.name: {
                "environment": {
                    "GATEWAY_TLS": "on",
                    # The name its certificate is for, which the health check asks for: Compose fills it in.
                    "GATEWAY_TLS_NAME": "${TM351_DOMAIN:-localhost}",
                },
                "ports": [
                    {"target": GATEWAY_TLS_PORT, "published": "443", "host_ip": everywhere, "protocol": "tcp"},
                    {"target": gateway.port, "published": "80", "host_ip": everywhere, "protocol": "tcp"},
                ],
                "volumes": [
                    {"type": "bind", "source": str(INSTALL_DIR / "tls"), "target": "/run/tls", "read_only": True},
                    {"type": "bind", "source": str(INSTALL_DIR / "acme"), "target": "/run/acme", "read_only": True},
                ],
            }
        }
    }


def _registry_host(images: dict[str, str] | None) -> str:
    """HOST[:PORT] of the registry the images come from ('' when they are loaded from an archive)."""
    return next(iter(images.values())).split("/", 1)[0] if images else ""


def write_bundle(files: list[BundleFile], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for file in files:
        path = folder / file.name
        path.write_text(file.content, encoding="utf-8")
        path.chmod(file.mode)


def host_settings(
    shelf: Shelf,
    recipe: Recipe,
    registry: str | None,
    registry_ca: Path | None = None,
    port: int | None = None,
    for_image: bool = False,
) -> HostSettings:
    """Settings from the command line: the recipe's images pinned by digest when a registry is named."""
    if registry_ca is not None and registry is None:
        raise UsageProblem("--registry-ca is the CA of a registry: give the registry too, with --registry.")
    ca = None
    if registry_ca is not None:
        try:
            ca = registry_ca.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            raise UsageProblem(
                f"--registry-ca {registry_ca}: cannot read it; give the registry's CA as a PEM file."
            ) from None
        if "-----BEGIN CERTIFICATE-----" not in ca:
            raise UsageProblem(f"--registry-ca {registry_ca} holds no PEM certificate; give the registry's CA (PEM).")
    images = pinned_images(shelf, shelf.apps_of(recipe), registry) if registry else None
    return HostSettings(images=images, registry_ca=ca, port=port, for_image=for_image)
