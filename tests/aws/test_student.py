"""A student's own instance against the AWS stand-in, driven through the command line as a student would:
`up --provider aws`, again (no duplicate), `status`, `stop`, `up` (started again), `password`, `down`."""

from __future__ import annotations

import base64
import os
import stat
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.helpers.aws import REGION, Aws, baked_ami, ingress, student_groups, students_instances
from tests.helpers.cli import run_cli
from tests.helpers.net import serving
from tm351vce.ami.aws import OWNER_TAG, RECIPE_TAG, ROLE_TAG, STUDENT_TAG, VERSION_TAG, tags_of
from tm351vce.ami.sizing import check_instance_type
from tm351vce.shelf.catalogue import load_shelf

STUDENT = "ab1234"
CIDR = "81.2.69.160/32"


def up(aws: Aws, *extra: str, env: dict | None = None):
    return run_cli("up", "--provider", "aws", "--student", STUDENT, "--no-wait", *extra, env={**aws.env, **(env or {})})


def test_a_student_gets_one_locked_down_instance_and_keeps_it_until_down(aws, tmp_path):
    image_id = baked_ami(aws)
    launched = up(aws, "--allow-cidr", CIDR)
    assert launched.returncode == 0, launched.stdout + launched.stderr
    assert "Launched" in launched.stdout and image_id in launched.stdout

    (instance,) = students_instances(aws)
    assert instance["ImageId"] == image_id
    assert instance["MetadataOptions"]["HttpTokens"] == "required"
    tags = tags_of(instance)
    assert tags[ROLE_TAG] == "student" and tags[STUDENT_TAG] == STUDENT and tags[OWNER_TAG] == STUDENT
    assert tags[RECIPE_TAG] == load_shelf().default_recipe.name and tags[VERSION_TAG] == load_shelf().version

    (group,) = student_groups(aws)
    assert ingress(group) == {(443, CIDR), (80, CIDR)}  # HTTPS, and HTTP that only redirects to it
    assert [g["GroupId"] for g in instance["SecurityGroups"]] == [group["GroupId"]]

    password = run_cli("password", "--provider", "aws", "--student", STUDENT, env=aws.env)
    assert password.returncode == 0, password.stderr
    secret = password.stdout.strip()
    assert len(secret) >= 16
    record = aws.config / "tm351" / "aws" / REGION / f"{STUDENT}.json"
    assert stat.S_IMODE(record.stat().st_mode) == 0o600
    assert stat.S_IMODE(record.parent.stat().st_mode) == 0o700

    attribute = aws.ec2().describe_instance_attribute(InstanceId=instance["InstanceId"], Attribute="userData")
    user_data = base64.b64decode(attribute["UserData"]["Value"]).decode()
    assert user_data.startswith("#cloud-config")
    assert "TM351_TLS=self-signed" in user_data  # the gateway serves HTTPS with a key made on the instance
    assert "$2b$" in user_data  # the login travels as a salted hash ...
    assert secret not in user_data  # ... never as itself
    assert "PRIVATE KEY" not in user_data
    assert all(secret not in value for value in tags.values())

    again = up(aws, "--allow-cidr", CIDR)
    assert again.returncode == 0, again.stderr
    assert "Found running" in again.stdout
    assert len(students_instances(aws)) == 1 and len(student_groups(aws)) == 1

    stopped = run_cli("stop", "--provider", "aws", "--student", STUDENT, env=aws.env)
    assert stopped.returncode == 0, stopped.stderr
    assert students_instances(aws)[0]["State"]["Name"] in ("stopping", "stopped")
    started = up(aws, "--allow-cidr", CIDR)
    assert started.returncode == 0, started.stderr
    assert "Started" in started.stdout
    (restarted,) = students_instances(aws)
    assert restarted["InstanceId"] == instance["InstanceId"]

    status = run_cli("status", "--provider", "aws", "--student", STUDENT, "--json", env=aws.env)
    assert status.returncode == 0, status.stderr
    assert f'"instance_id": "{instance["InstanceId"]}"' in status.stdout
    assert CIDR in status.stdout

    refused = run_cli("down", "--provider", "aws", "--student", STUDENT, env=aws.env)
    assert refused.returncode == 2
    assert "lost" in refused.stderr and "--yes" in refused.stderr and "Traceback" not in refused.stderr
    assert len(students_instances(aws)) == 1

    removed = run_cli("down", "--provider", "aws", "--student", STUDENT, "--yes", env=aws.env)
    assert removed.returncode == 0, removed.stderr
    assert students_instances(aws) == []
    assert student_groups(aws) == []
    assert not record.exists()
    gone = run_cli("password", "--provider", "aws", "--student", STUDENT, env=aws.env)
    assert gone.returncode == 2 and "no password" in gone.stderr


def test_a_new_allow_cidr_replaces_the_old_one(aws):
    baked_ami(aws)
    assert up(aws, "--allow-cidr", CIDR).returncode == 0
    moved = up(aws, "--allow-cidr", "81.2.69.0/24")
    assert moved.returncode == 0, moved.stderr
    (group,) = student_groups(aws)
    assert ingress(group) == {(443, "81.2.69.0/24"), (80, "81.2.69.0/24")}


