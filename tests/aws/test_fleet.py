"""A class against the AWS stand-in: one instance per roster row, launched several at a time, credentials kept
private, re-runs that launch only what is missing, a failing student that does not stop the others, and
`fleet down`. A class of 12 launched 4 at a time shows all of it; the full class of 300 runs under `-m slow`."""

from __future__ import annotations

import base64
import csv
import re
import stat
import threading
from pathlib import Path

import botocore.exceptions
import pytest
from rich.console import Console

from tests.helpers.aws import baked_ami, student_groups, students_instances
from tests.helpers.cli import run_cli
from tm351vce.ami.aws import STUDENT_TAG, tags_of
from tm351vce.ami.fleet import Fleet, FleetOptions
from tm351vce.ami.fleet_commands import fleet_up
from tm351vce.ami.roster import read_roster
from tm351vce.shelf.catalogue import load_shelf
from tm351vce.shelf.constants import DEFAULT_CONCURRENCY

SHELF = load_shelf()
CLASS_SIZE = 300
SMALL_CLASS = 12
SMALL_CONCURRENCY = 4
CIDR = "81.2.69.0/24"
# (students, --concurrency): a small class with fewer threads than students, and the full class at the default.
CLASSES = [
    pytest.param((SMALL_CLASS, SMALL_CONCURRENCY), id="12-students"),
    pytest.param((CLASS_SIZE, DEFAULT_CONCURRENCY), id="300-students", marks=pytest.mark.slow),
]


def write_roster(path: Path, size: int = CLASS_SIZE) -> Path:
    lines = ["student_id,email,allow_cidr"]
    lines += [f"s{n:03d},s{n:03d}@example.org," for n in range(size)]
    if size > 4:
        lines[5] = "s004,s004@example.org,81.2.70.0/24"  # one student connects from elsewhere
    path.write_text("\n".join(lines) + "\n")
    return path


def credentials_of(path: Path) -> list[dict]:
    with path.open(newline="") as file:
        return list(csv.DictReader(file))


@pytest.mark.parametrize("size_and_concurrency", CLASSES)
def test_a_class_gets_one_instance_each_once_and_fleet_down_removes_them(aws, tmp_path, size_and_concurrency):
    size, concurrency = size_and_concurrency
    baked_ami(aws)
    roster = write_roster(tmp_path / "roster.csv", size)
    credentials = tmp_path / "out" / "credentials.csv"
    up = ("fleet", "up", "--roster", str(roster), "--allow-cidr", CIDR, "--concurrency", str(concurrency))
    launched = run_cli(*up, "-o", str(credentials), env=aws.env)
    assert launched.returncode == 0, launched.stdout + launched.stderr
    assert "launched now" in launched.stdout and str(size) in launched.stdout
    assert re.search(rf"launched now\W+{size}\b", launched.stdout), launched.stdout

    instances = students_instances(aws)
    assert len(instances) == size
    assert {tags_of(i)[STUDENT_TAG] for i in instances} == {f"s{n:03d}" for n in range(size)}
    assert all(i["MetadataOptions"]["HttpTokens"] == "required" for i in instances)
    groups = {tags_of(g)[STUDENT_TAG]: g for g in student_groups(aws)}
    assert len(groups) == size
    assert {(p["FromPort"], r["CidrIp"]) for p in groups["s004"]["IpPermissions"] for r in p["IpRanges"]} == {
        (443, "81.2.70.0/24"),
        (80, "81.2.70.0/24"),
    }

    rows = credentials_of(credentials)
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert len(rows) == size
    assert all(row["url"].startswith("https://") and len(row["password"]) >= 16 for row in rows)
    assert len({row["password"] for row in rows}) == size  # each student has their own
    first = next(i for i in instances if tags_of(i)[STUDENT_TAG] == rows[0]["student_id"])
    attribute = aws.ec2().describe_instance_attribute(InstanceId=first["InstanceId"], Attribute="userData")
    assert rows[0]["password"] not in base64.b64decode(attribute["UserData"]["Value"]).decode()

    again = run_cli(*up, "-o", str(credentials), env=aws.env)
    assert again.returncode == 0, again.stderr
    assert "already running" in again.stdout
    assert re.search(rf"already running\W+{size}\b", again.stdout) and "launched now" not in again.stdout, again.stdout
    assert len(students_instances(aws)) == size
    assert {i["InstanceId"] for i in students_instances(aws)} == {i["InstanceId"] for i in instances}
    assert credentials_of(credentials) == rows  # the same passwords: nothing was launched again

    status = run_cli("fleet", "status", "--roster", str(roster), "--json", env=aws.env)
    assert status.returncode == 0, status.stderr
    assert status.stdout.count('"state": "running"') == size

    refused = run_cli("fleet", "down", "--roster", str(roster), env=aws.env)
    assert refused.returncode == 2 and "--yes" in refused.stderr
    removed = run_cli("fleet", "down", "--roster", str(roster), "--yes", env=aws.env)
    assert removed.returncode == 0, removed.stderr
    assert students_instances(aws) == [] and student_groups(aws) == []


