"""What `up`, `status`, `stop`, `down` and `password` do with `--provider aws`: one student's own instance."""

from __future__ import annotations

import getpass
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from rich.console import Console

from tm351vce.ami.access import is_world, parse_cidr, resolve_cidr
from tm351vce.ami.aws import VERSION_TAG, aws_session, calling_aws, console_text, tags_of
from tm351vce.ami.sizing import check_instance_type
from tm351vce.ami.student import LaunchSpec, Outcome, StudentInstances
from tm351vce.ami.student_store import STUDENT_ID, StudentRecord
from tm351vce.ami.waiting import Polling, WaitFailed, WaitTimedOut
from tm351vce.provision.tls import FingerprintMismatch, fingerprint_from_console
from tm351vce.shelf.catalogue import Recipe, Shelf
from tm351vce.shelf.constants import DEFAULT_INSTANCE_TYPE
from tm351vce.shelf.errors import OperationFailed, UsageProblem

T = TypeVar("T")
_DOMAIN = re.compile(r"^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


@dataclass(frozen=True)
class CloudOptions:
    region: str | None = None
    instance_type: str = DEFAULT_INSTANCE_TYPE
    ami: str = "latest"
    allow_cidr: str = "auto"
    domain: str | None = None
    acme_email: str | None = None
    acme_from: str | None = None
    wait: bool = True
    polling: Polling = field(default_factory=lambda: Polling(interval_s=5, timeout_s=900))


@dataclass
class UpResult:
    outcome: Outcome
    cidr: str
    detected: bool
    record: StudentRecord
    instance_type: str
    image_id: str


def student_id(student: str | None) -> str:
    chosen = student or getpass.getuser()
    if not STUDENT_ID.match(chosen):
        raise UsageProblem(
            f"--student {chosen!r}: use letters, digits, '.', '_' and '-' only (at most 63), starting with a letter "
            "or digit."
        )
    return chosen


def check_domain(options: CloudOptions) -> None:
    if options.domain is None:
        if options.acme_from or options.acme_email:
            raise UsageProblem("--acme-from and --acme-email go with --domain: name your domain too.")
        return
    if not _DOMAIN.match(options.domain):
        raise UsageProblem(f"--domain {options.domain!r} is not a DNS name: give one like notebooks.example.org.")
    if not options.acme_from:
        raise UsageProblem(
            "--domain gets a certificate from Let's Encrypt, which checks the domain over plain HTTP from addresses "
            "it does not publish: add --acme-from 0.0.0.0/0 to let everyone reach port 80 (it only redirects to "
            "HTTPS and answers the challenge; the login stays behind HTTPS and --allow-cidr)."
        )
    parse_cidr(options.acme_from, "--acme-from")


def up(
    shelf: Shelf,
    recipe: Recipe,
    student: str | None,
    options: CloudOptions,
    console: Console,
    tell: Callable[[str], None] = print,
) -> UpResult:
    """Launch (or find, or start) the student's instance and wait for it; `tell` hears each outcome at once."""
    student = student_id(student)
    check_domain(options)
    if options.allow_cidr.strip().lower() != "auto":
        parse_cidr(options.allow_cidr)
    session = aws_session(options.region)
    cidr, detected = resolve_cidr(options.allow_cidr)
    students = StudentInstances(session, console=console)

    def launch() -> tuple[Outcome, str]:
        check_instance_type(students.client, shelf, recipe, options.instance_type)
        image = students.release_image(recipe, options.ami)
        version = tags_of(image).get(VERSION_TAG, shelf.version)
        spec = LaunchSpec(
            recipe, image, version, options.instance_type, options.domain, options.acme_email,
            parse_cidr(options.acme_from, "--acme-from") if options.acme_from else None,
        )  # fmt: skip
        found = students.instances([student]).get(student)
        group = students.groups([student]).get(student)
        return students.ensure(student, spec, cidr, instance=found, group=group), image["ImageId"]

    if detected:
        tell(f"Your public address is {cidr}: only it may reach the instance (--allow-cidr).")
    warn_if_world(cidr, console)
    outcome, image_id = calling_aws(launch, "launching the instance")
    done = {"launched": "Launched", "started": "Started", "running": "Found running"}[outcome.action]
    tell(f"{done} {outcome.instance_id} for {student} ({options.instance_type}, {image_id}).")
    _waited(lambda: students.wait_running(student, options.polling), "waiting for the instance")
    if options.wait:
        _waited(lambda: students.wait_gateway(student, options.polling, options.domain), "waiting for the gateway")
    record = students.store.load_or_new(student)
    return UpResult(outcome, cidr, detected, record, options.instance_type, image_id)


@dataclass
class CloudStatus:
    student: str
    region: str
    instance_id: str
    state: str
    instance_type: str
    recipe: str
    url: str
    fingerprint: str
    allowed: list[str]

    def as_dict(self) -> dict:
        return self.__dict__.copy()


def status(region: str | None, student: str | None) -> CloudStatus | None:
    student = student_id(student)
    students = StudentInstances(aws_session(region))

    def look() -> CloudStatus | None:
        instance = students.instances([student]).get(student)
        if instance is None:
            return None
        record = students.store.load(student)
        fingerprint = record.fingerprint if record else ""
        if not fingerprint and instance["State"]["Name"] == "running":
            fingerprint = fingerprint_from_console(console_text(students.client, instance["InstanceId"])) or ""
            if record and fingerprint:
                record.fingerprint = fingerprint
                students.store.save(record)
        group = students.groups([student]).get(student, {})
        allowed = sorted(
            {r["CidrIp"] for p in group.get("IpPermissions", []) for r in p.get("IpRanges", [])}
            | {r["CidrIpv6"] for p in group.get("IpPermissions", []) for r in p.get("Ipv6Ranges", [])}
        )
        return CloudStatus(
            student=student,
            region=students.region,
            instance_id=instance["InstanceId"],
            state=instance["State"]["Name"],
            instance_type=instance.get("InstanceType", ""),
            recipe=tags_of(instance).get("tm351:recipe", ""),
            url=StudentInstances.url_of(instance, record.domain if record and record.domain else None),
            fingerprint=fingerprint,
            allowed=allowed,
        )

    return calling_aws(look, "describing the instance")


def stop(region: str | None, student: str | None) -> str:
    student = student_id(student)
    students = StudentInstances(aws_session(region))
    return calling_aws(lambda: students.stop(student), "stopping the instance")


def down(region: str | None, student: str | None, yes: bool, console: Console) -> list[str]:
    student = student_id(student)
    if not yes:
        raise UsageProblem(
            "down --provider aws terminates the instance: the notebooks, data and databases on it are lost for good. "
            "Download what you need from Jupyter first (select the files, then Download), or use `stop`, which keeps "
            "the disk. "
            "Then run it again with --yes."
        )
    students = StudentInstances(aws_session(region), console=console)
    return calling_aws(lambda: students.down(student, Polling(5, 900)), "removing the instance")


def password(region: str | None, student: str | None) -> str:
    student = student_id(student)
    session = aws_session(region)
    record = StudentInstances(session).store.load(student)
    if record is None:
        raise UsageProblem(
            f"This computer holds no password of student {student} in {session.region_name}: it is made by the "
            "`up --provider aws` that launched the instance, on the computer that ran it."
        )
    return record.password


def warn_if_world(cidr: str, console: Console) -> None:
    if is_world(cidr):
        console.print(
            f"[yellow]Warning:[/yellow] --allow-cidr {cidr} lets anyone on the internet reach the login page.",
            highlight=False,
        )


def _waited(call: Callable[[], T], doing: str) -> T:
    try:
        return calling_aws(call, doing)
    except FingerprintMismatch as problem:
        raise OperationFailed(str(problem)) from None
    except (WaitTimedOut, WaitFailed) as problem:
        raise OperationFailed(
            f"{problem}. The instance is kept: `python3 tasks.py status --provider aws` shows how it is doing, "
            "and `up --provider aws` again waits again."
        ) from None