@pytest.fixture
def address_echo() -> Iterator[str]:
    """A stand-in for the public-address echo service, answering as it would from the internet."""

    class Echo(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"81.2.69.161\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    with serving(ThreadingHTTPServer(("127.0.0.1", 0), Echo)) as server:
        yield f"http://127.0.0.1:{server.server_address[1]}/"


def test_auto_allows_only_the_callers_public_address_and_says_which(aws, address_echo):
    baked_ami(aws)
    launched = up(aws, env={"TM351_ADDRESS_ECHO_URL": address_echo})
    assert launched.returncode == 0, launched.stderr
    assert "81.2.69.161/32" in launched.stdout
    (group,) = student_groups(aws)
    assert ingress(group) == {(443, "81.2.69.161/32"), (80, "81.2.69.161/32")}


def test_when_the_address_cannot_be_detected_it_asks_for_allow_cidr_and_launches_nothing(aws):
    baked_ami(aws)
    result = up(aws, env={"TM351_ADDRESS_ECHO_URL": "http://127.0.0.1:9/"})
    assert result.returncode == 2
    assert "--allow-cidr" in result.stderr and "Traceback" not in result.stderr
    assert students_instances(aws) == [] and student_groups(aws) == []


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--allow-cidr", "10.0.0.300/32"], "is not a network"),
        (["--allow-cidr", CIDR, "--instance-type", "t3.nano"], "use --instance-type t3.micro"),
        (["--allow-cidr", CIDR, "--instance-type", "x9.huge"], "is not an instance type"),
        (["--allow-cidr", CIDR, "--ami", "ami-0000000000000dead"], "does not exist"),
        (["--allow-cidr", CIDR, "--domain", "notebooks.example.org"], "--acme-from"),
        (["--allow-cidr", CIDR, "--domain", "not a name", "--acme-from", "0.0.0.0/0"], "is not a DNS name"),
        (["--allow-cidr", CIDR, "--student", "a b"], "--student"),
    ],
)
def test_bad_input_is_refused_with_the_fix_before_anything_is_made(aws, arguments, message):
    baked_ami(aws)
    result = up(aws, *arguments)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert students_instances(aws) == [] and student_groups(aws) == []


def test_without_a_baked_ami_it_says_how_to_bake_one(aws):
    result = up(aws, "--allow-cidr", CIDR)
    assert result.returncode == 2
    assert f"python3 tasks.py bake {load_shelf().default_recipe.name}" in result.stderr


def test_the_whole_course_stack_is_the_default_on_a_1_gib_t3_micro_and_the_newest_bake_is_chosen(aws):
    """OpenRefine sleeps until opened, so what must be awake fits 1 GiB beside the system."""
    shelf = load_shelf()
    assert shelf.default_recipe.name == "tm351"
    assert check_instance_type(aws.ec2(), shelf, shelf.recipe("tm351"), "t3.micro") == 1024
    baked_ami(aws, "tm351", version="0.0.9")
    newest = baked_ami(aws, "tm351")
    result = run_cli("up", "--provider", "aws", "--no-wait", "--allow-cidr", CIDR, env=aws.env)
    assert result.returncode == 0, result.stderr
    (instance,) = students_instances(aws)
    assert instance["ImageId"] == newest and instance["InstanceType"] == "t3.micro"
    assert tags_of(instance)[STUDENT_TAG] == os.environ.get("USER", tags_of(instance)[STUDENT_TAG])


def test_waiting_for_a_certificate_that_never_comes_ends_with_what_to_do(aws):
    """The stand-in's console never reports a certificate (its machines run nothing): the wait times out."""
    baked_ami(aws)
    result = run_cli(
        "up", "--provider", "aws", "--student", STUDENT, "--allow-cidr", CIDR, "--timeout", "2", env=aws.env
    )
    assert result.returncode == 1
    assert "Certificate of" in result.stderr and "status --provider aws" in result.stderr
    assert len(students_instances(aws)) == 1  # kept: `up` again waits again, without a second machine


def test_a_domain_asks_for_a_lets_encrypt_certificate_and_opens_only_port_80_to_its_checks(aws):
    baked_ami(aws)
    launched = up(
        aws, "--allow-cidr", CIDR, "--domain", "notebooks.example.org", "--acme-from", "0.0.0.0/0",
        "--acme-email", "ab1234@example.org",
    )  # fmt: skip
    assert launched.returncode == 0, launched.stderr
    assert "https://notebooks.example.org/" in launched.stdout
    (group,) = student_groups(aws)
    assert ingress(group) == {(443, CIDR), (80, CIDR), (80, "0.0.0.0/0")}  # the login stays behind --allow-cidr
    (instance,) = students_instances(aws)
    attribute = aws.ec2().describe_instance_attribute(InstanceId=instance["InstanceId"], Attribute="userData")
    user_data = base64.b64decode(attribute["UserData"]["Value"]).decode()
    assert "TM351_TLS=acme" in user_data and "TM351_DOMAIN=notebooks.example.org" in user_data
