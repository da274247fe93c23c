"""Baking against the AWS stand-in: a full bake as the course team runs it, failures injected at every step
leaving nothing behind, timeouts on an injected clock, a dry run that changes nothing, and pruning."""

from __future__ import annotations

import base64
import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import botocore.exceptions
import pytest
from rich.console import Console

from tests.helpers.aws import NEW_DEBIAN, RECIPE, REGION, REGISTRY, Aws
from tests.helpers.cli import run_cli
from tm351vce.ami.aws import BAKE_TAG, ROLE_TAG, delete_image, tags_of
from tm351vce.ami.bake import Bake, BakeOptions, provisioning_outcome
from tm351vce.ami.steps import StepFailed
from tm351vce.ami.waiting import Clock, Polling
from tm351vce.shelf.catalogue import SHELF_PATH, load_shelf
from tm351vce.shelf.errors import UsageProblem

COPY_REGIONS = ("eu-west-1", "us-east-1")
ALL_REGIONS = (REGION, *COPY_REGIONS)


class FakeClock(Clock):
    """Time that passes only when the bake sleeps; `on_sleep` is what happens meanwhile (the machine powering off)."""

    def __init__(self, on_sleep=lambda: None) -> None:
        self.t = 0.0
        self.sleeps = 0
        self.on_sleep = on_sleep
        super().__init__(now=lambda: self.t, sleep=self._sleep)

    def _sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.t += seconds
        self.on_sleep()


def power_off_bake_instances(aws: Aws) -> None:
    """What the user-data does at the end of provisioning: the bake instance stops itself."""
    client = aws.ec2()
    running = client.describe_instances(
        Filters=[
            {"Name": f"tag:{ROLE_TAG}", "Values": ["bake"]},
            {"Name": "instance-state-name", "Values": ["running", "pending"]},
        ]
    )["Reservations"]
    ids = [instance["InstanceId"] for reservation in running for instance in reservation["Instances"]]
    if ids:
        client.stop_instances(InstanceIds=ids)


def new_bake(aws: Aws, tmp_path: Path, clock: Clock, started: datetime | None = None, **options) -> Bake:
    shelf = load_shelf()
    settings = {
        "recipe": shelf.recipe(RECIPE),
        "registry": REGISTRY,
        "polling": Polling(interval_s=15, timeout_s=1800),
        "manifest": tmp_path / "manifest.json",
        **options,
    }
    quiet = Console(quiet=True)
    return Bake(shelf, BakeOptions(**settings), aws.session(), clock=clock, console=quiet, started=started)


def leftovers(aws: Aws) -> list[str]:
    """Anything a bake made that is still there: instances not terminated, its groups, AMIs or snapshots."""
    found = []
    for region in ALL_REGIONS:
        client = aws.ec2(region)
        for reservation in client.describe_instances()["Reservations"]:
            for instance in reservation["Instances"]:
                if instance["State"]["Name"] != "terminated":
                    found.append(f"{region} instance {instance['InstanceId']} {instance['State']['Name']}")
        for group in client.describe_security_groups()["SecurityGroups"]:
            if group["GroupName"].startswith("tm351-bake-"):
                found.append(f"{region} security group {group['GroupId']}")
        found += [f"{region} AMI {image['ImageId']}" for image in client.describe_images(Owners=["self"])["Images"]]
        found += [
            f"{region} snapshot {snapshot['SnapshotId']}"
            for snapshot in client.describe_snapshots(OwnerIds=["self"])["Snapshots"]
            if snapshot["SnapshotId"] not in aws.preexisting_snapshots
        ]
    return found


