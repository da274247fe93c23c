#!/usr/bin/env python3
"""The TM351 virtual computing environment: one command line for the course team, the library and students.

Each command parses its arguments, loads the shelf once, picks the Host from --provider where it has one, and
calls one function below. Project modules (and with them docker, boto3 and pydantic) are imported inside the
commands that need them, so `--help` answers at once.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

try:
    import typer
    from rich.console import Console
    from rich.markup import escape
except ModuleNotFoundError as missing:  # a fresh checkout run with a bare python3: make its environment first
    from tm351vce.shelf.environment import run_in_own_environment

    run_in_own_environment(__file__, f"the library {missing.name}")
from tm351vce.provision.kinds import Target
from tm351vce.shelf.constants import DEFAULT_BASE_IMAGE, DEFAULT_CONCURRENCY, DEFAULT_INSTANCE_TYPE
from tm351vce.shelf.errors import OperationFailed, UsageProblem
from tm351vce.vagrant.options import DEFAULT_DISK_GB, AwsOptions, BoxFormat, Provider

if TYPE_CHECKING:
    from tm351vce.ami.student_commands import CloudOptions
    from tm351vce.hosts.base import Host
    from tm351vce.shelf.catalogue import Shelf


app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="Build, run and publish the TM351 data-science stack (Jupyter, databases, OpenRefine) in Docker.",
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
_debug = False

F = TypeVar("F", bound=Callable[..., Any])


def _folder(value: str) -> Path:
    if not value.strip():
        raise typer.BadParameter("'' names no folder: give the student's folder, e.g. --data-dir ~/TM351VCE.")
    return Path(value)


DataDir = Annotated[
    Path | None, typer.Option("--data-dir", parser=_folder, help="The student's folder [default: ~/TM351VCE].")
]
Port = Annotated[int | None, typer.Option("--port", min=1, max=65535, help="Host port of the stack [default: 35180].")]
ExposeDb = Annotated[bool, typer.Option("--expose-db", help="Also publish the databases, on 127.0.0.1 only.")]
CourseData = Annotated[
    Path | None,
    typer.Option(
        "--course-data",
        help="Folder of the course's datasets (postgres/, mongodb/, files/) that the images carry and load once "
        "[default: the catalogue's course_data].",
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for programs.")]


Registry = Annotated[
    str | None,
    typer.Option("--registry", help="HOST[:PORT]/NAMESPACE the images were pushed to: hosts pull them by digest."),
]
OneRecipe = Annotated[str | None, typer.Argument(help="A recipe from `list` [default: the default recipe].")]
AppNames = Annotated[list[str] | None, typer.Argument(metavar="APP", help="Apps [default: all].")]
RecipeNames = Annotated[list[str] | None, typer.Argument(metavar="RECIPE", help="Recipes [default: all].")]
LockFile = Annotated[
    Path | None, typer.Option("--lock", help="Where the pushed digests are recorded [default: ~/.cache/tm351].")
]
ShelfUrl = Annotated[
    str | None, typer.Option("--base-url", help="Where the shelf will be served (a git repository for Portainer).")
]
PushedTo = Annotated[str, typer.Option("--registry", help="HOST[:PORT]/NAMESPACE the images are pushed to.")]
RegistryCa = Annotated[
    Path | None, typer.Option("--registry-ca", help="The registry's CA (PEM), when it has a private one.")
]


class HostProvider(StrEnum):
    local = "local"
    vagrant = "vagrant"
    aws = "aws"


StackProvider = Annotated[HostProvider, typer.Option("--provider", help="Where the stack runs.")]
VagrantVm = Annotated[Provider, typer.Option("--vm", help="vagrant: the Vagrant provider.")]
ReleaseBoxOption = Annotated[
    str | None,
    typer.Option(
        "--box",
        help="virtualbox or libvirt: a VM release (from `vm-release`) instead of provisioning: "
        "its box catalogue's URL or path, a .box file, or the name of a box already added.",
    ),
]
NoKvm = Annotated[
    bool,
    typer.Option("--no-kvm", help="libvirt: emulate the CPU, where hardware virtualisation is missing (slow)."),
]
VagrantDir = Annotated[
    Path | None,
    typer.Option(
        "--vagrant-dir",
        help="vagrant: the machine's folder [default: the current folder if it has a Vagrantfile, "
        "else the one `up --provider vagrant` made].",
    ),
]


AwsRegion = Annotated[
    str | None, typer.Option("--region", help="AWS region [default: from your AWS profile or AWS_DEFAULT_REGION].")
]
Student = Annotated[str | None, typer.Option("--student", help="aws: whose instance [default: your login name].")]


def reported(function: F) -> F:
    """Turn the project's errors into one line on stderr and its exit code (a traceback only with --debug)."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except (UsageProblem, OperationFailed) as problem:
            if _debug:
                raise
            details = getattr(problem, "details", "")
            if details:
                err.print(details, markup=False, highlight=False)
            # The message may quote what a user or an archive named ("[b]x"): text, never markup.
            err.print(f"[red]Error:[/red] {escape(str(problem))}", highlight=False)
            raise typer.Exit(problem.exit_code) from None
        except KeyboardInterrupt:
            err.print("Interrupted.")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


