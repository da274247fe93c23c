"""A student's own instance of a baked AMI: found by tag, launched at most once, reachable only from their network.

The password is made on this computer and only its salted hash travels in the user-data; the instance makes
its TLS key at first boot and reports the certificate's fingerprint on its console, which the health polling
pins. Everything is found again by the `tm351:student` tag, so a second `up` never makes a second machine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.exceptions
import requests
from rich.console import Console

from tm351vce.ami.access import is_world
from tm351vce.ami.aws import (
    OWNER_TAG,
    RECIPE_TAG,
    ROLE_TAG,
    STUDENT_TAG,
    VERSION_TAG,
    console_text,
    delete_security_group,
    ec2,
    error_code,
    image_or_none,
    tag_list,
    tags_of,
)
from tm351vce.ami.student_store import StudentRecord, StudentStore
from tm351vce.ami.waiting import Clock, Polling, Waiter
from tm351vce.provision.instance import InstanceConfig, hash_password, instance_user_data
from tm351vce.provision.tls import FingerprintMismatch, fingerprint_from_console, pinned_get
from tm351vce.shelf.catalogue import Recipe
from tm351vce.shelf.errors import UsageProblem

HTTPS_PORT = 443
HTTP_PORT = 80  # redirects to HTTPS only (and answers ACME's challenge with --domain)
ROOT_VOLUME_GIB = 16
LIVE_STATES = ["pending", "running", "stopping", "stopped"]
_USER = "student"


@dataclass(frozen=True)
class LaunchSpec:
    """What every instance of one `up` (or one class) is launched with."""

    recipe: Recipe
    image: dict  # the AMI, as describe_images gives it
    version: str
    instance_type: str
    domain: str | None = None
    acme_email: str | None = None
    # With --domain: who may reach port 80 for ACME's HTTP challenge (Let's Encrypt checks from anywhere).
    acme_from: str | None = None


@dataclass
class Outcome:
    student: str
    action: str  # launched, started, running, failed
    instance_id: str = ""
    url: str = ""
    error: str = ""


@dataclass
class StudentInstances:
    """One region's student instances, their security groups and this computer's records of them."""

    session: boto3.Session
    store: StudentStore | None = None
    clock: Clock = field(default_factory=Clock)
    console: Console = field(default_factory=lambda: Console(stderr=True, soft_wrap=True))
    client: Any = None

    def __post_init__(self) -> None:
        self.region: str = self.session.region_name
        self.client = self.client or ec2(self.session)
        self.store = self.store or StudentStore(self.region)

    # -- finding ----------------------------------------------------------------------------------------

    def release_image(self, recipe: Recipe, ami: str) -> dict:
        """The AMI to launch: `latest` is the newest baked for the recipe (by tag), else the id given."""
        if ami != "latest":
            image = image_or_none(self.client, ami)
            if image is None:
                raise UsageProblem(
                    f"--ami {ami} does not exist in {self.region}: give an AMI baked by `bake`, or latest."
                )
            baked_for = tags_of(image).get(RECIPE_TAG)
            if baked_for and baked_for != recipe.name:
                raise UsageProblem(
                    f"--ami {ami} was baked for recipe {baked_for}, not {recipe.name}: "
                    "name that recipe, or give another AMI."
                )
            return image
        images = self.client.describe_images(
            Owners=["self"],
            Filters=[
                {"Name": f"tag:{ROLE_TAG}", "Values": ["release"]},
                {"Name": f"tag:{RECIPE_TAG}", "Values": [recipe.name]},
                {"Name": "state", "Values": ["available"]},
            ],
        )["Images"]
        if not images:
            raise UsageProblem(
                f"No AMI of recipe {recipe.name} is baked in {self.region}: the course team bakes one with "
                f"`python3 tasks.py bake {recipe.name} --region {self.region}`, or give one with --ami ami-…."
            )
        return max(images, key=lambda image: (image.get("CreationDate", ""), image.get("Name", "")))

    def instances(self, students: Iterable[str] | None = None) -> dict[str, dict]:
        """Live (not terminated) student instances by student id; one paginated call for a whole class."""
        filters = [
            {"Name": f"tag:{ROLE_TAG}", "Values": ["student"]},
            {"Name": "instance-state-name", "Values": LIVE_STATES},
        ]
        if students is not None:
            filters.append({"Name": f"tag:{STUDENT_TAG}", "Values": list(students)})
        found: dict[str, dict] = {}
        for page in self.client.get_paginator("describe_instances").paginate(Filters=filters):
            for reservation in page["Reservations"]:
                for instance in reservation["Instances"]:
                    found[tags_of(instance).get(STUDENT_TAG, "")] = instance
        found.pop("", None)
        return found

    def groups(self, students: Iterable[str] | None = None) -> dict[str, dict]:
        filters = [{"Name": f"tag:{ROLE_TAG}", "Values": ["student"]}]
        if students is not None:
            filters.append({"Name": f"tag:{STUDENT_TAG}", "Values": list(students)})
        found: dict[str, dict] = {}
        for page in self.client.get_paginator("describe_security_groups").paginate(Filters=filters):
            for group in page["SecurityGroups"]:
                found[tags_of(group).get(STUDENT_TAG, "")] = group
        found.pop("", None)
        return found

    # -- up ---------------------------------------------------------------------------------------------

    def ensure(
        self,
        student: str,
        spec: LaunchSpec,
        cidr: str,
        *,
        email: str = "",
        instance: dict | None = None,
        group: dict | None = None,
    ) -> Outcome:
        """The student's instance running or starting: found (started if stopped) or launched, never twice.

        `instance` and `group` are what a class-wide lookup found (None: nothing), so a fleet asks once for all.
        """
        record = self.store.load_or_new(student)
        if record.instance_id and instance is None:
            record.fresh_launch()  # terminated outside this tool: its token would only return the dead machine
        record.recipe, record.email, record.domain = spec.recipe.name, email or record.email, spec.domain or ""
        self.store.save(record)  # the password is kept before anything can be made with its hash
        record.group_id = self._ensure_group(student, spec, cidr, group)
        if instance is None:
            instance = self._launch(record, spec)
            action = "launched"
        elif instance["State"]["Name"] in ("stopped", "stopping"):
            self.client.start_instances(InstanceIds=[instance["InstanceId"]])
            action = "started"
        else:
            action = "running"
        record.instance_id = instance["InstanceId"]
        record.url = self.url_of(instance, spec.domain) or record.url
        self.store.save(record)
        return Outcome(student, action, record.instance_id, record.url)

    def _ensure_group(self, student: str, spec: LaunchSpec, cidr: str, group: dict | None) -> str:
        """The student's security group, holding exactly the wanted rules (an old --allow-cidr is revoked)."""
        wanted = {(HTTPS_PORT, cidr), (HTTP_PORT, cidr)}
        if spec.domain and spec.acme_from:
            wanted.add((HTTP_PORT, spec.acme_from))
        if group is None:
            group = self._create_group(student, spec)
        group_id = group["GroupId"]
        have = _rules_of(group)
        # A change whose answer was lost and retried finds itself already made: that is the wanted state.
        if have - wanted:
            _unless(
                "InvalidPermission.NotFound",
                lambda: self.client.revoke_security_group_ingress(
                    GroupId=group_id, IpPermissions=_permissions(have - wanted)
                ),
            )
        if wanted - have:
            _unless(
                "InvalidPermission.Duplicate",
                lambda: self.client.authorize_security_group_ingress(
                    GroupId=group_id, IpPermissions=_permissions(wanted - have)
                ),
            )
        return group_id

    def _create_group(self, student: str, spec: LaunchSpec) -> dict:
        """A new group for the student, or the one its name already names (EC2 groups take no idempotency token,
        so a create retried after a lost answer meets the group the first try made)."""
        name = f"tm351-student-{student}"
        tags = tag_list(self._tags(student, spec))
        try:
            group_id = self.client.create_security_group(
                GroupName=name,
                Description=f"TM351 instance of {student}: HTTPS (and its redirect) from chosen networks only",
                TagSpecifications=[{"ResourceType": "security-group", "Tags": tags}],
            )["GroupId"]
            return {"GroupId": group_id, "IpPermissions": []}
        except botocore.exceptions.ClientError as problem:
            if error_code(problem) != "InvalidGroup.Duplicate":
                raise
        found = self.client.describe_security_groups(Filters=[{"Name": "group-name", "Values": [name]}])
        group = found["SecurityGroups"][0]
        self.client.create_tags(Resources=[group["GroupId"]], Tags=tags)  # so lookups by tag find it from now on
        return group

    def _launch(self, record: StudentRecord, spec: LaunchSpec) -> dict:
        config = InstanceConfig(hash_password(record.password), domain=spec.domain, acme_email=spec.acme_email)
        tags = tag_list(self._tags(record.student, spec))
        response = self.client.run_instances(
            ImageId=spec.image["ImageId"],
            InstanceType=spec.instance_type,
            MinCount=1,
            MaxCount=1,
            UserData=instance_user_data(config),
            SecurityGroupIds=[record.group_id],
            # IMDSv2 only, hop limit 1: the containers on the machine cannot reach the metadata service.
            MetadataOptions={"HttpTokens": "required", "HttpEndpoint": "enabled", "HttpPutResponseHopLimit": 1},
            BlockDeviceMappings=[
                {
                    "DeviceName": spec.image.get("RootDeviceName", "/dev/xvda"),
                    "Ebs": {"VolumeSize": ROOT_VOLUME_GIB, "VolumeType": "gp3", "DeleteOnTermination": True},
                }
            ],
            ClientToken=record.client_token,
            TagSpecifications=[
                {"ResourceType": "instance", "Tags": tags},
                {"ResourceType": "volume", "Tags": tags},
            ],
        )
        return response["Instances"][0]

    def _tags(self, student: str, spec: LaunchSpec) -> dict[str, str]:
        return {
            "Name": f"tm351-{student}",
            ROLE_TAG: "student",
            STUDENT_TAG: student,
            OWNER_TAG: student,
            RECIPE_TAG: spec.recipe.name,
            VERSION_TAG: spec.version,
        }

    @staticmethod
    def url_of(instance: dict, domain: str | None = None) -> str:
        if domain:
            return f"https://{domain}/"
        address = instance.get("PublicIpAddress") or instance.get("PublicDnsName")
        return f"https://{address}/" if address else ""

    # -- waiting ----------------------------------------------------------------------------------------

    def wait_running(self, student: str, polling: Polling) -> dict:
        record = self._record(student)
        instance = Waiter(self.clock, polling, self.console).until(
            f"Instance {record.instance_id}", lambda: self._instance(record.instance_id), _state, {"running"},
            {"terminated", "shutting-down"},
        )  # fmt: skip
        record.url = self.url_of(instance, record.domain or None) or record.url
        self.store.save(record)
        return instance

    def wait_gateway(self, student: str, polling: Polling, domain: str | None = None) -> StudentRecord:
        """The certificate's fingerprint from the console, then the gateway answering over HTTPS pinned to it."""
        record = self._record(student)
        waiter = Waiter(self.clock, polling, self.console)
        if not domain:
            fingerprint = waiter.until(
                f"Certificate of {record.instance_id} (made on its first boot)",
                lambda: fingerprint_from_console(console_text(self.client, record.instance_id)) or "",
                lambda found: "reported" if found else "booting",
                {"reported"},
            )
            record.fingerprint = fingerprint
            self.store.save(record)
        health = record.url + "healthz"
        answer = lambda: gateway_health(health, record.fingerprint, domain)  # noqa: E731
        waiter.until(f"Gateway at {record.url}", answer, str, {"ok"})
        return record

    # -- stop, down, status -----------------------------------------------------------------------------

    def stop(self, student: str) -> str:
        instance = self._live(student)
        if instance["State"]["Name"] not in ("stopped", "stopping"):
            self.client.stop_instances(InstanceIds=[instance["InstanceId"]])
        return instance["InstanceId"]

    def terminate(self, instance_ids: list[str], polling: Polling) -> None:
        """Terminate, then wait until EC2 says so for all of them (one describe per round, for a whole class)."""
        if not instance_ids:
            return
        for start in range(0, len(instance_ids), 500):
            self.client.terminate_instances(InstanceIds=instance_ids[start : start + 500])

        def still_alive() -> list[str]:
            alive = []
            for start in range(0, len(instance_ids), 500):
                pages = self.client.get_paginator("describe_instances").paginate(
                    InstanceIds=instance_ids[start : start + 500]
                )
                alive += [
                    instance["InstanceId"]
                    for page in pages
                    for reservation in page["Reservations"]
                    for instance in reservation["Instances"]
                    if instance["State"]["Name"] != "terminated"
                ]
            return alive

        Waiter(self.clock, polling, self.console).until(
            f"Terminating {len(instance_ids)} instance(s)",
            still_alive,
            lambda alive: f"{len(alive)} left" if alive else "terminated",
            {"terminated"},
        )

    def delete_group(self, group_id: str, polling: Polling) -> None:
        delete_security_group(self.client, group_id, self.clock.sleep, polling.interval_s)

    def down(self, student: str, polling: Polling) -> list[str]:
        """Terminate the student's instance and delete its group; what was removed, for the message."""
        removed = []
        instance = self.instances([student]).get(student)
        if instance:
            self.terminate([instance["InstanceId"]], polling)
            removed.append(instance["InstanceId"])
        group = self.groups([student]).get(student)
        if group:
            self.delete_group(group["GroupId"], polling)
            removed.append(group["GroupId"])
        self.store.forget(student)
        return removed

    def _live(self, student: str) -> dict:
        instance = self.instances([student]).get(student)
        if instance is None:
            raise UsageProblem(
                f"No instance of student {student} in {self.region}: "
                "start one with `python3 tasks.py up --provider aws`."
            )
        return instance

    def _record(self, student: str) -> StudentRecord:
        record = self.store.load(student)
        if record is None:
            raise UsageProblem(f"This computer has no record of student {student} in {self.region}.")
        return record

    def _instance(self, instance_id: str) -> dict:
        return self.client.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]


