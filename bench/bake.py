#!/usr/bin/env python3
"""Measure a bake against the moto stand-in: API calls by operation and wall time.

    python bench/bake.py [RECIPE] [--copy-to REGION ...]

Starts moto in server mode on a free port, bakes RECIPE from one of moto's stock AMIs (moto has no
Debian images), stops the bake instance once it runs (what the user-data's poweroff does on EC2),
copies and shares the AMI, then prints the figures. The image digests are the local images' ids: the
stand-in never pulls them.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import boto3  # noqa: E402
import requests  # noqa: E402
from rich.console import Console  # noqa: E402

from tm351vce.ami.bake import Bake, BakeOptions  # noqa: E402
from tm351vce.ami.waiting import Polling  # noqa: E402
from tm351vce.shelf.catalogue import load_shelf  # noqa: E402

REGION = "eu-west-2"
REGISTRY = "registry.example.org/bench"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def use_moto(endpoint: str, **more: str) -> None:
    """Point boto3 at the stand-in with dummy credentials (and any more variables, e.g. a cache folder)."""
    os.environ.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",  # noqa: S106 - moto accepts any credentials
        AWS_DEFAULT_REGION=REGION,
        **more,
    )


def start_moto() -> tuple[subprocess.Popen, str]:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            requests.get(f"{endpoint}/moto-api/", timeout=1)
            return server, endpoint
        except requests.RequestException:
            time.sleep(0.1)
    sys.exit("moto did not start")


def record_digests(cache: Path, recipe_apps: list[str]) -> None:
    shelf = load_shelf()
    lock = {
        f"{REGISTRY}/tm351/{app}:{shelf.version}": f"{REGISTRY}/tm351/{app}:{shelf.version}@sha256:{index:064x}"
        for index, app in enumerate(recipe_apps)
    }
    (cache / "tm351").mkdir(parents=True, exist_ok=True)
    (cache / "tm351" / "images.lock.json").write_text(json.dumps(lock))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe", nargs="?", default="jupyter")
    parser.add_argument("--copy-to", action="append", default=["eu-west-1", "us-east-1"])
    args = parser.parse_args()

    server, endpoint = start_moto()
    cache = Path(tempfile.mkdtemp(prefix="tm351-bench-bake-"))
    use_moto(endpoint, XDG_CACHE_HOME=str(cache))
    try:
        shelf = load_shelf()
        recipe = shelf.recipe(args.recipe)
        record_digests(cache, list(recipe.apps))
        session = boto3.Session(region_name=REGION)
        stock_ami = session.client("ec2").describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        calls: Counter[str] = Counter()
        session.events.register("before-call.*.*", lambda model, **_: calls.update([model.name]))
        options = BakeOptions(
            recipe=recipe,
            registry=REGISTRY,
            base_ami=stock_ami,
            copy_to=tuple(args.copy_to),
            share=("all",),
            polling=Polling(interval_s=0.5, timeout_s=120),
            manifest=cache / "manifest.json",
        )
        bake = Bake(shelf, options, session, console=Console(stderr=True))
        done = threading.Event()
        watcher = boto3.Session(region_name=REGION).client("ec2")  # its calls are not the bake's

        def power_off() -> None:
            while not done.wait(0.2):
                found = watcher.describe_instances(
                    Filters=[
                        {"Name": "instance-state-name", "Values": ["running"]},
                        {"Name": "tag:tm351:role", "Values": ["bake"]},
                    ]
                )["Reservations"]
                ids = [instance["InstanceId"] for reservation in found for instance in reservation["Instances"]]
                if ids:
                    watcher.stop_instances(InstanceIds=ids)

        thread = threading.Thread(target=power_off, daemon=True)
        thread.start()
        started = time.monotonic()
        baked = bake.run()
        wall = time.monotonic() - started
        done.set()
        thread.join()
        print(f"\nBake of {recipe.name} with copies to {', '.join(args.copy_to)} and --share all, against moto:")
        print(f"  AMIs: {baked.amis}")
        print(f"  wall time: {wall:.1f} s (the stand-in answers every wait at once; polling every 0.5 s)")
        print(f"  API calls: {sum(calls.values())}")
        for operation, count in sorted(calls.items(), key=lambda item: (-item[1], item[0])):
            print(f"    {operation:28} {count}")
        print("  steps (s): " + ", ".join(f"{name}: {seconds}" for name, seconds in bake.result.timings_s.items()))
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