def test_a_bad_roster_lists_every_bad_line_and_launches_nothing(aws, tmp_path):
    baked_ami(aws)
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "student_id,email,allow_cidr\n"
        "s001,a@example.org,\n"
        ",b@example.org,\n"  # line 3: empty id
        "s001,c@example.org,\n"  # line 4: duplicate
        "s002,d@example.org,10.0.0.0/33\n"  # line 5: bad CIDR
        "s 3,e@example.org,\n"  # line 6: not an id
    )
    result = run_cli("fleet", "up", "--roster", str(roster), "--allow-cidr", CIDR, env=aws.env)
    assert result.returncode == 2
    for line in ("line 3: empty student_id", "line 4: student_id s001 again", "line 5: allow_cidr", "line 6"):
        assert line in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert students_instances(aws) == [] and student_groups(aws) == []


def test_rows_without_a_network_need_allow_cidr(aws, tmp_path):
    baked_ami(aws)
    result = run_cli("fleet", "up", "--roster", str(write_roster(tmp_path / "r.csv", 3)), env=aws.env)
    assert result.returncode == 2 and "--allow-cidr" in result.stderr
    assert students_instances(aws) == []


@pytest.mark.parametrize("size_and_concurrency", CLASSES)
def test_one_failing_student_does_not_stop_the_class_and_a_re_run_completes_it(aws, tmp_path, size_and_concurrency):
    size, concurrency = size_and_concurrency
    failing = f"s{min(123, size // 2):03d}"
    baked_ami(aws)
    roster = write_roster(tmp_path / "roster.csv", size)
    credentials = tmp_path / "credentials.csv"
    session = aws.session()
    lock = threading.Lock()
    refused: list[str] = []

    def refuse_one(params: dict, **_: object) -> None:
        tags = {t["Key"]: t["Value"] for spec in params.get("TagSpecifications", []) for t in spec["Tags"]}
        if tags.get(STUDENT_TAG) == failing:
            with lock:
                refused.append(failing)
            raise botocore.exceptions.ClientError(
                {"Error": {"Code": "InsufficientInstanceCapacity", "Message": f"injected for {failing}"}},
                "RunInstances",
            )

    session.events.register("before-parameter-build.ec2.RunInstances", refuse_one)
    options = FleetOptions(allow_cidr=CIDR, concurrency=concurrency)
    quiet = Console(quiet=True)
    first = fleet_up(SHELF, SHELF.default_recipe, roster, None, options, credentials, quiet, session=session)
    assert [(o.student, o.action) for o in first.failures] == [(failing, "failed")], [
        (o.student, o.error) for o in first.failures
    ]
    assert f"injected for {failing}" in first.failures[0].error
    assert refused == [failing]  # not a throttle: not retried
    assert len(students_instances(aws)) == size - 1
    assert len(credentials_of(credentials)) == size - 1

    up = ("fleet", "up", "--roster", str(roster), "--allow-cidr", CIDR, "--concurrency", str(concurrency))
    result = run_cli(*up, "-o", str(credentials), env=aws.env)
    assert result.returncode == 0, result.stderr
    assert len(students_instances(aws)) == size
    assert len(credentials_of(credentials)) == size
    assert "launched now" in result.stdout and "already running" in result.stdout
    assert re.search(r"launched now\W+1\b", result.stdout) and re.search(
        rf"already running\W+{size - 1}\b", result.stdout
    )


