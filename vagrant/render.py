"""Write a Vagrantfile, and the provision/ files it runs, for one recipe on one Vagrant provider."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from tm351vce.compose.render import StackOptions, entrance_url
from tm351vce.images.build import BuildOptions, ensure_host_image, ensure_images
from tm351vce.provision.bundle import (
    IMAGES_ARCHIVE,
    HostSettings,
    host_bundle,
    write_bundle,
)
from tm351vce.provision.cloud_init import host_user_data
from tm351vce.provision.emulated_host import ENGINE_TARGET, HOST_CONTAINER_ARGS, SEED_TARGET, nocloud_meta_data
from tm351vce.shelf.catalogue import Recipe, Shelf
from tm351vce.shelf.constants import HOST_DATA_DIR, HOST_SECRETS_DIR, SERVICE_UID
from tm351vce.shelf.engine import docker_client
from tm351vce.shelf.errors import OperationFailed, UsageProblem
from tm351vce.shelf.progress import LOG_DIR, run_with_progress
from tm351vce.vagrant.options import AwsOptions, Provider
from tm351vce.vagrant.release.boxes import FORWARD_ID
from tm351vce.vagrant.release_box import ReleaseBox
from tm351vce.vagrant.ruby_template import ruby_template

TEMPLATE = Path(__file__).with_name("Vagrantfile.j2")
BOXES = {"virtualbox": "bento/debian-12", "libvirt": "debian/bookworm64"}
MACHINE = "tm351"  # the machine's name in the Vagrantfile
OS_MEMORY_MIB = 768  # Debian, the Docker engine and headroom, beside the recipe's own budget
CONSOLE_LOG = "console.log"  # a libvirt machine's serial console, beside its Vagrantfile
MACHINE_STOP_SECONDS = 120  # a Docker machine's systemd stops the stack, then its engine, within this


@dataclass(frozen=True)
class VagrantOptions:
    provider: Provider
    out_dir: Path
    data_dir: Path
    port: int
    settings: HostSettings
    aws: AwsOptions = field(default_factory=AwsOptions)
    release_box: ReleaseBox | None = None  # a box made by `vm-release`, instead of provisioning a base box
    emulated: bool = False  # libvirt without KVM: QEMU emulates the CPU


def vm_memory_mib(shelf: Shelf, recipe: Recipe) -> int:
    """The recipe's budget with its largest app that starts on demand awake, plus the operating system's, in whole
    256 MiB steps."""
    return math.ceil((shelf.peak_budget_mib(recipe) + OS_MEMORY_MIB) / 256) * 256


def machine_name(recipe: Recipe, out_dir: Path) -> str:
    # Unique per folder, so two folders' machines (and their engines' volumes) never collide.
    return f"tm351-{recipe.name}-{hashlib.sha256(str(out_dir.absolute()).encode()).hexdigest()[:8]}"


def check_machine_options(provider: Provider, release_box: bool, emulated: bool) -> None:
    if release_box and provider not in (Provider.virtualbox, Provider.libvirt):
        raise UsageProblem("--box is a VM release: use it with --provider virtualbox or --provider libvirt.")
    if emulated and provider is not Provider.libvirt:
        raise UsageProblem("--no-kvm is for --provider libvirt (VirtualBox and the others choose for themselves).")


def render_vagrant(shelf: Shelf, recipe: Recipe, options: VagrantOptions) -> Path:
    """Write the folder `vagrant up` runs in; returns the Vagrantfile's path."""
    provider = options.provider
    if provider is Provider.aws and not options.settings.images:
        raise UsageProblem("--provider aws needs --registry: an instance pulls the images, it cannot load them.")
    if provider is Provider.aws and not options.aws.ami:
        raise UsageProblem("--provider aws needs --ami: a Debian 12 AMI id, or one baked by `python3 tasks.py bake`.")
    out_dir = options.out_dir.absolute()
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageProblem(f"-o {out_dir} is a file: give a folder for the Vagrantfile.")
    archive = None
    if options.release_box is None:
        write_bundle(host_bundle(shelf, recipe, options.settings), out_dir / "provision")
        if not options.settings.images and provider is not Provider.aws:
            archive = IMAGES_ARCHIVE
            save_images(shelf, recipe, out_dir / "provision" / archive)
    else:
        out_dir.mkdir(parents=True, exist_ok=True)
    name = machine_name(recipe, out_dir)
    host_image = None
    if provider is Provider.docker:
        host_image = ensure_host_image(shelf)
        seed = out_dir / "seed"
        seed.mkdir(exist_ok=True)
        (seed / "user-data").write_text(host_user_data(shelf, recipe, options.settings), encoding="utf-8")
        (seed / "meta-data").write_text(nocloud_meta_data(name), encoding="utf-8")
    if provider is Provider.aws:
        (out_dir / "user-data").write_text(host_user_data(shelf, recipe, options.settings), encoding="utf-8")
    options.data_dir.mkdir(parents=True, exist_ok=True)
    vagrantfile = out_dir / "Vagrantfile"
    vagrantfile.write_text(
        ruby_template(TEMPLATE).render(
            recipe=recipe.name,
            version=shelf.version,
            provider=provider.value,
            url=vagrant_url(shelf, recipe, options.port),
            box=BOXES.get(provider.value, ""),
            release_box=options.release_box,
            emulated=options.emulated,
            forward_id=FORWARD_ID,
            console_log=CONSOLE_LOG,
            guest_port=shelf.defaults.port,
            host_port=options.port,
            data_dir=str(options.data_dir.expanduser().absolute()),
            guest_data_dir=str(HOST_DATA_DIR),
            service_uid=SERVICE_UID,
            machine=MACHINE,
            machine_name=name,
            memory_mib=vm_memory_mib(shelf, recipe),
            host_image=host_image,
            images_archive=archive,
            engine_mount=f"{name}-engine:{ENGINE_TARGET}",
            secrets_mount=f"{name}-secrets:{HOST_SECRETS_DIR}",
            seed_target=SEED_TARGET,
            host_run_args=HOST_CONTAINER_ARGS,
            stop_seconds=MACHINE_STOP_SECONDS,
            region=options.aws.region,
            ami=options.aws.ami or "",
            instance_type=options.aws.instance_type,
            key_pair=options.aws.key_pair,
            security_group=options.aws.security_group,
        ),
        encoding="utf-8",
    )
    return vagrantfile