def fail_on(bake: Bake, operation: str, *, after: bool = False, calls_before: int = 0) -> None:
    """Make an EC2 operation fail (before it acts, or after it acted with its answer lost), on every client."""
    seen = {"count": 0}
    lock = threading.Lock()

    def boom(**_: object) -> None:
        with lock:
            seen["count"] += 1
            if seen["count"] <= calls_before:
                return
        raise botocore.exceptions.ClientError(
            {"Error": {"Code": "InjectedFailure", "Message": f"{operation} failed on purpose"}}, operation
        )

    event = f"{'after' if after else 'before'}-call.ec2.{operation}"
    # Clients copy the session's hooks when made: the bake's own client, and the ones it makes later.
    bake.session.events.register(event, boom)
    bake.client.meta.events.register(event, boom)


# -- a whole bake, as the course team runs it -------------------------------------------------------------


def test_a_full_bake_from_the_command_line_gives_a_tagged_shared_ami_in_each_region(aws, tmp_path):
    manifest_path = tmp_path / "release.json"
    stopper_done = threading.Event()

    def stop_when_launched() -> None:
        # The instance's own poweroff at the end of provisioning, simulated from outside.
        while not stopper_done.wait(0.2):
            power_off_bake_instances(aws)

    stopper = threading.Thread(target=stop_when_launched, daemon=True)
    stopper.start()
    try:
        baked = run_cli(
            "bake", RECIPE, "--registry", REGISTRY, "--copy-to", COPY_REGIONS[0], "--copy-to", COPY_REGIONS[1],
            "--share", "all", "--poll", "0.5", "--manifest", str(manifest_path), env=aws.env, timeout=300,
        )  # fmt: skip
    finally:
        stopper_done.set()
        stopper.join()
    assert baked.returncode == 0, baked.stdout + baked.stderr

    manifest = json.loads(manifest_path.read_text())
    shelf = load_shelf()
    assert set(manifest["amis"]) == set(ALL_REGIONS)
    assert manifest["recipe"] == RECIPE and manifest["version"] == shelf.version
    assert manifest["base_ami"]["id"] == NEW_DEBIAN  # the newest of Debian's images
    assert set(manifest["images"]) == set(shelf.recipe(RECIPE).apps)
    assert all("@sha256:" in reference for reference in manifest["images"].values())
    assert manifest["shared_with"] == ["all"]
    assert "create the image" in manifest["timings_s"]
    for region, image_id in manifest["amis"].items():
        client = aws.ec2(region)
        (image,) = client.describe_images(ImageIds=[image_id])["Images"]
        assert image["State"] == "available"
        assert image["Name"] == manifest["name"]
        assert image["Name"].startswith(f"tm351-{RECIPE}-{shelf.version}-")
        tags = tags_of(image)
        assert (tags[ROLE_TAG], tags["tm351:recipe"], tags["tm351:version"]) == ("release", RECIPE, shelf.version)
        permissions = client.describe_image_attribute(ImageId=image_id, Attribute="launchPermission")
        assert {"Group": "all"} in permissions["LaunchPermissions"]
        snapshots = [mapping["Ebs"]["SnapshotId"] for mapping in image["BlockDeviceMappings"] if "Ebs" in mapping]
        for snapshot in client.describe_snapshots(SnapshotIds=snapshots)["Snapshots"]:
            assert tags_of(snapshot)[ROLE_TAG] == "release"
        assert image_id in baked.stdout
    # The temporary machine and group are gone; only the AMIs and their snapshots remain.
    assert [item for item in leftovers(aws) if " AMI " not in item and " snapshot " not in item] == []


def test_the_bake_instance_is_locked_down_and_provisions_from_the_image_user_data(aws, tmp_path):
    seen: dict = {}

    def look_then_power_off() -> None:
        client = aws.ec2()
        for reservation in client.describe_instances()["Reservations"]:
            for instance in reservation["Instances"]:
                seen.setdefault("instance", instance)
                seen.setdefault(
                    "user_data",
                    client.describe_instance_attribute(InstanceId=instance["InstanceId"], Attribute="userData"),
                )
        groups = client.describe_security_groups()["SecurityGroups"]
        (group,) = [group for group in groups if group["GroupName"].startswith("tm351")]
        seen.setdefault("group", group)
        power_off_bake_instances(aws)

    new_bake(aws, tmp_path, FakeClock(look_then_power_off)).run()
    instance = seen["instance"]
    assert instance["MetadataOptions"]["HttpTokens"] == "required"
    assert instance["InstanceType"] == "t3.micro"
    assert tags_of(instance)[ROLE_TAG] == "bake"
    assert seen["group"]["IpPermissions"] == []  # no SSH, nothing inbound
    user_data = base64.b64decode(seen["user_data"]["UserData"]["Value"]).decode()
    assert user_data.startswith("#cloud-config")
    assert "power_state" in user_data


