"""An AWS stand-in: moto in server mode, in its own process, reached through boto3's usual AWS_ENDPOINT_URL.

moto has no Debian images, so the server starts with an AMI list holding two of Debian's (by owner and
name, as Debian publishes them; without creation dates, which moto 5.2 fails to load in a second region);
every wait it answers at once, so slowness is tested with injected clocks.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest
import requests

from tests.integration.conftest import free_port
from tm351vce.ami.base_ami import DEBIAN_OWNER
from tm351vce.shelf.catalogue import load_shelf

REGION = "eu-west-2"
REGISTRY = "registry.example.org/ou"
RECIPE = "jupyter"
OLD_DEBIAN = "ami-0deb1200000000001"
NEW_DEBIAN = "ami-0deb1200000000002"


def _debian_ami(ami_id: str, date: str) -> dict:
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


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("moto")
    amis = folder / "amis.json"
    amis.write_text(json.dumps([_debian_ami(OLD_DEBIAN, "2026-09-01"), _debian_ami(NEW_DEBIAN, "2026-11-01")]))
    port = free_port()
    with (folder / "moto.log").open("w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            env={"MOTO_AMIS_PATH": str(amis), "PATH": "/usr/bin:/bin"},
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(f"{endpoint}/moto-api/", timeout=1)
            break
        except requests.RequestException:
            time.sleep(0.1)
    try:
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def aws(moto_endpoint, tmp_path, monkeypatch) -> Aws:
    """The stand-in emptied for each test, so no test sees another's resources."""
    requests.post(f"{moto_endpoint}/moto-api/reset", timeout=10).raise_for_status()
    cache = tmp_path / "cache"
    (cache / "tm351").mkdir(parents=True)
    shelf = load_shelf()
    lock = {
        f"{REGISTRY}/tm351/{name}:{shelf.version}": f"{REGISTRY}/tm351/{name}:{shelf.version}@sha256:{index:064x}"
        for index, name in enumerate(shelf.apps)
    }
    (cache / "tm351" / "images.lock.json").write_text(json.dumps(lock))
    env = {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
        "XDG_CACHE_HOME": str(cache),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),  # where students' passwords are kept
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    stand_in = Aws(moto_endpoint, env, cache)
    for region in ("eu-west-2", "eu-west-1", "us-east-1"):
        snapshots = stand_in.ec2(region).describe_snapshots(OwnerIds=["self"])["Snapshots"]
        stand_in.preexisting_snapshots |= {snapshot["SnapshotId"] for snapshot in snapshots}
    return stand_in


def baked_ami(aws: Aws, recipe: str = RECIPE, version: str | None = None) -> str:
    """A release AMI as `bake` leaves it (made from a Debian instance, tagged), for launching students from."""
    from tm351vce.ami.aws import RECIPE_TAG, ROLE_TAG, VERSION_TAG, tag_list

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