def vagrant_url(shelf: Shelf, recipe: Recipe, port: int) -> str:
    return entrance_url(shelf, recipe, StackOptions(data_dir=Path(HOST_DATA_DIR), port=port, host="127.0.0.1"))


def save_images(shelf: Shelf, recipe: Recipe, archive: Path, course_data: Path | None = None) -> None:
    """The recipe's images in one archive the VM loads, so it needs no registry; kept while they are unchanged. The
    images that load course data are built with it first when they do not carry it (the shelf's, if none given)."""
    apps = shelf.apps_of(recipe)
    ensure_images(shelf, apps, BuildOptions(course_data=course_data or shelf.defaults.course_data))
    client = docker_client()
    references = [app.image_ref(shelf.version) for app in apps]
    identity = json.dumps({reference: client.images.get(reference).id for reference in references}, sort_keys=True)
    stamp = archive.with_suffix(".json")
    if archive.is_file() and stamp.is_file() and stamp.read_text(encoding="utf-8") == identity:
        return
    finished = run_with_progress(
        ["docker", "save", "-o", str(archive), *references], f"Saving {len(references)} images", LOG_DIR / "save.log"
    )
    if not finished.ok:
        raise OperationFailed(f"Saving the images into {archive} failed; full log: {finished.log}")
    stamp.write_text(identity, encoding="utf-8")