# -- failures at each step leave nothing ------------------------------------------------------------------


def test_an_unknown_base_ami_is_refused_before_anything_is_made(aws, tmp_path):
    bake = new_bake(aws, tmp_path, FakeClock(), base_ami="ami-0000000000000dead")
    with pytest.raises(UsageProblem, match="does not exist"):
        bake.run()
    assert leftovers(aws) == []
    result = run_cli("bake", RECIPE, "--registry", REGISTRY, "--base-ami", "ami-0000000000000dead", env=aws.env)
    assert result.returncode == 2
    assert "ami-0000000000000dead does not exist in eu-west-2" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("operation", "after", "step"),
    [
        ("CreateSecurityGroup", True, "create a temporary security group"),
        ("RunInstances", False, "launch the bake instance"),
        ("RunInstances", True, "launch the bake instance"),  # launched, but the answer was lost
        ("CreateImage", False, "create the image"),
        ("CreateImage", True, "create the image"),  # the AMI exists, its id never arrived
        ("ModifyImageAttribute", False, "wait until the image is available"),
        ("CreateTags", False, "tag the image and its snapshots"),
        ("CopyImage", False, "copy the image to other regions"),
        ("CopyImage", True, "copy the image to other regions"),
    ],
)
def test_a_failure_at_any_step_undoes_everything_the_bake_made(aws, tmp_path, operation, after, step):
    bake = new_bake(aws, tmp_path, FakeClock(lambda: power_off_bake_instances(aws)), copy_to=COPY_REGIONS)
    fail_on(bake, operation, after=after)
    with pytest.raises(StepFailed) as failure:
        bake.run()
    assert failure.value.step == step
    assert "InjectedFailure" in str(failure.value)
    assert leftovers(aws) == []
    assert not (tmp_path / "manifest.json").exists()


def test_a_copy_failing_in_one_region_removes_the_copy_that_succeeded(aws, tmp_path):
    bake = new_bake(aws, tmp_path, FakeClock(lambda: power_off_bake_instances(aws)), copy_to=COPY_REGIONS)
    fail_on(bake, "CopyImage", calls_before=1)
    with pytest.raises(StepFailed, match="copy the image"):
        bake.run()
    assert leftovers(aws) == []


def test_a_share_failure_after_copies_removes_them_in_every_region(aws, tmp_path):
    bake = new_bake(
        aws, tmp_path, FakeClock(lambda: power_off_bake_instances(aws)), copy_to=COPY_REGIONS, share=("all",)
    )
    fail_on(bake, "ModifyImageAttribute", calls_before=len(ALL_REGIONS))  # IMDSv2 flags pass, sharing fails
    with pytest.raises(StepFailed, match="share the image"):
        bake.run()
    assert leftovers(aws) == []


def test_provisioning_that_never_ends_times_out_on_the_clock_and_cleans_up(aws, tmp_path):
    clock = FakeClock()  # nobody powers the instance off
    bake = new_bake(aws, tmp_path, clock, polling=Polling(interval_s=30, timeout_s=1200))
    with pytest.raises(StepFailed) as failure:
        bake.run()
    assert failure.value.step == "wait for provisioning (the instance powers itself off)"
    assert "still running after 20:00" in str(failure.value)
    assert "--timeout" in str(failure.value)
    assert clock.t == pytest.approx(1200, abs=30)
    assert leftovers(aws) == []


