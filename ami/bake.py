"""Bake a release AMI: boot Debian 12 with provision/'s user-data, image the machine once it powers itself off.

No SSH and no IAM role: the user-data powers the machine off only when provisioning succeeded, so a
`stopped` instance is the signal, and its console's TM351-PROVISION line says why when it did not.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import boto3
from rich.console import Console

from tm351vce.ami.aws import (
    BAKE_TAG,
    RECIPE_TAG,
    REGIONS_TAG,
    ROLE_TAG,
    VERSION_TAG,
    console_text,
    delete_image,
    delete_security_group,
    ec2,
    snapshots_of,
    tag_list,
)
from tm351vce.ami.base_ami import resolve_base_ami
from tm351vce.ami.steps import Step, StepResult, run_steps
from tm351vce.ami.waiting import Clock, Polling, Waiter
from tm351vce.provision.bundle import host_settings
from tm351vce.provision.cloud_init import USER_DATA_LIMIT, host_user_data
from tm351vce.shelf.catalogue import Recipe, Shelf
from tm351vce.shelf.constants import DEFAULT_INSTANCE_TYPE
from tm351vce.shelf.errors import UsageProblem

ROOT_VOLUME_GIB = 16  # the engine, the recipe's images and room for an upgrade
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_ACCOUNT = re.compile(r"^\d{12}$")
_PROVISION_LINE = re.compile(r"TM351-PROVISION: (OK|FAILED)(.*)")
_NOTHING = "creates nothing"
_IMAGE_FAILED = frozenset({"failed", "error", "invalid", "deregistered"})


@dataclass(frozen=True)
class BakeOptions:
    recipe: Recipe
    registry: str | None
    registry_ca: Path | None = None
    base_ami: str = "auto"
    instance_type: str = DEFAULT_INSTANCE_TYPE
    copy_to: tuple[str, ...] = ()
    share: tuple[str, ...] = ()
    name: str | None = None
    polling: Polling = field(default_factory=Polling)
    manifest: Path | None = None
    keep_on_error: bool = False


@dataclass
class Baked:
    """What a bake made; its steps fill it in, and cleanups read it to know what to undo."""

    bake_id: str
    base_image: dict | None = None
    group_id: str | None = None
    instance_id: str | None = None
    image_name: str = ""
    amis: dict[str, str] = field(default_factory=dict)  # region -> AMI id, source region first
    provisioning: str = ""
    manifest: Path | None = None


def check_options(session_region: str, options: BakeOptions) -> None:
    """Bad input is refused before anything is created."""
    if not options.registry:
        raise UsageProblem(
            "bake needs --registry: the instance pulls the images by digest; push them first with "
            "`python3 tasks.py push --registry HOST[:PORT]/NAMESPACE`."
        )
    for region in options.copy_to:
        if not _REGION.match(region):
            raise UsageProblem(f"--copy-to {region!r} is not an AWS region name: give one like eu-west-1.")
        if region == session_region:
            raise UsageProblem(f"--copy-to {region} is the region the bake runs in: its AMI is made there anyway.")
    for target in options.share:
        if target != "all" and not _ACCOUNT.match(target):
            raise UsageProblem(f"--share {target!r}: give `all` (public) or a 12-digit AWS account id.")
    if options.polling.timeout_s <= 0 or options.polling.interval_s <= 0:
        raise UsageProblem("--timeout and --poll must be positive numbers of seconds.")


def default_manifest(image_name: str) -> Path:
    return Path(f"{image_name}.manifest.json")


class Bake:
    def __init__(
        self,
        shelf: Shelf,
        options: BakeOptions,
        session: boto3.Session,
        clock: Clock | None = None,
        console: Console | None = None,
        started: datetime | None = None,
    ) -> None:
        self.shelf = shelf
        self.options = options
        self.session = session
        self.region: str = session.region_name
        self.clock = clock or Clock()
        self.console = console or Console(stderr=True, soft_wrap=True)
        self.waiter = Waiter(self.clock, options.polling, self.console)
        self.state = Baked(bake_id=uuid.uuid4().hex[:12])
        self.result = StepResult()
        self.started = started or datetime.now(UTC)
        check_options(self.region, options)
        settings = host_settings(shelf, options.recipe, options.registry, options.registry_ca, for_image=True)
        self.images = settings.images or {}
        self.user_data = host_user_data(shelf, options.recipe, settings, power_off=True)
        if len(self.user_data.encode()) > USER_DATA_LIMIT:
            raise UsageProblem(f"The user-data of {options.recipe.name} exceeds EC2's 16 KiB: use a smaller recipe.")
        name = options.name or f"tm351-{options.recipe.name}-{shelf.version}"
        self.state.image_name = f"{name}-{self.started:%Y%m%d-%H%M%S}"
        self.client = ec2(session)

    # -- the plan ---------------------------------------------------------------------------------------

    def steps(self) -> list[Step]:
        o, s = self.options, self.state
        regions = [self.region, *o.copy_to]
        base = s.base_image
        base_plan = f"{base['ImageId']} ({base.get('Name', 'unnamed')})" if base else f"{o.base_ami} in {self.region}"
        return [
            Step("resolve the base AMI", self.resolve_base, plan=base_plan),
            Step(
                "create a temporary security group",
                self.create_group,
                self.delete_group,
                plan=f"security group tm351-bake-{s.bake_id}, no inbound rules",
            ),
            Step(
                "launch the bake instance",
                self.launch,
                self.terminate,
                plan=f"{o.instance_type} instance with the {o.recipe.name} user-data, IMDSv2 required",
            ),
            Step("wait for provisioning (the instance powers itself off)", self.wait_provisioned, plan=_NOTHING),
            Step("create the image", self.create_image, self.delete_images, plan=f"AMI {s.image_name}"),
            Step("wait until the image is available", self.wait_image, plan="creates nothing; requires IMDSv2"),
            Step("tag the image and its snapshots", self.tag_source, plan="tags on the AMI and its snapshots"),
            Step(
                "copy the image to other regions",
                self.copy,
                self.delete_images,
                plan=f"copies in {', '.join(o.copy_to)}" if o.copy_to else f"{_NOTHING} (no --copy-to)",
            ),
            Step(
                "share the image",
                self.share,
                plan=f"launch permission for {', '.join(o.share)} in {', '.join(regions)}" if o.share else _NOTHING,
            ),
            Step("write the manifest", self.write_manifest, self.delete_manifest, plan=str(self.manifest_path)),
            Step(
                "terminate the instance and delete the security group",
                self.remove_temporaries,
                plan="removes the instance and the security group",
            ),
        ]

    def run(self) -> Baked:
        run_steps(
            self.steps(),
            keep_on_error=self.options.keep_on_error,
            clock=self.clock,
            console=self.console,
            result=self.result,
        )
        return self.state

    def plan(self) -> list[str]:
        """Each step and what it would create; nothing is called that changes anything."""
        return [f"{number}. {step.name}: {step.plan}" for number, step in enumerate(self.steps(), start=1)]

    @property
    def manifest_path(self) -> Path:
        return self.options.manifest or default_manifest(self.state.image_name)

    def tags(self, role: str) -> dict[str, str]:
        return {
            "Name": self.state.image_name,
            ROLE_TAG: role,
            BAKE_TAG: self.state.bake_id,
            RECIPE_TAG: self.options.recipe.name,
            VERSION_TAG: self.shelf.version,
        }

    # -- steps ------------------------------------------------------------------------------------------

    def resolve_base(self) -> None:
        self.state.base_image = resolve_base_ami(self.session, self.options.base_ami)
        image = self.state.base_image
        self.console.print(f"  base: {image['ImageId']} ({image.get('Name', 'unnamed')})", highlight=False)

    def create_group(self) -> None:
        response = self.client.create_security_group(
            GroupName=f"tm351-bake-{self.state.bake_id}",
            Description="TM351 bake: no inbound rules (provisioning runs from user-data)",
            TagSpecifications=[{"ResourceType": "security-group", "Tags": tag_list(self.tags("bake"))}],
        )
        self.state.group_id = response["GroupId"]

    def delete_group(self) -> None:
        for group_id in self._found("describe_security_groups", "SecurityGroups", "GroupId", self.state.group_id):
            delete_security_group(self.client, group_id, self.clock.sleep, self.options.polling.interval_s)
        self.state.group_id = None

    def launch(self) -> None:
        base = self.state.base_image or {}
        response = self.client.run_instances(
            ImageId=base["ImageId"],
            InstanceType=self.options.instance_type,
            MinCount=1,
            MaxCount=1,
            UserData=self.user_data,
            SecurityGroupIds=[self.state.group_id],
            # Hop limit 1: the containers on the machine cannot reach the metadata service.
            MetadataOptions={"HttpTokens": "required", "HttpEndpoint": "enabled", "HttpPutResponseHopLimit": 1},
            InstanceInitiatedShutdownBehavior="stop",
            BlockDeviceMappings=[
                {
                    "DeviceName": base.get("RootDeviceName", "/dev/xvda"),
                    "Ebs": {"VolumeSize": ROOT_VOLUME_GIB, "VolumeType": "gp3", "DeleteOnTermination": True},
                }
            ],
            ClientToken=self.state.bake_id,
            TagSpecifications=[
                {"ResourceType": "instance", "Tags": tag_list(self.tags("bake"))},
                {"ResourceType": "volume", "Tags": tag_list(self.tags("bake"))},
            ],
        )
        self.state.instance_id = response["Instances"][0]["InstanceId"]
        self.console.print(f"  instance: {self.state.instance_id}", highlight=False)

    def terminate(self) -> None:
        found = self._found("describe_instances", "Reservations", "InstanceId", self.state.instance_id)
        if not found:
            return
        self.client.terminate_instances(InstanceIds=found)
        cleanup_wait = Waiter(self.clock, Polling(self.options.polling.interval_s, 900), self.console)
        for instance_id in found:
            cleanup_wait.until(
                f"Terminating {instance_id}", lambda i=instance_id: self._instance(i), _instance_state, {"terminated"}
            )
        self.state.instance_id = None

    def wait_provisioned(self) -> None:
        instance_id = self.state.instance_id

        def look() -> dict:
            instance = self._instance(instance_id)
            if instance["State"]["Name"] == "running":
                outcome = self._console_outcome(instance_id)
                if outcome.startswith("FAILED"):
                    raise RuntimeError(f"provisioning reported {outcome} (console of {instance_id})")
            return instance

        self.waiter.until(
            f"Provisioning {instance_id}", look, _instance_state, {"stopped"}, {"terminated", "shutting-down"}
        )
        outcome = self._console_outcome(instance_id)
        if outcome.startswith("FAILED"):
            raise RuntimeError(f"provisioning reported {outcome} (console of {instance_id})")
        self.state.provisioning = outcome or "stopped by itself (the console output is not published yet)"
        self.console.print(f"  provisioning: {self.state.provisioning}", highlight=False)

    def create_image(self) -> None:
        response = self.client.create_image(
            InstanceId=self.state.instance_id,
            Name=self.state.image_name,
            Description=f"TM351 {self.options.recipe.name} {self.shelf.version} on Debian 12",
            TagSpecifications=[{"ResourceType": "image", "Tags": tag_list(self.tags("release"))}],
        )
        self.state.amis[self.region] = response["ImageId"]
        self.console.print(f"  image: {response['ImageId']} ({self.state.image_name})", highlight=False)

    def delete_images(self) -> None:
        """Every AMI this bake made, in every region (found by tag too, for calls whose answer was lost)."""
        for region in [self.region, *self.options.copy_to]:
            client = ec2(self.session, region)
            known = self.state.amis.get(region)
            found = {known} if known else set()
            # By tag, and by its unique name: a copy whose answer was lost is not tagged yet.
            for mine in ({"Name": f"tag:{BAKE_TAG}", "Values": [self.state.bake_id]},
                         {"Name": "name", "Values": [self.state.image_name]}):  # fmt: skip
                found |= {
                    image["ImageId"] for image in client.describe_images(Owners=["self"], Filters=[mine])["Images"]
                }
            for image_id in found:
                delete_image(client, image_id)
            self.state.amis.pop(region, None)

    def wait_image(self) -> None:
        image_id = self.state.amis[self.region]
        self.waiter.until(
            f"Image {image_id} in {self.region}",
            lambda: self._image(self.client, image_id),
            _image_state,
            {"available"},
            _IMAGE_FAILED,
        )
        # Launches of this AMI require IMDSv2, as the bake instance did.
        self.client.modify_image_attribute(ImageId=image_id, ImdsSupport={"Value": "v2.0"})

    def tag_source(self) -> None:
        self._tag_with_snapshots(self.client, self.state.amis[self.region])

    def copy(self) -> None:
        """Start every copy first (AWS copies them in parallel), then wait for each and finish it."""
        if not self.options.copy_to:
            return
        source = self.state.amis[self.region]
        for region in self.options.copy_to:
            response = ec2(self.session, region).copy_image(
                SourceImageId=source,
                SourceRegion=self.region,
                Name=self.state.image_name,
                Description=f"TM351 {self.options.recipe.name} {self.shelf.version} on Debian 12",
                ClientToken=f"{self.state.bake_id}-{region}",
            )
            self.state.amis[region] = response["ImageId"]
        for region in self.options.copy_to:
            client, image_id = ec2(self.session, region), self.state.amis[region]
            client.create_tags(Resources=[image_id], Tags=tag_list(self.tags("release")))
            self.waiter.until(
                f"Copy {image_id} in {region}",
                lambda client=client, image_id=image_id: self._image(client, image_id),
                _image_state,
                {"available"},
                _IMAGE_FAILED,
            )
            client.modify_image_attribute(ImageId=image_id, ImdsSupport={"Value": "v2.0"})
            self._tag_with_snapshots(client, image_id)
        # Retention finds every copy from the source AMI.
        self.client.create_tags(Resources=[source], Tags=tag_list({REGIONS_TAG: ",".join(self.state.amis)}))

    def share(self) -> None:
        if not self.options.share:
            return
        permissions = [{"Group": "all"} if target == "all" else {"UserId": target} for target in self.options.share]
        for region, image_id in self.state.amis.items():
            ec2(self.session, region).modify_image_attribute(ImageId=image_id, LaunchPermission={"Add": permissions})

    def write_manifest(self) -> None:
        manifest = {
            "name": self.state.image_name,
            "recipe": self.options.recipe.name,
            "version": self.shelf.version,
            "bake_id": self.state.bake_id,
            "amis": dict(self.state.amis),
            "base_ami": {
                "id": (self.state.base_image or {}).get("ImageId"),
                "name": (self.state.base_image or {}).get("Name"),
                "region": self.region,
            },
            "images": self.images,
            "instance_type": self.options.instance_type,
            "shared_with": list(self.options.share),
            "provisioning": self.state.provisioning,
            "created": self.started.isoformat(timespec="seconds"),
            "timings_s": dict(self.result.timings_s),
        }
        path = self.manifest_path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        self.state.manifest = path

    def delete_manifest(self) -> None:
        if self.state.manifest is not None:
            self.state.manifest.unlink(missing_ok=True)
            self.state.manifest = None

    def remove_temporaries(self) -> None:
        self.terminate()
        self.delete_group()

    # -- helpers ----------------------------------------------------------------------------------------

    def _found(self, describe: str, key: str, id_key: str, known: str | None) -> list[str]:
        """Ids this bake made, known or found by its tag (a create whose answer was lost still gets cleaned)."""
        filters = [{"Name": f"tag:{BAKE_TAG}", "Values": [self.state.bake_id]}]
        answer = getattr(self.client, describe)(Filters=filters)[key]
        if key == "Reservations":
            answer = [
                instance
                for reservation in answer
                for instance in reservation["Instances"]
                if instance["State"]["Name"] != "terminated"
            ]
        ids = {item[id_key] for item in answer}
        if known:
            ids.add(known)
        return sorted(ids)

    def _instance(self, instance_id: str | None) -> dict:
        reservations = self.client.describe_instances(InstanceIds=[instance_id])["Reservations"]
        return reservations[0]["Instances"][0]

    @staticmethod
    def _image(client, image_id: str) -> dict:
        images = client.describe_images(ImageIds=[image_id])["Images"]
        return images[0] if images else {"State": "pending"}

    def _console_outcome(self, instance_id: str | None) -> str:
        return provisioning_outcome(console_text(self.client, instance_id))

    def _tag_with_snapshots(self, client, image_id: str) -> None:
        image = self._image(client, image_id)
        # Separate create_tags: create_image cannot tag snapshots everywhere.
        client.create_tags(Resources=[image_id, *snapshots_of(image)], Tags=tag_list(self.tags("release")))


def provisioning_outcome(console_output: str) -> str:
    """The last TM351-PROVISION verdict on a console ('' when there is none yet)."""
    verdicts = [f"{match.group(1)}{match.group(2)}".strip() for match in _PROVISION_LINE.finditer(console_output)]
    verdicts = [verdict for verdict in verdicts if verdict.startswith(("OK", "FAILED"))]
    return verdicts[-1] if verdicts else ""


def _instance_state(instance: dict) -> str:
    return instance["State"]["Name"]


def _image_state(image: dict) -> str:
    return image.get("State", "pending")