@app.callback()
def main(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False) -> None:
    global _debug
    _debug = debug


@app.command("list")
@reported
def list_shelf(as_json: AsJson = False) -> None:
    """List the shelf's apps and recipes with their memory budgets."""
    from tm351vce.hosts.views import shelf_tables
    from tm351vce.shelf.catalogue import load_shelf, shelf_summary

    summary = shelf_summary(load_shelf())
    if as_json:
        print(json.dumps(summary, indent=2))
    else:
        for table in shelf_tables(summary):
            out.print(table)


@app.command()
@reported
def render(
    recipe: Annotated[str, typer.Argument(help="A recipe from `list`.")],
    target: Annotated[Target, typer.Option("--target", help="What to render.")] = Target.compose,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write to FILE instead of stdout.")] = None,
    data_dir: DataDir = None,
    port: Port = None,
    expose_db: ExposeDb = False,
    registry: Registry = None,
    registry_ca: RegistryCa = None,
    power_off: Annotated[
        bool, typer.Option("--power-off", help="cloud-init: power the host off when provisioning ends (baking).")
    ] = False,
) -> None:
    """Render a recipe as a Compose v2 file, or as cloud-init user-data that provisions a Debian 12 host."""
    from tm351vce.provision.targets import render_target
    from tm351vce.shelf.catalogue import load_shelf

    shelf = load_shelf()
    text = render_target(
        shelf, shelf.recipe(recipe), target, data_dir, port, expose_db, registry, registry_ca, power_off
    )
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        err.print(f"Wrote {output}")


