"""An AWS stand-in: moto in server mode, in its own process, reached through boto3's usual AWS_ENDPOINT_URL.

It starts with two of Debian's AMIs (tests/helpers/aws.py); every wait it answers at once, so slowness is tested
with injected clocks.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import requests

from tests.helpers.aws import NEW_DEBIAN, OLD_DEBIAN, REGION, REGISTRY, Aws, debian_ami
from tests.helpers.net import free_port
from tm351vce.shelf.catalogue import load_shelf


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("moto")
    amis = folder / "amis.json"
    amis.write_text(json.dumps([debian_ami(OLD_DEBIAN, "2026-09-01"), debian_ami(NEW_DEBIAN, "2026-11-01")]))
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
