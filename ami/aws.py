"""AWS access through boto3's usual chain (profiles, environment, AWS_ENDPOINT_URL), and the EC2 chores bakes share."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import boto3
import botocore.exceptions
from botocore.config import Config

from tm351vce.shelf.errors import OperationFailed, UsageProblem

TAG_PREFIX = "tm351:"
ROLE_TAG = "tm351:role"
BAKE_TAG = "tm351:bake-id"
RECIPE_TAG = "tm351:recipe"
VERSION_TAG = "tm351:version"
REGIONS_TAG = "tm351:regions"
STUDENT_TAG = "tm351:student"
OWNER_TAG = "tm351:owner"
# Retries with backoff for throttling; the bake's own waits handle slowness.
_CLIENT_CONFIG = Config(retries={"max_attempts": 8, "mode": "standard"})

AwsError = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)
T = TypeVar("T")


def aws_session(region: str | None) -> boto3.Session:
    """A session with credentials and a region, or a usage problem saying how to configure them."""
    session = boto3.Session(region_name=region) if region else boto3.Session()
    try:
        credentials = session.get_credentials()
    except botocore.exceptions.BotoCoreError as problem:
        raise UsageProblem(
            f"AWS configuration is unreadable ({problem}); check ~/.aws/config and AWS_PROFILE."
        ) from None
    if credentials is None:
        raise UsageProblem(
            "No AWS credentials found: run `aws configure`, set AWS_PROFILE, or set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (and AWS_ENDPOINT_URL for a stand-in endpoint)."
        )
    if not session.region_name:
        raise UsageProblem("No AWS region chosen: give --region, or set AWS_DEFAULT_REGION or a profile's region.")
    return session


def ec2(session: boto3.Session, region: str | None = None):  # boto3 clients are generated classes
    return session.client("ec2", region_name=region or session.region_name, config=_CLIENT_CONFIG)


def ssm(session: boto3.Session, region: str | None = None):
    return session.client("ssm", region_name=region or session.region_name, config=_CLIENT_CONFIG)


def error_code(problem: botocore.exceptions.ClientError) -> str:
    return problem.response.get("Error", {}).get("Code", "")


def error_text(problem: BaseException) -> str:
    """One line from an AWS error: its code and message, without botocore's operation preamble."""
    if isinstance(problem, botocore.exceptions.ClientError):
        error = problem.response.get("Error", {})
        return f"{error.get('Code', 'Error')}: {error.get('Message', '')}".strip()
    return str(problem) or type(problem).__name__


def tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def tags_of(resource: dict) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in resource.get("Tags", [])}


def snapshots_of(image: dict) -> list[str]:
    return [
        mapping["Ebs"]["SnapshotId"]
        for mapping in image.get("BlockDeviceMappings", [])
        if mapping.get("Ebs", {}).get("SnapshotId")
    ]


def delete_image(client, image_id: str) -> list[str]:
    """Deregister an AMI and delete its snapshots; returns the snapshot ids deleted. A missing AMI is not an error.

    A pending AMI does not list its snapshots yet; EC2 names the AMI in their description, so they are found too.
    """
    try:
        images = client.describe_images(ImageIds=[image_id])["Images"]
    except botocore.exceptions.ClientError as problem:
        if "NotFound" in error_text(problem) or "Malformed" in error_text(problem):
            images = []
        else:
            raise
    snapshots = {snapshot for image in images for snapshot in snapshots_of(image)}
    described = client.describe_snapshots(
        OwnerIds=["self"], Filters=[{"Name": "description", "Values": [f"*{image_id}*"]}]
    )
    snapshots |= {snapshot["SnapshotId"] for snapshot in described["Snapshots"]}
    if images:
        client.deregister_image(ImageId=image_id)
    for snapshot in sorted(snapshots):
        client.delete_snapshot(SnapshotId=snapshot)
    return sorted(snapshots)


def console_text(client, instance_id: str) -> str:
    """The instance's console output so far ('' before EC2 publishes any)."""
    try:
        return client.get_console_output(InstanceId=instance_id, Latest=True).get("Output", "")
    except botocore.exceptions.ClientError:
        # Latest is for Nitro instances only; the buffered output still says how it ended.
        return client.get_console_output(InstanceId=instance_id).get("Output", "")


def delete_security_group(client, group_id: str, sleep: Callable[[float], None], interval_s: float) -> None:
    """Delete a group, waiting while EC2 still counts it as used by an instance that has just terminated."""
    attempts = 20
    for attempt in range(attempts):
        try:
            client.delete_security_group(GroupId=group_id)
            return
        except botocore.exceptions.ClientError as problem:
            if "NotFound" in error_text(problem):
                return
            if "DependencyViolation" not in error_text(problem) or attempt == attempts - 1:
                raise
            sleep(interval_s)


def calling_aws(call: Callable[[], T], doing: str) -> T:
    """Run AWS calls; a refusal becomes one line naming what was being done."""
    try:
        return call()
    except AwsError as problem:
        raise OperationFailed(f"AWS refused {doing}: {error_text(problem)}") from None


def image_or_none(client, image_id: str) -> dict | None:
    """The AMI's description, or None when the id names no AMI in the client's region."""
    try:
        images = client.describe_images(ImageIds=[image_id])["Images"]
    except botocore.exceptions.ClientError as problem:
        if "NotFound" not in error_text(problem) and "Malformed" not in error_text(problem):
            raise
        images = []
    return images[0] if images else None
