"""`vm-release`: a recipe as Vagrant boxes for libvirt and VirtualBox, with their checksums and box catalogue."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from rich.table import Table

from tm351vce.images.course_data import check_course_data
from tm351vce.provision.bundle import (
    IMAGES_ARCHIVE,
    HostSettings,
    host_bundle,
    write_bundle,
)
from tm351vce.shelf.catalogue import Recipe, Shelf
from tm351vce.shelf.compose_plugin import compose_plugin
from tm351vce.shelf.constants import HOST_DATA_DIR, HOST_SECRETS_DIR, LOGIN_SECRET, SERVICE_UID
from tm351vce.shelf.errors import UsageProblem
from tm351vce.shelf.progress import LOG_DIR, console
from tm351vce.vagrant.options import DEFAULT_DISK_GB, BoxFormat
from tm351vce.vagrant.release.boxes import BoxSettings, box_file_name, libvirt_box, virtualbox_box
from tm351vce.vagrant.release.catalogue import (
    CHECKSUMS,
    merge_catalogue,
    merge_checksums,
    provider_entry,
    read_catalogue,
    sha256_file,
)
from tm351vce.vagrant.release.convert import check_disk, convert_disk, virtual_size
from tm351vce.vagrant.release.disk import GIB, build_disk, check_builder
from tm351vce.vagrant.release.insecure_key import insecure_key
from tm351vce.vagrant.release.spec import ImageInputs, base_cache_key, image_spec
from tm351vce.vagrant.render import save_images, vagrant_url, vm_memory_mib

WORK_DIR = LOG_DIR / "vm-release"
# Debian, its kernel and the engine take about 1.5 GB; the rest is room for databases and upgrades.
SYSTEM_GB = 3
DISK_FORMAT = {"libvirt": "qcow2", "virtualbox": "vmdk"}
BOXERS = {"libvirt": libvirt_box, "virtualbox": virtualbox_box}


@dataclass
class Release:
    name: str
    version: str
    catalogue: Path
    catalogue_url: str
    checksums: Path
    boxes: dict[str, Path] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def vm_release(
    shelf: Shelf,
    recipe: Recipe,
    output_dir: Path,
    formats: BoxFormat = BoxFormat.all,
    disk_gb: int = DEFAULT_DISK_GB,
    base_url: str | None = None,
    course_data: Path | None = None,
) -> Release:
    """Build the recipe's disk from Debian's archive with its images preloaded, and write its boxes to output_dir.

    base_url is where output_dir will be served from (the catalogue's box URLs); its own file:// URL by default.
    """
    if course_data is not None:
        check_course_data(course_data)  # before anything is made; the build reads it
    check_builder()
    vagrant_key = insecure_key()
    output_dir = output_dir.absolute()
    if output_dir.exists() and not output_dir.is_dir():
        raise UsageProblem(f"-o {output_dir} is a file: give a folder for the release.")
    box_name = f"tm351/{recipe.name}"
    catalogue_path = output_dir / f"tm351-{recipe.name}.json"
    existing = read_catalogue(catalogue_path)
    release = Release(
        name=box_name,
        version=shelf.version,
        catalogue=catalogue_path,
        catalogue_url=catalogue_path.as_uri(),
        checksums=output_dir / CHECKSUMS,
    )
    base = (base_url or output_dir.as_uri()).rstrip("/")
    work = WORK_DIR / recipe.name
    url = vagrant_url(shelf, recipe, shelf.defaults.port)

    with _timed(release, "images"):
        bundle = _image_mode_bundle(shelf, recipe, work / "bundle", course_data)
    _check_disk_size(disk_gb, bundle / IMAGES_ARCHIVE, recipe)
    plugin = compose_plugin(WORK_DIR)
    spec = image_spec(ImageInputs(bundle=bundle, vagrant_key=vagrant_key, compose_plugin=plugin, url=url))
    raw = work / "disk.raw"
    disks = {provider: work / f"disk.{DISK_FORMAT[provider]}" for provider in formats.providers}
    try:
        base_cache = WORK_DIR / f"base-{base_cache_key()}.tar"
        with _timed(release, "disk"):
            build_disk(spec, raw, disk_gb, base_cache)
        _forget_other_caches(base_cache)
        with _timed(release, "convert"):
            convert_disk(raw, {DISK_FORMAT[provider]: path for provider, path in disks.items()})
    finally:
        raw.unlink(missing_ok=True)

    settings = _box_settings(shelf, recipe, box_name, url)
    output_dir.mkdir(parents=True, exist_ok=True)
    sums: dict[str, str] = {}
    with _timed(release, "boxes"):
        for provider, disk in disks.items():
            fmt = DISK_FORMAT[provider]
            check_disk(disk, fmt)
            box = output_dir / box_file_name(recipe.name, shelf.version, provider)
            BOXERS[provider](disk, virtual_size(disk, fmt), settings, box)
            disk.unlink()
            release.boxes[provider] = box
            sums[box.name] = sha256_file(box)

    previous = release.checksums.read_text(encoding="utf-8") if release.checksums.is_file() else ""
    release.checksums.write_text(merge_checksums(previous, sums), encoding="utf-8")
    providers = [provider_entry(p, f"{base}/{box.name}", sums[box.name]) for p, box in release.boxes.items()]
    catalogue = merge_catalogue(existing, box_name, recipe.description, shelf.version, providers)
    catalogue_path.write_text(json.dumps(catalogue, indent=2) + "\n", encoding="utf-8")
    if base_url:
        release.catalogue_url = f"{base}/{catalogue_path.name}"
    _show(release)
    return release


def _image_mode_bundle(shelf: Shelf, recipe: Recipe, folder: Path, course_data: Path | None = None) -> Path:
    """provision/'s files as a baked image applies them (no secrets, nothing started), and the images archive (with
    the course data, when given, in the images that load it)."""
    write_bundle(host_bundle(shelf, recipe, HostSettings(for_image=True)), folder)
    save_images(shelf, recipe, folder / IMAGES_ARCHIVE, course_data)
    return folder


def _check_disk_size(disk_gb: int, archive: Path, recipe: Recipe) -> None:
    # Loaded images take about what their archive does.
    needed = math.ceil(SYSTEM_GB + 1.2 * archive.stat().st_size / GIB)
    if disk_gb < needed:
        raise UsageProblem(f"--disk-gb {disk_gb} is too small for {recipe.name}'s images: give at least {needed}.")


def _box_settings(shelf: Shelf, recipe: Recipe, box_name: str, url: str) -> BoxSettings:
    return BoxSettings(
        box_name=box_name,
        recipe=recipe.name,
        version=shelf.version,
        url=url,
        guest_port=shelf.defaults.port,
        host_port=shelf.defaults.port,
        data_folder=Path(shelf.defaults.data_dir).expanduser().name,
        guest_data_dir=str(HOST_DATA_DIR),
        service_uid=SERVICE_UID,
        folders=tuple(shelf.student_folders),
        memory_mib=vm_memory_mib(shelf, recipe),
        login_file=str(HOST_SECRETS_DIR / LOGIN_SECRET),
    )


def _forget_other_caches(kept: Path) -> None:
    for stale in kept.parent.glob("base-*.tar"):
        if stale != kept:
            stale.unlink()


@contextmanager
def _timed(release: Release, step: str) -> Iterator[None]:
    started = time.monotonic()
    yield
    release.seconds[step] = round(time.monotonic() - started, 1)


def _show(release: Release) -> None:
    table = Table(title=f"{release.name} {release.version}", title_justify="left")
    table.add_column("file")
    table.add_column("size", justify="right")
    for path in [*release.boxes.values(), release.catalogue, release.checksums]:
        table.add_row(str(path), _size(path.stat().st_size))
    console.print(table)
    console.print("Took " + ", ".join(f"{step} {seconds:.0f} s" for step, seconds in release.seconds.items()))


def _size(count: int) -> str:
    if count < 1024**2:
        return f"{count / 1024:.1f} KiB"
    if count < GIB:
        return f"{count / 1024**2:.0f} MiB"
    return f"{count / GIB:.2f} GiB"