@app.command()
@reported
def build(
    apps: AppNames = None,
    base_image: Annotated[str, typer.Option("--base-image", help="Image to build on.")] = DEFAULT_BASE_IMAGE,
    bootstrap_base: Annotated[
        bool, typer.Option("--bootstrap-base", help="Build on a Debian image made from Debian's archive.")
    ] = False,
    ca_cert: Annotated[
        Path | None, typer.Option("--ca-cert", help="Extra CA bundle (PEM) to trust, for TLS-inspecting networks.")
    ] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Rebuild every step (fresh packages).")] = False,
    artifacts: Annotated[
        Path | None, typer.Option("--artifacts", help="Folder of release downloads to build from instead.")
    ] = None,
    host: Annotated[
        bool, typer.Option("--host", help="Build the emulated Debian host (Vagrant's docker provider) instead.")
    ] = False,
    source: Annotated[
        list[str] | None,
        typer.Option(
            "--source",
            metavar="APP=SOURCE",
            help="Build APP from this one of its sources (see compose/shelf.yaml), e.g. mongodb=pypi.",
        ),
    ] = None,
    course_data: CourseData = None,
) -> None:
    """Build app images with BuildKit (cached: a rebuild with nothing changed is quick)."""
    from tm351vce.images.build import BuildOptions, build_apps, build_host_image
    from tm351vce.shelf.catalogue import load_shelf

    sources = {}
    for choice in source or []:
        app_name, equals, source_name = choice.partition("=")
        if not (equals and app_name and source_name):
            raise UsageProblem(f"--source {choice}: write APP=SOURCE, e.g. --source mongodb=pypi.")
        sources[app_name] = source_name
    shelf = load_shelf()
    options = BuildOptions(
        base_image, bootstrap_base, ca_cert, no_cache, artifacts, sources, course_data or shelf.defaults.course_data
    )
    built = [build_host_image(shelf, options)] if host else build_apps(shelf, apps or [], options)
    out.print("Built " + ", ".join(built))


@app.command()
@reported
def push(
    apps: AppNames = None,
    registry: PushedTo = ...,  # type: ignore[assignment]
    lock: LockFile = None,
) -> None:
    """Push built images to a registry, tagged with the version, and record their digests for hosts."""
    from tm351vce.images.registry import default_lock, push_images
    from tm351vce.shelf.catalogue import load_shelf

    shelf = load_shelf()
    chosen = shelf.chosen_apps(apps)
    lock = lock or default_lock()
    for name, reference in push_images(shelf, chosen, registry, lock).items():
        out.print(f"Pushed {name} -> {reference.rsplit('@', 1)[1]}")
    out.print(f"Digests recorded in {lock}")


@app.command()
@reported
def vagrant(
    recipe: OneRecipe = None,
    provider: Annotated[Provider, typer.Option("--provider", help="Where the machine runs.")] = Provider.virtualbox,
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder to write the Vagrantfile in.")] = Path("vm"),
    data_dir: DataDir = None,
    port: Port = None,
    registry: Registry = None,
    registry_ca: RegistryCa = None,
    region: Annotated[str, typer.Option("--region", help="aws: the region.")] = AwsOptions.region,
    instance_type: Annotated[
        str, typer.Option("--instance-type", help="aws: the instance type.")
    ] = AwsOptions.instance_type,
    ami: Annotated[str | None, typer.Option("--ami", help="aws: a Debian 12 AMI, or one baked by `bake`.")] = None,
    key_pair: Annotated[str | None, typer.Option("--key-pair", help="aws: an EC2 key pair, for SSH.")] = None,
    security_group: Annotated[str | None, typer.Option("--security-group", help="aws: a security group.")] = None,
    box: ReleaseBoxOption = None,
    no_kvm: NoKvm = False,
) -> None:
    """Write a Vagrantfile (and the provision/ files it runs) for a recipe on a Vagrant provider."""
    from tm351vce.shelf.catalogue import load_shelf
    from tm351vce.vagrant.driver import Machine, write_machine

    aws = AwsOptions(region, instance_type, ami, key_pair, security_group)
    shelf = load_shelf()
    asked = Machine(provider, data_dir, port, registry, registry_ca, aws, box, no_kvm)
    machine = write_machine(shelf, shelf.recipe(recipe) if recipe else None, asked, output)
    out.print(f"Wrote {machine.vagrantfile}; start it with: cd {output} && vagrant up --provider {provider.value}")