def test_a_small_class_launches_several_at_once_retries_throttling_and_a_re_run_launches_nothing(aws, tmp_path):
    """Concurrency, retries and idempotence in one class of 12, 4 at a time, on the real fleet code."""
    baked_ami(aws)
    roster = write_roster(tmp_path / "roster.csv", SMALL_CLASS)
    session = aws.session()
    lock = threading.Lock()
    calls = {"in_flight": 0, "most_in_flight": 0, "launches": 0, "refused": 0}
    overlapped = threading.Event()

    def starting(**_: object) -> None:
        with lock:
            calls["launches"] += 1
            if calls["refused"] < 3:  # the first three are throttled, as AWS does under a burst
                calls["refused"] += 1
                raise botocore.exceptions.ClientError(
                    {"Error": {"Code": "RequestLimitExceeded", "Message": "Request limit exceeded."}}, "RunInstances"
                )
            calls["in_flight"] += 1
            calls["most_in_flight"] = max(calls["most_in_flight"], calls["in_flight"])
            if calls["in_flight"] > 1:
                overlapped.set()
        # A launch waits for a second one to begin, so one launch at a time cannot pass; 10 s bounds it if so.
        overlapped.wait(timeout=10)

    def finished(**_: object) -> None:
        with lock:
            calls["in_flight"] -= 1

    session.events.register("before-call.ec2.RunInstances", starting)
    session.events.register("after-call.ec2.RunInstances", finished)
    pauses: list[float] = []
    options = FleetOptions(allow_cidr=CIDR, concurrency=SMALL_CONCURRENCY, attempts=4, wait=False)
    shelf = load_shelf()
    fleet = Fleet(shelf, shelf.recipe(None), session, options, Console(quiet=True), pauses.append)
    result = fleet.up(read_roster(roster))
    assert result.failures == [], [(o.student, o.error) for o in result.failures]
    assert result.counts == {"launched": SMALL_CLASS}
    assert 1 < calls["most_in_flight"] <= SMALL_CONCURRENCY
    assert calls["refused"] == 3 and len(pauses) == 3  # each throttled launch paused, then tried again
    assert calls["launches"] == SMALL_CLASS + 3
    launched = {i["InstanceId"] for i in students_instances(aws)}
    assert len(launched) == SMALL_CLASS

    again = fleet.up(read_roster(roster))
    assert again.failures == [] and again.counts == {"running": SMALL_CLASS}
    assert calls["launches"] == SMALL_CLASS + 3  # the re-run called RunInstances not once
    assert {i["InstanceId"] for i in students_instances(aws)} == launched


PASSING_FAILURES = {
    "throttled": botocore.exceptions.ClientError(
        {"Error": {"Code": "RequestLimitExceeded", "Message": "Request limit exceeded."}}, "RunInstances"
    ),
    "aws-internal-error": botocore.exceptions.ClientError(
        {"Error": {"Code": "InternalError", "Message": "An internal error has occurred"}}, "RunInstances"
    ),
    "connection-lost": botocore.exceptions.EndpointConnectionError(endpoint_url="https://ec2.example"),
}


@pytest.mark.parametrize("failure", PASSING_FAILURES.values(), ids=PASSING_FAILURES.keys())
def test_passing_failures_are_retried_with_backoff(aws, tmp_path, failure):
    baked_ami(aws)
    roster = write_roster(tmp_path / "roster.csv", 5)
    session = aws.session()
    refused = {"count": 0}
    lock = threading.Lock()

    def refuse_twice(**_: object) -> None:
        with lock:
            refused["count"] += 1
            if refused["count"] > 2:
                return
        raise failure

    session.events.register("before-call.ec2.RunInstances", refuse_twice)
    pauses: list[float] = []
    options = FleetOptions(allow_cidr=CIDR, concurrency=1, attempts=4)
    shelf = load_shelf()
    fleet = Fleet(shelf, shelf.recipe(None), session, options, Console(quiet=True), pauses.append)
    result = fleet.up(read_roster(roster))
    assert result.failures == []
    assert len(students_instances(aws)) == 5
    assert refused["count"] == 7  # two refusals, each retried after a pause, then five launches
    assert len(pauses) == 2 and pauses[1] > pauses[0] / 3  # backoff: 1 s then 2 s, each with jitter of ±50 %


def test_a_group_made_by_a_try_whose_answer_was_lost_is_used_not_refused(aws, tmp_path):
    """EC2 groups take no idempotency token: a create retried after a lost answer meets the group it made."""
    baked_ami(aws)
    roster = write_roster(tmp_path / "roster.csv", 3)
    session = aws.session()
    lost: list[str] = []

    def lose_first_answer(response: object = None, **_: object) -> float | None:
        if response is not None and not lost:
            lost.append("answer")
            return 0  # botocore sends the same request again at once, as after a dropped connection
        return None

    session.events.register("needs-retry.ec2.CreateSecurityGroup", lose_first_answer)
    options = FleetOptions(allow_cidr=CIDR, concurrency=1)
    result = fleet_up(
        SHELF, SHELF.default_recipe, roster, None, options, tmp_path / "c.csv", Console(quiet=True), session=session
    )
    assert lost == ["answer"]
    assert result.failures == [], [(o.student, o.error) for o in result.failures]
    groups = {tags_of(g)[STUDENT_TAG]: g for g in student_groups(aws)}
    assert sorted(groups) == ["s000", "s001", "s002"]  # found by tag, so re-runs and `down` find it too
    assert {p["FromPort"] for p in groups["s000"]["IpPermissions"]} == {80, 443}
    assert len(students_instances(aws)) == 3
