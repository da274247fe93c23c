"""An emulated instance: a fresh Debian 12 host (systemd, cloud-init, no Docker) boots the user-data that
`render --target cloud-init` writes, installs the engine, pulls the images by digest from a real registry and
runs the stack under tm351.service; provisioning again changes nothing a student made."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import secrets
import shlex
import shutil
import ssl
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import docker
import pytest
import requests
import urllib3
import yaml

from tests.helpers.cli import run_cli
from tests.helpers.jupyter_kernel import browser_session
from tests.helpers.net import free_port, wait_until
from tm351vce.ami.student import gateway_health
from tm351vce.provision.emulated_host import ENGINE_TARGET, HOST_CONTAINER_ARGS, SEED_TARGET, nocloud_meta_data
from tm351vce.provision.instance import InstanceConfig, hash_password, instance_env, instance_user_data
from tm351vce.provision.tls import FingerprintMismatch, fingerprint_from_console, normalise_fingerprint, pinned_get
from tm351vce.shelf.catalogue import load_shelf

pytestmark = pytest.mark.needs("docker-registry", "openssl")

RECIPE = "jupyter"
DOMAIN = "vce.example.org"
PROVISION_TIMEOUT_S = 900
CERTS_D = Path("/etc/docker/certs.d")


@dataclass
class Registry:
    address: str  # HOST:PORT on the engine's bridge, where both engines reach it
    ca: Path
    cache: Path  # the CLI's cache folder, where push records the digests

    @property
    def env(self) -> dict[str, str]:
        return {"XDG_CACHE_HOME": str(self.cache)}


@pytest.fixture(scope="module")
def registry(engine, built, tmp_path_factory) -> Iterator[Registry]:
    """Debian's docker-registry with TLS from a CA of its own, on the bridge: the outer engine pushes to it and
    the emulated host pulls from it, each trusting the CA for that registry only."""
    if shutil.which("docker-registry") is None:
        pytest.fail("Debian's docker-registry package is missing: run .ci/run (it installs it).")
    folder = tmp_path_factory.mktemp("registry")
    ipam = engine.networks.get("bridge").attrs["IPAM"]["Config"][0]
    # An engine started without a bridge IP setting may not report its gateway: the subnet's first address.
    bridge = ipam.get("Gateway") or str(ipaddress.ip_network(ipam["Subnet"])[1])
    address = f"{bridge}:{free_port()}"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=tm351-test-registry",
            "-keyout", str(folder / "key.pem"), "-out", str(folder / "ca.pem"),
            "-addext", f"subjectAltName=IP:{bridge}", "-addext", "basicConstraints=critical,CA:TRUE",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    config = {
        "version": 0.1,
        "log": {"level": "warn"},
        "storage": {"filesystem": {"rootdirectory": str(folder / "data")}},
        "http": {"addr": address, "tls": {"certificate": str(folder / "ca.pem"), "key": str(folder / "key.pem")}},
    }
    (folder / "config.yml").write_text(yaml.safe_dump(config))
    trusted = CERTS_D / address
    trusted.mkdir(parents=True, exist_ok=True)
    shutil.copy(folder / "ca.pem", trusted / "ca.crt")
    server = subprocess.Popen(
        ["docker-registry", "serve", str(folder / "config.yml")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        up = wait_until(lambda: _answers(f"https://{address}/v2/", folder / "ca.pem"), timeout=30)
        assert up, "the test registry did not start"
        yield Registry(address=address, ca=folder / "ca.pem", cache=tmp_path_factory.mktemp("cache"))
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(trusted, ignore_errors=True)


def _answers(url: str, ca: Path) -> bool:
    try:
        return requests.get(url, verify=str(ca), timeout=2).status_code == 200
    except requests.RequestException:
        return False


@dataclass
class Host:
    container: docker.models.containers.Container
    port: int
    student_dir: Path
    seed: Path
    # The host's port for each extra port of the machine: {443: 49153, ...}.
    ports: dict[int, int] = field(default_factory=dict)

    def reseed(self, user_data: str, instance_id: str) -> None:
        """What launching an image gives a machine: a new instance id, and its own user-data."""
        (self.seed / "user-data").write_text(user_data)
        (self.seed / "meta-data").write_text(nocloud_meta_data(instance_id))

    def sh(self, command: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["docker", "exec", self.container.id, "sh", "-c", command], capture_output=True, text=True, check=False
        )

    def password(self) -> str:
        return self.sh("cat /opt/tm351/secrets/password").stdout.strip()

    def get(self, path: str, password: str | None = None) -> requests.Response:
        auth = ("student", password) if password else None
        return requests.get(f"http://127.0.0.1:{self.port}{path}", auth=auth, timeout=10)

    def wait_provisioned(self) -> None:
        def finished() -> bool:
            state = self.sh(
                "test -f /var/lib/tm351/provisioned && echo ok; test -f /var/lib/tm351/provision-failed && echo failed"
            )
            return bool(state.stdout.strip())

        done = wait_until(finished, timeout=PROVISION_TIMEOUT_S, pause=3)
        journal = self.sh(
            "journalctl --no-pager -t tm351-provision -u tm351 -n 60; tail -n 60 /var/log/cloud-init-output.log"
        )
        assert done, "provisioning did not finish:\n" + journal.stdout
        assert self.sh("test -f /var/lib/tm351/provisioned").returncode == 0, "provisioning failed:\n" + journal.stdout


@pytest.fixture(scope="module")
def user_data(registry, built) -> str:
    pushed = run_cli(
        "push", "gateway", "dashboard", "jupyter", "--registry", f"{registry.address}/test", env=registry.env
    )
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    rendered = run_cli(
        "render", RECIPE, "--target", "cloud-init", "--registry", f"{registry.address}/test",
        "--registry-ca", str(registry.ca), env=registry.env,
    )  # fmt: skip
    assert rendered.returncode == 0, rendered.stdout + rendered.stderr
    return rendered.stdout


@contextmanager
def booted_host(
    engine, host_image: str, user_data: str, folder: Path, extra_ports: tuple[int, ...] = ()
) -> Iterator[Host]:
    """A fresh emulated Debian host booting this user-data, its port 35180 (and `extra_ports`) published on
    loopback; removed with its engine's volume afterwards."""
    name = f"tm351-test-host-{uuid.uuid4().hex[:8]}"
    seed = folder / "seed"
    seed.mkdir()
    (seed / "user-data").write_text(user_data)
    (seed / "meta-data").write_text(nocloud_meta_data(name))
    student_dir = folder / "TM351VCE"
    student_dir.mkdir()
    port = free_port()
    ports = {inside: free_port() for inside in extra_ports}
    published = [f"--publish=127.0.0.1:{outside}:{inside}" for inside, outside in ports.items()]
    engine_volume = f"{name}-engine"
    subprocess.run(
        [
            "docker", "run", "-d", "--name", name, *HOST_CONTAINER_ARGS,
            "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "-v", f"{seed}:{SEED_TARGET}:ro",
            "-v", f"{engine_volume}:{ENGINE_TARGET}", "-v", f"{student_dir}:/srv/TM351VCE",
            "-p", f"127.0.0.1:{port}:35180", *published, host_image,
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    try:
        yield Host(engine.containers.get(name), port, student_dir, seed, ports)
    finally:
        subprocess.run(["docker", "rm", "-f", "-v", name], capture_output=True, check=False)
        subprocess.run(["docker", "volume", "rm", "-f", engine_volume], capture_output=True, check=False)


@pytest.fixture(scope="module")
def host(engine, host_image, user_data, tmp_path_factory) -> Iterator[Host]:
    with booted_host(engine, host_image, user_data, tmp_path_factory.mktemp("host")) as running:
        running.wait_provisioned()
        yield running


def test_the_user_data_carries_no_secret_and_fits_ec2(user_data):
    assert user_data.startswith("#cloud-config\n")
    assert len(user_data.encode()) <= 16 * 1024


def test_the_stack_runs_under_systemd_from_pinned_images(host, registry):
    assert host.sh("systemctl is-active tm351.service").stdout.strip() == "active"
    assert host.sh("systemctl is-enabled tm351.service").stdout.strip() == "enabled"
    images = host.sh("docker inspect --format '{{.Config.Image}}' $(docker ps -q)").stdout.split()
    assert len(images) == 3
    assert all(image.startswith(f"{registry.address}/test/tm351/") and "@sha256:" in image for image in images)
    marker = host.sh("cat /var/lib/tm351/provisioned").stdout
    assert f"recipe={RECIPE}" in marker
    assert "status: done" in host.sh("cloud-init status").stdout, host.sh("cloud-init status --long").stdout


def test_the_gateway_answers_and_asks_for_the_password(host):
    assert host.get("/healthz").status_code == 200
    assert host.get("/jupyter/").status_code == 401
    assert host.get("/jupyter/api/status", password=host.password()).status_code == 200


def test_secrets_are_made_on_the_host_owned_by_the_service_user(host, user_data):
    listing = host.sh("stat -c '%a %U %n' /opt/tm351/secrets /opt/tm351/secrets/*").stdout.splitlines()
    assert listing[0].startswith("700 tm351 ")
    assert all(line.startswith("600 tm351 ") for line in listing[1:]), listing
    assert host.password() not in user_data
    assert host.sh("id -u tm351").stdout.strip() == "3510"
    assert host.sh("ps -o user= -C dockerd").stdout.strip() == "root"


def test_the_result_is_reported_on_the_console_and_journal(host):
    journal = host.sh("journalctl --no-pager -t tm351-provision").stdout
    assert "TM351-PROVISION: OK: recipe jupyter" in journal


def test_provisioning_again_keeps_student_files_and_secrets(host):
    password = host.password()
    notebook = {"type": "notebook", "content": {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}}
    jupyter = f"http://127.0.0.1:{host.port}/jupyter/"
    saved = browser_session(jupyter, auth=("student", password)).put(
        f"{jupyter}api/contents/notebooks/kept.ipynb", data=json.dumps(notebook), timeout=10
    )
    assert saved.status_code in (200, 201), saved.text
    first_marker = host.sh("cat /var/lib/tm351/provisioned").stdout
    time.sleep(1)

    again = host.sh("/opt/tm351/provision.sh")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "TM351-PROVISION: OK" in again.stdout
    assert host.sh("cat /var/lib/tm351/provisioned").stdout != first_marker
    assert host.password() == password
    assert (host.student_dir / "notebooks" / "kept.ipynb").is_file()
    assert wait_until(lambda: host.get("/jupyter/api/status", password=password).status_code == 200, timeout=60)
    listed = host.get("/jupyter/api/contents/notebooks", password=password).json()
    assert "kept.ipynb" in [item["name"] for item in listed["content"]]


@dataclass
class Baked:
    """A host provisioned as an AMI bake does it, powered off by itself: the stand-in for a baked image."""

    host: Host
    user_data: str
    listing: list[str]  # /opt/tm351 as the image holds it


@pytest.fixture(scope="module")
def baked(engine, host_image, registry, user_data, tmp_path_factory) -> Iterator[Baked]:
    """One bake (of the images `user_data` pushed) for the tests of machines made from the image; they boot it
    in the order of this file."""
    rendered = run_cli(
        "render", RECIPE, "--target", "cloud-init", "--power-off", "--registry", f"{registry.address}/test",
        "--registry-ca", str(registry.ca), env=registry.env,
    )  # fmt: skip
    assert rendered.returncode == 0, rendered.stdout + rendered.stderr
    folder = tmp_path_factory.mktemp("baked")
    with booted_host(engine, host_image, rendered.stdout, folder, extra_ports=(443, 80)) as host:
        assert wait_until(lambda: _state(host) == "exited", timeout=PROVISION_TIMEOUT_S, pause=3), _state(host)
        archive = subprocess.run(
            ["docker", "cp", f"{host.container.id}:/opt/tm351", "-"], capture_output=True, check=False
        )
        listing = subprocess.run(["tar", "-t"], input=archive.stdout, capture_output=True, check=True).stdout.decode()
        yield Baked(host, rendered.stdout, listing.splitlines())


def test_a_baked_host_powers_off_without_secrets_and_makes_its_own_on_first_boot(baked):
    """What an AMI bake does, on the emulated host: provision with --power-off, the machine stops by itself,
    holding no secret and no running stack; its next boot (a machine made from the image) makes its own."""
    assert "tm351/compose.yaml" in baked.listing
    assert "tm351/compose.tls.yaml" in baked.listing
    assert not [line for line in baked.listing if line.startswith(("tm351/secrets/", "tm351/tls/"))], baked.listing

    host = baked.host
    host.container.start()
    assert wait_until(lambda: _answers_jupyter(host), timeout=300, pause=3), host.sh(
        "journalctl --no-pager -u tm351 -n 40"
    ).stdout
    password = host.password()
    assert len(password) >= 16
    assert password not in baked.user_data
    assert "ready for imaging" in host.sh("cat /var/log/cloud-init-output.log").stdout


def test_a_machine_made_from_the_image_serves_https_only_with_the_login_from_its_user_data(baked):
    """`up --provider aws` on the emulated host: the image boots as a new instance whose user-data carries only
    the login's hash; the student's computer pins the certificate the console reports, and logs in over it."""
    host = baked.host
    if _state(host) == "running":
        host.container.stop(timeout=120)
    password = secrets.token_urlsafe(18)
    user_data = instance_user_data(InstanceConfig(hash_password(password)))
    host.reseed(user_data, f"i-{uuid.uuid4().hex[:17]}")
    host.container.start()
    https = f"https://127.0.0.1:{host.ports[443]}"

    def reported() -> str | None:
        return fingerprint_from_console(host.sh("journalctl --no-pager -t tm351-provision").stdout)

    def answers() -> bool:
        try:
            return reported() is not None and pinned_get(f"{https}/healthz", reported() or "").status == 200
        except (urllib3.exceptions.HTTPError, FingerprintMismatch):
            return False

    assert wait_until(answers, timeout=300, pause=3), host.sh(
        "journalctl --no-pager -u tm351 -n 60; cloud-init status --long"
    ).stdout
    fingerprint = reported() or ""
    served = ssl.PEM_cert_to_DER_cert(ssl.get_server_certificate(("127.0.0.1", host.ports[443])))
    assert fingerprint == normalise_fingerprint(hashlib.sha256(served).hexdigest())
    # The stack may answer before cloud-init's last stage has ended.
    finished = host.sh("timeout 120 cloud-init status --wait").stdout
    assert "status: done" in finished, host.sh("cloud-init status --long").stdout

    status = f"{https}/jupyter/api/status"
    assert pinned_get(status, fingerprint, auth=("student", password)).status == 200
    assert pinned_get(status, fingerprint).status == 401
    assert pinned_get(status, fingerprint, auth=("student", "not-the-password")).status == 401
    # The dashboard checks the login itself, against the same hash.
    assert pinned_get(f"{https}/dashboard/api/services", fingerprint, auth=("student", password)).status == 200
    with pytest.raises(FingerprintMismatch):
        pinned_get(status, ":".join(["00"] * 32), auth=("student", password))
    # The health polling of `up --provider aws` itself, against this real gateway.
    assert gateway_health(f"{https}/healthz", fingerprint, None) == "ok"
    with pytest.raises(FingerprintMismatch):
        gateway_health(f"{https}/healthz", ":".join(["00"] * 32), None)

    # Plain HTTP never asks for the login: it only redirects, on port 80 and on the usual port alike.
    for port in (host.ports[80], host.port):
        plain = requests.get(f"http://127.0.0.1:{port}/jupyter/api/status", allow_redirects=False, timeout=10)
        assert plain.status_code == 301, plain.text
        assert plain.headers["Location"] == "https://127.0.0.1/jupyter/api/status"
        assert "WWW-Authenticate" not in plain.headers
    # ...except for ACME's HTTP challenge, served from the host's webroot.
    challenges = "/.well-known/acme-challenge"
    host.sh(f"mkdir -p /opt/tm351/acme{challenges} && echo probe > /opt/tm351/acme{challenges}/t")
    challenge = requests.get(f"http://127.0.0.1:{host.ports[80]}{challenges}/t", timeout=10)
    assert (challenge.status_code, challenge.text) == (200, "probe\n")

    # The key was made on the machine, for root alone; the user-data held neither it nor the password.
    modes = host.sh("stat -c '%a %U' /opt/tm351/tls /opt/tm351/tls/key.pem").stdout.splitlines()
    assert modes == ["700 root", "600 root"]
    key = host.sh("cat /opt/tm351/tls/key.pem").stdout
    assert "PRIVATE KEY" in key
    assert "PRIVATE KEY" not in user_data and key.splitlines()[1] not in user_data
    assert password not in user_data
    assert host.sh("cat /opt/tm351/secrets/password").stdout.startswith("$2b$")
    assert host.sh("docker exec tm351-gateway-1 stat -c '%a %U' /run/gateway/tls/key.pem").stdout.strip() == (
        "600 www-data"
    )
    # Every start reports the same certificate: a student's pin stays valid across reboots.
    again = host.sh("/opt/tm351/tls.sh")
    assert again.returncode == 0, again.stderr
    assert fingerprint_from_console(again.stdout) == fingerprint


def test_with_a_domain_the_stack_starts_on_a_certificate_of_its_own_until_lets_encrypt_answers(baked):
    """TM351_TLS=acme: the gateway's health check asks for the domain, so the certificate the machine makes first
    names it too, and the stack comes up (answering ACME's challenge on port 80) before certbot runs. certbot
    itself does not run here: no ACME server is reachable."""
    host = baked.host
    if _state(host) != "running":
        host.container.start()
    env = instance_env(InstanceConfig(hash_password(secrets.token_urlsafe(18)), domain=DOMAIN))
    host.sh(f"printf %s {shlex.quote(env)} > /opt/tm351/instance.env && rm -rf /opt/tm351/tls")
    restarted = host.sh("systemctl restart tm351.service")
    assert restarted.returncode == 0, host.sh("journalctl --no-pager -u tm351 -n 60").stdout
    names = host.sh("openssl x509 -in /opt/tm351/tls/cert.pem -noout -ext subjectAltName").stdout
    assert f"DNS:{DOMAIN}" in names and "DNS:localhost" in names
    fingerprint = fingerprint_from_console(host.sh("journalctl --no-pager -t tm351-provision").stdout) or ""
    assert pinned_get(f"https://127.0.0.1:{host.ports[443]}/healthz", fingerprint).status == 200
    health = host.sh("docker inspect --format '{{.State.Health.Status}}' tm351-gateway-1").stdout.strip()
    assert health == "healthy"
    assert host.sh("systemctl is-enabled tm351-acme.service").stdout.strip() == "enabled"


def _answers_jupyter(host: Host) -> bool:
    """The stack is up with the password this machine made for itself."""
    try:
        password = host.password()
        return bool(password) and host.get("/jupyter/api/status", password=password).status_code == 200
    except requests.RequestException:
        return False


def _state(host: Host) -> str:
    host.container.reload()
    return host.container.status


@pytest.mark.parametrize(
    "config",
    [{}, {"domain": "vce.example.org"}, {"domain": "vce.example.org", "acme_email": "tutor@example.org"}],
)
def test_cloud_init_accepts_the_instance_user_data(host_image, config, tmp_path):
    user_data = instance_user_data(InstanceConfig(hash_password("x" * 24), **config))
    assert_valid_cloud_config(host_image, user_data, tmp_path)


@pytest.mark.parametrize("power_off", [False, True])
@pytest.mark.parametrize("recipe", list(load_shelf().recipes))
def test_cloud_init_accepts_the_user_data_of_every_recipe(host_image, recipe, power_off, tmp_path):
    rendered = run_cli("render", recipe, "--target", "cloud-init", *(["--power-off"] if power_off else []))
    assert rendered.returncode == 0, rendered.stderr
    assert_valid_cloud_config(host_image, rendered.stdout, tmp_path)


def assert_valid_cloud_config(host_image: str, user_data: str, folder: Path) -> None:
    """cloud-init's own schema check, run by the cloud-init of the emulated Debian host."""
    (folder / "user-data").write_text(user_data)
    checked = subprocess.run(
        ["docker", "run", "--rm", "-v", f"{folder}:/check:ro", host_image,
         "cloud-init", "schema", "--config-file", "/check/user-data"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Valid cloud-config" in checked.stdout