def test_ctrl_c_during_a_wait_undoes_everything(aws, tmp_path):
    def interrupt() -> None:
        raise KeyboardInterrupt

    bake = new_bake(aws, tmp_path, FakeClock(interrupt))
    with pytest.raises(StepFailed, match="interrupted"):
        bake.run()
    assert leftovers(aws) == []


def test_keep_on_error_leaves_the_machine_for_inspection(aws, tmp_path):
    bake = new_bake(aws, tmp_path, FakeClock(lambda: power_off_bake_instances(aws)), keep_on_error=True)
    fail_on(bake, "CreateImage")
    with pytest.raises(StepFailed):
        bake.run()
    assert any(" instance " in item for item in leftovers(aws))


def test_a_failed_provisioning_on_the_console_stops_the_bake_and_cleans_up(aws, tmp_path):
    """The machine stays up when provisioning fails (its power_state has a condition); the bake reads why."""
    bake = new_bake(aws, tmp_path, FakeClock())

    def console_of_a_failed_machine(parsed: dict, **_: object) -> None:
        # moto's console is canned text; this is the line provision.sh prints when a step fails.
        parsed["Output"] = "TM351-PROVISION: FAILED at step 'fetching the images' (exit 1); details: journalctl\n"

    bake.client.meta.events.register("after-call.ec2.GetConsoleOutput", console_of_a_failed_machine)
    with pytest.raises(StepFailed) as failure:
        bake.run()
    assert failure.value.step == "wait for provisioning (the instance powers itself off)"
    assert "FAILED at step 'fetching the images'" in str(failure.value)
    assert leftovers(aws) == []


def test_the_console_verdict_is_the_last_provisioning_line():
    console = (
        "Booting\nTM351-PROVISION: starting: recipe jupyter\n"
        "TM351-PROVISION: FAILED at step 'fetching the images' (exit 1)\n"
    )
    assert provisioning_outcome(console) == "FAILED at step 'fetching the images' (exit 1)"
    assert provisioning_outcome("TM351-PROVISION: OK: recipe jupyter 0.1.0 is ready for imaging").startswith("OK")
    assert provisioning_outcome("no line from us here") == ""


# -- dry run, input checks, credentials ------------------------------------------------------------------