@app.command("vm-release")
@reported
def vm_release_command(
    recipe: OneRecipe = None,
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for the boxes and their catalogue.")] = Path(
        "release"
    ),
    box_format: Annotated[BoxFormat, typer.Option("--format", help="Which boxes to write.")] = BoxFormat.all,
    disk_gb: Annotated[int, typer.Option("--disk-gb", min=4, help="The VM's disk, in GiB.")] = DEFAULT_DISK_GB,
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="Where -o will be served from [default: its file:// URL].")
    ] = None,
    course_data: CourseData = None,
) -> None:
    """Build a VM release as root: a Debian 12 disk with the recipe preloaded, as Vagrant boxes and a box catalogue."""
    from tm351vce.shelf.catalogue import load_shelf
    from tm351vce.vagrant.release.build import vm_release

    shelf = load_shelf()
    release = vm_release(shelf, shelf.recipe(recipe), output, box_format, disk_gb, base_url, course_data)
    out.print(f"Add it with: vagrant box add {release.catalogue_url}; then: vagrant init {release.name} && vagrant up")


@app.command()
@reported
def up(
    recipe: OneRecipe = None,
    data_dir: DataDir = None,
    port: Port = None,
    expose_db: ExposeDb = False,
    force: Annotated[bool, typer.Option("--force", help="Start even if its memory budget does not fit.")] = False,
    course_data: CourseData = None,
    idle_minutes: Annotated[
        float | None,
        typer.Option(
            "--idle-minutes",
            min=0.01,
            envvar="TM351_IDLE_MINUTES",
            help="local: apps that start when opened (OpenRefine) stop after this long without use "
            "[default: the catalogue's, 30].",
        ),
    ] = None,
    provider: Annotated[
        HostProvider,
        typer.Option(
            "--provider", help="local: this machine's Docker; vagrant: a Vagrant machine; aws: your instance."
        ),
    ] = HostProvider.local,
    vm: VagrantVm = Provider.virtualbox,
    box: ReleaseBoxOption = None,
    no_kvm: NoKvm = False,
    region: AwsRegion = None,
    instance_type: Annotated[
        str, typer.Option("--instance-type", help="aws: the instance type.")
    ] = DEFAULT_INSTANCE_TYPE,
    ami: Annotated[str, typer.Option("--ami", help="aws: an AMI baked by `bake`, or latest.")] = "latest",
    allow_cidr: Annotated[
        str, typer.Option("--allow-cidr", help="aws: the network allowed in (CIDR), or auto: your public address.")
    ] = "auto",
    domain: Annotated[
        str | None, typer.Option("--domain", help="aws: your DNS name for the instance (a Let's Encrypt certificate).")
    ] = None,
    acme_email: Annotated[
        str | None, typer.Option("--acme-email", help="aws: Let's Encrypt's contact address.")
    ] = None,
    acme_from: Annotated[
        str | None, typer.Option("--acme-from", help="aws, with --domain: who may reach port 80 (the challenge).")
    ] = None,
    student: Student = None,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="aws: return once the instance is running.")] = False,
    timeout: Annotated[float, typer.Option("--timeout", help="aws: longest wait for each stage, in seconds.")] = 900,
) -> None:
    """Start a recipe (building missing images first) and print its URL."""
    from tm351vce.ami.student_commands import CloudOptions
    from tm351vce.ami.waiting import Polling
    from tm351vce.shelf.catalogue import load_shelf

    cloud = CloudOptions(
        region, instance_type, ami, allow_cidr, domain, acme_email, acme_from, not no_wait,
        Polling(interval_s=5, timeout_s=timeout),
    )  # fmt: skip
    shelf = load_shelf()
    if course_data is not None and provider is not HostProvider.local:
        raise UsageProblem(
            "--course-data is for the local stack: a VM release or an AMI carries the course data of the images it "
            "is made from (`build --course-data DIR`, then `vm-release`, or `push` and `bake`)."
        )
    host = _host(
        shelf, provider, data_dir=data_dir, port=port, expose_db=expose_db, force=force, idle_minutes=idle_minutes,
        vm=vm, box=box, no_kvm=no_kvm, region=region, student=student, cloud=cloud, course_data=course_data,
    )  # fmt: skip
    started = host.up(shelf.recipe(recipe) if recipe else None)
    if started.ready:
        out.print(f"[green]Ready:[/green] open {started.url}", highlight=False)
    for note in started.notes:
        out.print(note, highlight=False)
    out.print(f"Log in as [bold]student[/bold] with the password that `{host.password_command()}` prints.")


