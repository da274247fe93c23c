"""A class's instances from a roster: one per student, launched with bounded concurrency, re-runs finish the rest.

A failing student never stops the others; the summary lists failures and a second run launches only those
missing (everything is found by the student's tag, and each launch carries the student's idempotency token).
"""

from __future__ import annotations

import csv
import os
import random
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import botocore.exceptions
import botocore.parsers
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tm351vce.ami.access import resolve_cidr
from tm351vce.ami.aws import VERSION_TAG, error_code, error_text, tags_of
from tm351vce.ami.roster import RosterRow
from tm351vce.ami.sizing import check_instance_type
from tm351vce.ami.student import LaunchSpec, Outcome, StudentInstances
from tm351vce.ami.waiting import Polling, Waiter
from tm351vce.shelf.catalogue import Recipe, Shelf
from tm351vce.shelf.constants import DEFAULT_CONCURRENCY, DEFAULT_INSTANCE_TYPE
from tm351vce.shelf.errors import UsageProblem

# Refusals that say "not now" rather than "no": throttling and AWS's own passing failures.
PASSING = (
    "Throttling",
    "RequestLimitExceeded",
    "ThrottlingException",
    "TooManyRequestsException",
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
    "Unavailable",
)
CREDENTIAL_COLUMNS = ("student_id", "email", "url", "password")


@dataclass(frozen=True)
class FleetOptions:
    instance_type: str = DEFAULT_INSTANCE_TYPE
    ami: str = "latest"
    allow_cidr: str | None = None  # for rows without their own allow_cidr
    concurrency: int = DEFAULT_CONCURRENCY
    wait: bool = True
    polling: Polling = field(default_factory=lambda: Polling(interval_s=10, timeout_s=1800))
    attempts: int = 5  # per student, beyond botocore's own retries, while AWS keeps saying "not now"


@dataclass
class FleetResult:
    outcomes: list[Outcome]
    credentials: Path | None = None
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def failures(self) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.action == "failed"]


def _passing(problem: Exception) -> bool:
    """Worth another try once botocore's own retries are spent: throttling, AWS's 5xx, a lost connection, or
    an overloaded endpoint's error page where an AWS answer was expected (botocore cannot parse it)."""
    if isinstance(problem, botocore.exceptions.ClientError):
        return error_code(problem) in PASSING
    passing = (
        botocore.exceptions.ConnectionError,
        botocore.exceptions.HTTPClientError,
        botocore.parsers.ResponseParserError,
    )
    return isinstance(problem, passing)


def _one_line(problem: Exception) -> str:
    if isinstance(problem, botocore.exceptions.ClientError):
        return error_text(problem)
    return f"{type(problem).__name__}: {problem}"


def check_options(rows: list[RosterRow], options: FleetOptions) -> None:
    if options.concurrency < 1:
        raise UsageProblem("--concurrency must be at least 1.")
    lacking = [row.line for row in rows if not row.allow_cidr]
    if lacking and not options.allow_cidr:
        shown = ", ".join(str(line) for line in lacking[:10]) + (" …" if len(lacking) > 10 else "")
        raise UsageProblem(
            f"{len(lacking)} roster line(s) have no allow_cidr (lines {shown}): give --allow-cidr CIDR for them "
            "(the network students connect from), or fill the column in."
        )


