"""The AWS stand-in as the tests see it: its endpoint and environment, a baked release AMI, the students' resources.

moto has no Debian images, so the stand-in starts with an AMI list holding two of Debian's (by owner and name, as
Debian publishes them; without creation dates, which moto 5.2 fails to load in a second region).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import boto3

from tm351vce.ami.aws import RECIPE_TAG, ROLE_TAG, VERSION_TAG, tag_list
from tm351vce.ami.base_ami import DEBIAN_OWNER
from tm351vce.shelf.catalogue import load_shelf

REGION = "eu-west-2"
REGISTRY = "registry.example.org/ou"
RECIPE = "jupyter"
OLD_DEBIAN = "ami-0deb1200000000001"
NEW_DEBIAN = "ami-0deb1200000000002"


def debian_ami(ami_id: str, date: str) -> dict:
    return {
        "ami_id": ami_id,
        "name": f"debian-12-amd64-{date.replace('-', '')}-1900",
        "description": "Debian 12 (bookworm)",
        "owner_id": DEBIAN_OWNER,
        "public": True,
        "virtualization_type": "hvm",
        "architecture": "x86_64",
        "state": "available",
        "root_device_type": "ebs",
        "root_device_name": "/dev/xvda",
        "sriov": "simple",
        "hypervisor": "xen",
    }


@dataclass
class Aws:
    endpoint: str
    env: dict[str, str]
    cache: Path  # the CLI's cache folder, holding the digests `push` recorded
    preexisting_snapshots: set[str] = field(default_factory=set)  # moto's own, behind its stock images

    @property
    def config(self) -> Path:
        """The CLI's config folder, where students' passwords are kept."""
        return Path(self.env["XDG_CONFIG_HOME"])

    def session(self, region: str = REGION) -> boto3.Session:
        credentials = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}  # moto's dummies
        return boto3.Session(region_name=region, **credentials)

    def ec2(self, region: str = REGION):
        return self.session(region).client("ec2")


def baked_ami(aws: Aws, recipe: str | None = None, version: str | None = None) -> str:
    """A release AMI as `bake` leaves it (made from a Debian instance, tagged), for launching students from; of the
    default recipe, which `up --provider aws` starts, unless another is named."""
    recipe = recipe or load_shelf().default_recipe.name
    client = aws.ec2()
    instance_id = client.run_instances(ImageId=NEW_DEBIAN, InstanceType="t3.micro", MinCount=1, MaxCount=1)[
        "Instances"
    ][0]["InstanceId"]
    tags = {ROLE_TAG: "release", RECIPE_TAG: recipe, VERSION_TAG: version or load_shelf().version}
    image_id = client.create_image(
        InstanceId=instance_id,
        Name=f"tm351-{recipe}-{time.monotonic_ns()}",
        TagSpecifications=[{"ResourceType": "image", "Tags": tag_list(tags)}],
    )["ImageId"]
    client.terminate_instances(InstanceIds=[instance_id])
    return image_id


def students_instances(aws: Aws) -> list[dict]:
    pages = (
        aws.ec2()
        .get_paginator("describe_instances")
        .paginate(Filters=[{"Name": f"tag:{ROLE_TAG}", "Values": ["student"]}])
    )
    return [
        i for page in pages for r in page["Reservations"] for i in r["Instances"] if i["State"]["Name"] != "terminated"
    ]


def student_groups(aws: Aws) -> list[dict]:
    pages = (
        aws.ec2()
        .get_paginator("describe_security_groups")
        .paginate(Filters=[{"Name": f"tag:{ROLE_TAG}", "Values": ["student"]}])
    )
    return [group for page in pages for group in page["SecurityGroups"]]


def ingress(group: dict) -> set[tuple[int, str]]:
    return {(p["FromPort"], r["CidrIp"]) for p in group["IpPermissions"] for r in p.get("IpRanges", [])}