def _host(
    shelf: Shelf,
    provider: HostProvider,
    *,
    data_dir: Path | None = None,
    port: int | None = None,
    expose_db: bool = False,
    force: bool = False,
    idle_minutes: float | None = None,
    vm: Provider = Provider.virtualbox,
    box: str | None = None,
    no_kvm: bool = False,
    vagrant_dir: Path | None = None,
    region: str | None = None,
    student: str | None = None,
    cloud: CloudOptions | None = None,
    course_data: Path | None = None,
) -> Host:
    """The one place that turns --provider into a Host."""
    from tm351vce.ami.host import AwsHost
    from tm351vce.ami.student_commands import CloudOptions
    from tm351vce.hosts.local import LocalHost
    from tm351vce.vagrant.host import VagrantHost

    if provider is HostProvider.aws:
        tell = lambda line: out.print(line, highlight=False)  # noqa: E731
        return AwsHost(shelf, region, student, cloud or CloudOptions(region=region), err, tell)
    if provider is HostProvider.vagrant:
        return VagrantHost(shelf, vm, data_dir, port, box, no_kvm, vagrant_dir)
    return LocalHost(shelf, data_dir, port, expose_db, force, idle_minutes, course_data)


@app.command()
@reported
def status(
    as_json: AsJson = False,
    provider: Annotated[HostProvider, typer.Option("--provider", help="local or aws.")] = HostProvider.local,
    region: AwsRegion = None,
    student: Student = None,
) -> None:
    """Show the running stack's services, their health and memory (aws: the instance)."""
    from tm351vce.shelf.catalogue import load_shelf

    report = _host(load_shelf(), provider, region=region, student=student).status()
    if as_json:
        print(json.dumps(report.data, indent=2))
    else:
        out.print(report.text)


@app.command()
@reported
def stop(
    provider: Annotated[HostProvider, typer.Option("--provider", help="Where the stack runs.")] = HostProvider.local,
    region: AwsRegion = None,
    student: Student = None,
) -> None:
    """Stop the stack and keep everything (aws: stop the instance and keep its disk; it is billed for the disk)."""
    from tm351vce.shelf.catalogue import load_shelf

    out.print(_host(load_shelf(), provider, region=region, student=student).stop())


@app.command()
@reported
def logs(
    app_name: Annotated[str | None, typer.Argument(metavar="[APP]", help="One service [default: all].")] = None,
    lines: Annotated[int, typer.Option("--lines", "-n", min=1, help="How many lines per service.")] = 200,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new lines.")] = False,
) -> None:
    """Print the stack's logs."""
    from tm351vce.hosts import local as stack

    raise typer.Exit(stack.logs(app_name, lines, follow))


@app.command()
@reported
def down(
    purge: Annotated[
        bool, typer.Option("--purge", help="Also delete the stack's volumes (databases, settings).")
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Do not ask before purging (aws: before terminating).")
    ] = False,
    provider: Annotated[HostProvider, typer.Option("--provider", help="local or aws.")] = HostProvider.local,
    region: AwsRegion = None,
    student: Student = None,
) -> None:
    """Stop the stack. Your folder is always kept; volumes are kept unless --purge (aws: terminate the instance)."""
    from tm351vce.shelf.catalogue import load_shelf

    host = _host(load_shelf(), provider, region=region, student=student)
    out.print(host.down(purge, confirm=lambda question: _confirmed(question, yes)))