def _state(instance: dict) -> str:
    return instance["State"]["Name"]


def gateway_health(url: str, fingerprint: str, domain: str | None) -> str:
    """'ok' when the gateway answers; otherwise what went wrong, shown while waiting."""
    try:
        # With a domain, a public CA's certificate, checked as usual; otherwise the one the console reported.
        status = requests.get(url, timeout=5).status_code if domain else pinned_get(url, fingerprint, timeout=5).status
    except FingerprintMismatch:
        raise  # not "not yet": somebody else answers at that address
    except Exception as problem:  # any other failure means "not yet"; the last one is shown
        return f"not answering ({type(problem).__name__})"
    return "ok" if status == 200 else f"HTTP {status}"


def _unless(code: str, call: Callable[[], object]) -> None:
    """Make an AWS call; the given error code means it was already done."""
    try:
        call()
    except botocore.exceptions.ClientError as problem:
        if error_code(problem) != code:
            raise


def _rules_of(group: dict) -> set[tuple[int, str]]:
    rules = set()
    for permission in group.get("IpPermissions", []):
        port = permission.get("FromPort")
        for item in permission.get("IpRanges", []):
            rules.add((port, item["CidrIp"]))
        for item in permission.get("Ipv6Ranges", []):
            rules.add((port, item["CidrIpv6"]))
    return rules


def _permissions(rules: set[tuple[int, str]]) -> list[dict]:
    permissions = []
    for port in sorted({port for port, _ in rules}):
        cidrs = sorted(cidr for rule_port, cidr in rules if rule_port == port)
        v4 = [{"CidrIp": cidr, "Description": _why(port, cidr)} for cidr in cidrs if ":" not in cidr]
        v6 = [{"CidrIpv6": cidr, "Description": _why(port, cidr)} for cidr in cidrs if ":" in cidr]
        permission: dict = {"IpProtocol": "tcp", "FromPort": port, "ToPort": port}
        if v4:
            permission["IpRanges"] = v4
        if v6:
            permission["Ipv6Ranges"] = v6
        permissions.append(permission)
    return permissions


def _why(port: int, cidr: str) -> str:
    what = "HTTPS to the gateway" if port == HTTPS_PORT else "HTTP: redirect to HTTPS"
    return f"{what}{' (chosen by the user)' if is_world(cidr) else ''}"
