#!/usr/bin/env python3
"""Measure `fleet up` for a class against the moto stand-in: wall time, API calls in all and per student.

    python bench/fleet.py [--students 300] [--concurrency 16]

Starts moto in server mode on a free port, makes a release AMI there as `bake` leaves it, writes a roster,
then times three runs: the first launch of the class, a re-run (nothing missing) and `fleet down`.
The target is a class of 300 in at most 60 s with the default concurrency.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import boto3  # noqa: E402
from bake import REGION, start_moto, use_moto  # noqa: E402 - bench/bake.py, beside this script
from rich.console import Console  # noqa: E402

from tm351vce.ami.aws import RECIPE_TAG, ROLE_TAG, VERSION_TAG, tag_list  # noqa: E402
from tm351vce.ami.fleet import Fleet, FleetOptions  # noqa: E402
from tm351vce.ami.roster import read_roster  # noqa: E402
from tm351vce.shelf.catalogue import load_shelf  # noqa: E402
from tm351vce.shelf.constants import DEFAULT_CONCURRENCY  # noqa: E402

RECIPE = "jupyter"


def release_ami(session: boto3.Session) -> str:
    client = session.client("ec2")
    stock = client.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instance = client.run_instances(ImageId=stock, InstanceType="t3.micro", MinCount=1, MaxCount=1)["Instances"][0]
    tags = {ROLE_TAG: "release", RECIPE_TAG: RECIPE, VERSION_TAG: load_shelf().version}
    image = client.create_image(
        InstanceId=instance["InstanceId"],
        Name="tm351-bench-release",
        TagSpecifications=[{"ResourceType": "image", "Tags": tag_list(tags)}],
    )["ImageId"]
    client.terminate_instances(InstanceIds=[instance["InstanceId"]])
    return image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    args = parser.parse_args()

    server, endpoint = start_moto()
    work = Path(tempfile.mkdtemp(prefix="tm351-bench-fleet-"))
    use_moto(endpoint, XDG_CONFIG_HOME=str(work / "config"))
    try:
        session = boto3.Session(region_name=REGION)
        release_ami(session)
        roster = work / "roster.csv"
        roster.write_text("student_id\n" + "".join(f"s{n:04d}\n" for n in range(args.students)))
        rows = read_roster(roster)
        calls: Counter[str] = Counter()
        lock = threading.Lock()

        def count(model, **_: object) -> None:
            with lock:
                calls.update([model.name])

        session.events.register("before-call.*.*", count)
        shelf = load_shelf()
        options = FleetOptions(allow_cidr="81.2.69.0/24", concurrency=args.concurrency)
        fleet = Fleet(shelf, shelf.recipe(RECIPE), session, options, Console(stderr=True))
        print(f"Fleet of {args.students} students, concurrency {args.concurrency}, against moto:")
        for name, run in (
            ("first launch", lambda: (fleet.up(rows), fleet.write_credentials(rows, work / "credentials.csv"))),
            ("re-run (nothing missing)", lambda: fleet.up(rows)),
            ("fleet down", lambda: fleet.down(rows)),
        ):
            calls.clear()
            started = time.monotonic()
            run()
            wall = time.monotonic() - started
            total = sum(calls.values())
            print(f"  {name}: {wall:.1f} s, {total} API calls ({total / args.students:.2f} per student)")
            for operation, number in sorted(calls.items(), key=lambda item: (-item[1], item[0])):
                print(f"    {operation:34} {number}")
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