@app.command()
@reported
def backup(
    data_dir: DataDir = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Archive to write [default: in backups/].")
    ] = None,
    provider: StackProvider = HostProvider.local,
    vm: VagrantVm = Provider.virtualbox,
    vagrant_dir: VagrantDir = None,
) -> None:
    """Write one archive of every database of the running stack and the notebooks and data folders."""
    from tm351vce.hosts import backup as backups
    from tm351vce.shelf.catalogue import load_shelf

    shelf = load_shelf()
    access = _host(shelf, provider, data_dir=data_dir, vm=vm, vagrant_dir=vagrant_dir).stack_access()
    out.print(f"Backed up to {backups.backup(shelf, data_dir, output, access)}")


@app.command()
@reported
def restore(
    archive: Annotated[Path, typer.Argument(help="An archive written by `backup`.")],
    data_dir: DataDir = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before overwriting.")] = False,
    provider: StackProvider = HostProvider.local,
    vm: VagrantVm = Provider.virtualbox,
    vagrant_dir: VagrantDir = None,
) -> None:
    """Restore a backup into the running stack (asks before it overwrites anything)."""
    from tm351vce.hosts import backup as backups
    from tm351vce.shelf.catalogue import load_shelf

    confirm = lambda question: _confirmed(question, yes)  # noqa: E731
    shelf = load_shelf()
    access = _host(shelf, provider, data_dir=data_dir, vm=vm, vagrant_dir=vagrant_dir).stack_access()
    manifest = backups.restore(shelf, archive, data_dir, confirm, access)
    out.print(
        f"Restored the backup of {manifest.created} (databases: {', '.join(manifest.databases) or 'none'}).",
        markup=False,
        highlight=False,
    )


@app.command()
@reported
def publish(
    recipes: RecipeNames = None,
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder to write the shelf in.")] = Path("shelf"),
    registry: PushedTo = ...,  # type: ignore[assignment]
    base_url: ShelfUrl = None,
) -> None:
    """Publish the shelf: recipe folders that run with `docker compose up`, Swarm stacks, a Portainer feed, a page."""
    from tm351vce.compose.publish import publish_shelf
    from tm351vce.images.registry import check_registry, pinned_images
    from tm351vce.shelf.catalogue import load_shelf

    shelf = load_shelf()
    registry = check_registry(registry)
    chosen = shelf.chosen_recipes(recipes)
    pinned = lambda recipe: pinned_images(shelf, shelf.apps_of(recipe), registry)  # noqa: E731
    for folder in publish_shelf(shelf, output, registry, pinned, chosen, base_url):
        out.print(f"Wrote {folder}/ (compose.yaml, stack.yaml, .env.example, README.md)", highlight=False)
    out.print(f"Wrote {output / 'templates.json'} (Portainer) and {output / 'index.html'}", highlight=False)