def test_a_dry_run_only_reads(aws, tmp_path):
    calls: list[str] = []
    bake = new_bake(aws, tmp_path, FakeClock(), copy_to=COPY_REGIONS, share=("123456789012",))
    record = lambda model, **_: calls.append(model.name)  # noqa: E731
    bake.session.events.register("before-call.*.*", record)
    bake.client.meta.events.register("before-call.*.*", record)
    bake.resolve_base()
    plan = bake.plan()
    assert calls and all(name.startswith(("Describe", "Get")) for name in calls), calls
    assert len(plan) == 11
    assert any("eu-west-1, us-east-1" in line for line in plan)

    result = run_cli("bake", RECIPE, "--registry", REGISTRY, "--copy-to", "us-east-1", "--dry-run", env=aws.env)
    assert result.returncode == 0, result.stderr
    assert "nothing is created" in result.stdout
    assert "launch the bake instance" in result.stdout
    assert leftovers(aws) == []


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--copy-to", "mars-1"], "not an AWS region"),
        (["--copy-to", REGION], "the region the bake runs in"),
        (["--share", "everyone"], "12-digit AWS account id"),
        (["--base-ami", "debian"], "not an AMI id"),
        (["--timeout", "0"], "positive"),
    ],
)
def test_bad_options_are_refused_with_the_fix(aws, arguments, message):
    result = run_cli("bake", RECIPE, "--registry", REGISTRY, *arguments, env=aws.env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_bake_needs_a_registry_and_pushed_images(aws, tmp_path):
    missing = run_cli("bake", RECIPE, env=aws.env)
    assert missing.returncode == 2
    assert "--registry" in missing.stderr
    unpushed = run_cli("bake", RECIPE, "--registry", "other.example.org/ou", env=aws.env)
    assert unpushed.returncode == 2
    assert "push it first" in unpushed.stderr


def test_bake_with_course_data_refuses_images_that_were_not_built_and_pushed_with_it(aws, tmp_path):
    """The AMI pulls the pushed images: the course data must be in them, or the instances would not have it."""
    course = SHELF_PATH.parent / "course-data-example"
    result = run_cli("bake", RECIPE, "--registry", REGISTRY, "--course-data", str(course), env=aws.env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "image pushed to" in result.stderr and f"build --course-data {course}" in result.stderr
    assert "Traceback" not in result.stderr
    bad = tmp_path / "bad"
    (bad / "stray").mkdir(parents=True)
    refused = run_cli("bake", RECIPE, "--registry", REGISTRY, "--course-data", str(bad), env=aws.env)
    assert refused.returncode == 2 and "stray is not one of its folders" in refused.stderr


def test_missing_credentials_say_how_to_configure_them(aws, tmp_path):
    env = {
        **aws.env,
        "AWS_ACCESS_KEY_ID": "",
        "AWS_SECRET_ACCESS_KEY": "",
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
    }
    result = run_cli("bake", RECIPE, "--registry", REGISTRY, env=env)
    assert result.returncode == 2
    assert "No AWS credentials found: run `aws configure`" in result.stderr


# -- retention -------------------------------------------------------------------------------------------


def test_prune_keeps_the_newest_and_removes_the_rest_in_every_region(aws, tmp_path):
    baked = []
    for day in (1, 2, 3):
        bake = new_bake(
            aws,
            tmp_path,
            FakeClock(lambda: power_off_bake_instances(aws)),
            started=datetime(2026, 11, day, 12, 0, tzinfo=UTC),
            copy_to=(COPY_REGIONS[0],),
            manifest=tmp_path / f"m{day}.json",
        )
        baked.append(bake.run().amis)
    listed = run_cli("amis", "list", "--json", env=aws.env)
    assert listed.returncode == 0, listed.stderr
    releases = json.loads(listed.stdout)
    assert [release["image_id"] for release in releases] == [amis[REGION] for amis in reversed(baked)]
    assert releases[0]["regions"] == [REGION, COPY_REGIONS[0]]

    refused = run_cli("amis", "prune", "--keep", "1", env=aws.env)
    assert refused.returncode == 2
    assert "add --yes" in refused.stderr

    pruned = run_cli("amis", "prune", "--keep", "1", "--yes", env=aws.env)
    assert pruned.returncode == 0, pruned.stderr
    for region in (REGION, COPY_REGIONS[0]):
        client = aws.ec2(region)
        remaining = [image["ImageId"] for image in client.describe_images(Owners=["self"])["Images"]]
        assert remaining == [baked[-1][region]]
        snapshots = [
            snapshot
            for snapshot in client.describe_snapshots(OwnerIds=["self"])["Snapshots"]
            if snapshot["SnapshotId"] not in aws.preexisting_snapshots
        ]
        assert {tags_of(snapshot).get(BAKE_TAG) for snapshot in snapshots} == {
            tags_of(client.describe_images(ImageIds=remaining)["Images"][0])[BAKE_TAG]
        }


def test_snapshots_of_an_image_still_pending_are_found_by_their_description(aws):
    """A pending AMI lists no snapshots yet; EC2 names the AMI in their description, and that is enough."""
    client = aws.ec2()
    volume = client.create_volume(AvailabilityZone=f"{REGION}a", Size=8)["VolumeId"]
    orphan = client.create_snapshot(
        VolumeId=volume, Description="Created by CreateImage(i-0123456789abcdef0) for ami-0123456789abcdef0"
    )["SnapshotId"]
    assert delete_image(client, "ami-0123456789abcdef0") == [orphan]
    assert orphan not in {
        snapshot["SnapshotId"] for snapshot in client.describe_snapshots(OwnerIds=["self"])["Snapshots"]
    }