class Fleet:
    def __init__(
        self,
        shelf: Shelf,
        recipe: Recipe,
        session: boto3.Session,
        options: FleetOptions,
        console: Console | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.shelf, self.recipe, self.options = shelf, recipe, options
        self.console = console or Console(stderr=True, soft_wrap=True)
        self.students = StudentInstances(session, console=self.console)
        self.sleep = sleep or threading.Event().wait

    def up(self, rows: list[RosterRow]) -> FleetResult:
        check_options(rows, self.options)
        default_cidr = resolve_cidr(self.options.allow_cidr)[0] if self.options.allow_cidr else ""
        check_instance_type(self.students.client, self.shelf, self.recipe, self.options.instance_type)
        image = self.students.release_image(self.recipe, self.options.ami)
        spec = LaunchSpec(
            self.recipe, image, tags_of(image).get(VERSION_TAG, self.shelf.version), self.options.instance_type
        )
        # One lookup for the whole class: a re-run touches only the students still missing.
        instances, groups = self.students.instances(), self.students.groups()
        outcomes: list[Outcome] = []
        columns = (TextColumn("[bold]Launching the class"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with (
            Progress(*columns, console=self.console, transient=True) as progress,
            ThreadPoolExecutor(self.options.concurrency) as pool,
        ):
            task = progress.add_task("launch", total=len(rows))
            futures = [
                pool.submit(self._one, row, spec, row.allow_cidr or default_cidr, instances, groups) for row in rows
            ]
            for future in as_completed(futures):
                outcomes.append(future.result())
                progress.advance(task)
        order = {row.student_id: row.line for row in rows}
        outcomes.sort(key=lambda outcome: order[outcome.student])
        if self.options.wait:
            self._wait_running([o.instance_id for o in outcomes if o.action in ("launched", "started")])
        self._fill_urls(outcomes)
        counts: dict[str, int] = {}
        for outcome in outcomes:
            counts[outcome.action] = counts.get(outcome.action, 0) + 1
        return FleetResult(outcomes, counts=counts)

    def _one(self, row: RosterRow, spec: LaunchSpec, cidr: str, instances: dict, groups: dict) -> Outcome:
        instance, group = instances.get(row.student_id), groups.get(row.student_id)
        for attempt in range(self.options.attempts):
            try:
                if attempt:
                    # What the last try made is found again rather than made twice.
                    instance = self.students.instances([row.student_id]).get(row.student_id)
                    group = self.students.groups([row.student_id]).get(row.student_id)
                return self.students.ensure(row.student_id, spec, cidr, email=row.email, instance=instance, group=group)
            except Exception as problem:  # one student's failure must not stop the class
                if not _passing(problem) or attempt == self.options.attempts - 1:
                    return Outcome(row.student_id, "failed", error=_one_line(problem))
                # Exponential backoff with jitter, so the threads do not all come back at once.
                self.sleep(min(30.0, 2.0**attempt) * (0.5 + random.random()))  # noqa: S311 - not for secrets
        return Outcome(row.student_id, "failed", error="gave up")

    def _wait_running(self, instance_ids: list[str]) -> None:
        if not instance_ids:
            return
        wanted = set(instance_ids)

        def pending() -> list[str]:
            found = self.students.instances().values()
            return [i["InstanceId"] for i in found if i["InstanceId"] in wanted and i["State"]["Name"] != "running"]

        Waiter(polling=self.options.polling, console=self.console).until(
            f"{len(instance_ids)} instance(s) starting",
            pending,
            lambda left: f"{len(left)} not running yet" if left else "all running",
            {"all running"},
        )

    def _fill_urls(self, outcomes: list[Outcome]) -> None:
        found = self.students.instances()
        for outcome in outcomes:
            instance = found.get(outcome.student)
            record = self.students.store.load(outcome.student)
            if instance is None or record is None:
                continue
            url = StudentInstances.url_of(instance)
            if url and url != record.url:
                record.url = url
                self.students.store.save(record)
            outcome.url = url or outcome.url

    def status(self, rows: list[RosterRow]) -> list[dict]:
        found = self.students.instances()
        table = []
        for row in rows:
            instance = found.get(row.student_id)
            record = self.students.store.load(row.student_id)
            table.append(
                {
                    "student_id": row.student_id,
                    "instance_id": instance["InstanceId"] if instance else "",
                    "state": instance["State"]["Name"] if instance else "none",
                    "url": StudentInstances.url_of(instance) if instance else "",
                    "fingerprint": record.fingerprint if record else "",
                }
            )
        return table

    def down(self, rows: list[RosterRow]) -> tuple[int, int]:
        """Terminate the roster's instances and delete their groups: (instances, groups) removed."""
        ids = {row.student_id for row in rows}
        instances = [i["InstanceId"] for student, i in self.students.instances().items() if student in ids]
        self.students.terminate(instances, self.options.polling)
        groups = [g["GroupId"] for student, g in self.students.groups().items() if student in ids]
        with ThreadPoolExecutor(self.options.concurrency) as pool:
            list(pool.map(lambda group_id: self.students.delete_group(group_id, self.options.polling), groups))
        for student in ids:
            self.students.store.forget(student)
        return len(instances), len(groups)

    def write_credentials(self, rows: list[RosterRow], path: Path) -> int:
        """student, URL and password of every student with an instance, in a file only its owner can read."""
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(descriptor, 0o600)
        written = 0
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(CREDENTIAL_COLUMNS)
            for row in rows:
                record = self.students.store.load(row.student_id)
                if record is None or not record.instance_id:
                    continue
                writer.writerow([row.student_id, row.email or record.email, record.url, record.password])
                written += 1
        return written