@app.command()
@reported
def bake(
    recipe: OneRecipe = None,
    base_ami: Annotated[str, typer.Option("--base-ami", help="A Debian 12 amd64 AMI id, or auto.")] = "auto",
    region: AwsRegion = None,
    registry: Registry = None,
    registry_ca: RegistryCa = None,
    instance_type: Annotated[
        str, typer.Option("--instance-type", help="The bake instance's type.")
    ] = DEFAULT_INSTANCE_TYPE,
    copy_to: Annotated[
        list[str] | None, typer.Option("--copy-to", help="Also copy the AMI to this region (repeatable).")
    ] = None,
    share: Annotated[
        list[str] | None, typer.Option("--share", help="`all` (public) or an AWS account id (repeatable).")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="AMI name prefix [default: tm351-RECIPE-VERSION].")] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Longest wait for each step, in seconds.")] = 3600,
    poll: Annotated[float, typer.Option("--poll", help="Seconds between checks while waiting.")] = 15,
    manifest: Annotated[
        Path | None, typer.Option("--manifest", help="Where to write the manifest [default: NAME.manifest.json].")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan; create nothing.")] = False,
    keep_on_error: Annotated[
        bool, typer.Option("--keep-on-error", help="On failure, leave what was made for inspection (it is billed).")
    ] = False,
    course_data: CourseData = None,
) -> None:
    """Bake an AMI of a recipe: boot Debian 12 with the provisioning user-data, image it, copy and share it."""
    from tm351vce.ami import commands as ami_commands
    from tm351vce.images.registry import check_course_data_pushed
    from tm351vce.shelf.catalogue import load_shelf

    shelf = load_shelf()
    course_data = course_data or shelf.defaults.course_data
    if course_data is not None and registry is not None:
        check_course_data_pushed(shelf, shelf.apps_of(shelf.recipe(recipe)), registry, course_data)
    result = ami_commands.bake(
        shelf, shelf.recipe(recipe), region=region, registry=registry, registry_ca=registry_ca, base_ami=base_ami,
        instance_type=instance_type, copy_to=copy_to or [], share=share or [], name=name, timeout_s=timeout,
        interval_s=poll, manifest=manifest, dry_run=dry_run, keep_on_error=keep_on_error, console=err,
    )  # fmt: skip
    if isinstance(result, list):
        out.print("Dry run: nothing is created. The bake would:")
        for line in result:
            out.print(f"  {line}", highlight=False)
        return
    for ami_region, image_id in result["amis"].items():
        out.print(f"[green]Baked:[/green] {image_id} in {ami_region}", highlight=False)
    out.print(f"Manifest: {result['manifest']}", highlight=False)


amis = typer.Typer(no_args_is_help=True, help="The AMIs baked by `bake`: list them, prune old ones.")
app.add_typer(amis, name="amis")


@amis.command("list")
@reported
def amis_list(region: AwsRegion = None, as_json: AsJson = False) -> None:
    """List the baked AMIs of this account in a region, newest first."""
    from tm351vce.ami import commands as ami_commands

    releases = ami_commands.releases(region)
    if as_json:
        print(json.dumps([release.as_dict() for release in releases], indent=2))
        return
    if not releases:
        out.print("No baked AMIs in this region.")
    for release in releases:
        where = ", ".join(release.regions)
        shared = " public" if release.public else ""
        out.print(f"{release.image_id}  {release.created}  {release.recipe} {release.version}{shared}  [{where}]")


@amis.command("prune")
@reported
def amis_prune(
    keep: Annotated[int, typer.Option("--keep", help="How many of each recipe's newest AMIs to keep.")] = ...,  # type: ignore[assignment]
    region: AwsRegion = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask before deleting.")] = False,
) -> None:
    """Deregister all but the newest N AMIs of each recipe, and their snapshots, in every region they were copied to."""
    from tm351vce.ami import commands as ami_commands

    def confirm(doomed: list) -> bool:
        for release in doomed:
            out.print(f"  {release.image_id}  {release.created}  {release.name}  [{', '.join(release.regions)}]")
        if _confirmed(f"Deregister these {len(doomed)} AMIs and delete their snapshots?", yes):
            return True
        raise UsageProblem("Nothing deleted: confirm at a terminal, or add --yes.")

    removed = ami_commands.prune_releases(region, keep, confirm)
    nothing = f"Nothing to prune: no recipe has more than {keep}."
    out.print("Deregistered, with their snapshots:" if removed else nothing)
    for line in removed:
        out.print(f"  {line}", highlight=False)


fleet = typer.Typer(no_args_is_help=True, help="A class's instances on AWS, one per student of a roster.")
app.add_typer(fleet, name="fleet")
Roster = Annotated[
    Path, typer.Option("--roster", help="CSV with student_id and optionally email, allow_cidr.", exists=False)
]


