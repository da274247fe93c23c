"""Which Debian 12 AMI a bake starts from: an explicit id, Debian's public SSM parameter, or Debian's newest image."""

from __future__ import annotations

import re

import boto3
import botocore.exceptions

from tm351vce.ami.aws import ec2, image_or_none, ssm
from tm351vce.shelf.errors import UsageProblem

DEBIAN_SSM_PARAMETER = "/aws/service/debian/release/12/latest/amd64"
DEBIAN_OWNER = "136693071363"  # the Debian cloud team's AWS account
DEBIAN_NAME_PATTERN = "debian-12-amd64-*"
_AMI_ID = re.compile(r"^ami-[0-9a-f]{8,17}$")


def resolve_base_ami(session: boto3.Session, base_ami: str) -> dict:
    """The base image's description; `auto` looks it up, an id must exist in the session's region."""
    client = ec2(session)
    region = session.region_name
    if base_ami != "auto":
        if not _AMI_ID.match(base_ami):
            raise UsageProblem(f"--base-ami {base_ami!r} is not an AMI id: give ami-… or `auto` (Debian 12).")
        image = image_or_none(client, base_ami)
        if image is None:
            raise UsageProblem(
                f"--base-ami {base_ami} does not exist in {region}: give a Debian 12 amd64 AMI of that region, "
                "or `auto`."
            )
        return image
    image_id = _from_ssm(session)
    if image_id:
        images = client.describe_images(ImageIds=[image_id])["Images"]
        if images:
            return images[0]
    images = client.describe_images(
        Owners=[DEBIAN_OWNER],
        Filters=[
            {"Name": "name", "Values": [DEBIAN_NAME_PATTERN]},
            {"Name": "architecture", "Values": ["x86_64"]},
            {"Name": "state", "Values": ["available"]},
        ],
    )["Images"]
    if not images:
        raise UsageProblem(
            f"No Debian 12 amd64 AMI found in {region} (neither {DEBIAN_SSM_PARAMETER} nor Debian's images): "
            "give one with --base-ami ami-…."
        )
    # Debian's names carry the build date, which settles images registered at the same moment.
    return max(images, key=lambda image: (image.get("CreationDate", ""), image.get("Name", "")))


def _from_ssm(session: boto3.Session) -> str | None:
    try:
        return ssm(session).get_parameter(Name=DEBIAN_SSM_PARAMETER)["Parameter"]["Value"]
    except botocore.exceptions.ClientError:
        # Not published in this region, or no ssm:GetParameter permission: Debian's image list still answers.
        return None