@fleet.command("up")
@reported
def fleet_up(
    roster: Roster = ...,  # type: ignore[assignment]
    recipe: Annotated[str | None, typer.Option("--recipe", help="A recipe from `list` [default: the default].")] = None,
    region: AwsRegion = None,
    instance_type: Annotated[str, typer.Option("--instance-type", help="The instance type.")] = DEFAULT_INSTANCE_TYPE,
    ami: Annotated[str, typer.Option("--ami", help="An AMI baked by `bake`, or latest.")] = "latest",
    allow_cidr: Annotated[
        str | None, typer.Option("--allow-cidr", help="Network allowed in, for rows without allow_cidr (or auto).")
    ] = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", help="How many students are launched at once.")
    ] = DEFAULT_CONCURRENCY,
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Credentials file (student, URL, password), mode 0600.")
    ] = Path("credentials.csv"),
    no_wait: Annotated[bool, typer.Option("--no-wait", help="Do not wait for the instances to run.")] = False,
) -> None:
    """Launch one instance per student of the roster (only those missing), and write their credentials."""
    from tm351vce.ami import fleet_commands
    from tm351vce.ami.fleet import FleetOptions
    from tm351vce.ami.views import fleet_failures_table, fleet_summary_table
    from tm351vce.shelf.catalogue import load_shelf

    options = FleetOptions(instance_type, ami, allow_cidr, concurrency, not no_wait)
    shelf = load_shelf()
    result = fleet_commands.fleet_up(shelf, shelf.recipe(recipe), roster, region, options, output, err)
    out.print(fleet_summary_table(result))
    if result.failures:
        out.print(fleet_failures_table(result))
        out.print("Run the same command again to launch the students that failed.")
    out.print(f"Credentials: {result.credentials} (readable by you only; hand each student their line).")
    if result.failures:
        raise typer.Exit(1)


@fleet.command("status")
@reported
def fleet_status(roster: Roster = ..., region: AwsRegion = None, as_json: AsJson = False) -> None:  # type: ignore[assignment]
    """Show each student's instance: state, URL, certificate fingerprint."""
    from tm351vce.ami import fleet_commands
    from tm351vce.ami.views import fleet_status_table
    from tm351vce.shelf.catalogue import load_shelf

    rows = fleet_commands.fleet_status(load_shelf(), roster, region, err)
    if as_json:
        print(json.dumps(rows, indent=2))
    else:
        out.print(fleet_status_table(rows))


@fleet.command("down")
@reported
def fleet_down(
    roster: Roster = ...,  # type: ignore[assignment]
    region: AwsRegion = None,
    yes: Annotated[bool, typer.Option("--yes", help="Terminate without asking (students' data is lost).")] = False,
) -> None:
    """Terminate the roster's instances and delete their security groups."""
    from tm351vce.ami import fleet_commands
    from tm351vce.shelf.catalogue import load_shelf

    instances, groups = fleet_commands.fleet_down(load_shelf(), roster, region, yes, err)
    out.print(f"Terminated {instances} instance(s) and deleted {groups} security group(s).")


def _confirmed(question: str, yes: bool) -> bool:
    """--yes, or a yes typed at a terminal; never a yes assumed when nobody can answer."""
    return yes or (sys.stdin.isatty() and typer.confirm(question))


@app.command()
@reported
def password(
    data_dir: DataDir = None,
    reset: Annotated[
        bool, typer.Option("--reset", help="Replace it with a new one (the old one stops working).")
    ] = False,
    provider: Annotated[HostProvider, typer.Option("--provider", help="Where the stack runs.")] = HostProvider.local,
    vm: Annotated[Provider, typer.Option("--vm", help="vagrant: the Vagrant provider.")] = Provider.virtualbox,
    vagrant_dir: VagrantDir = None,
    region: AwsRegion = None,
    student: Student = None,
) -> None:
    """Print the password to log in with (user: student)."""
    from tm351vce.shelf.catalogue import load_shelf

    host = _host(load_shelf(), provider, data_dir=data_dir, vm=vm, vagrant_dir=vagrant_dir, region=region,
                 student=student)  # fmt: skip
    secret, note = host.password(reset)
    if note:
        err.print(note)
    print(secret)


if __name__ == "__main__":
    app()
