"""The gateway image with GATEWAY_TLS=on, on its own: a certificate chain like Let's Encrypt's (leaf and
intermediate), the login as a bcrypt hash, and plain HTTP that only redirects or answers ACME's challenge."""

from __future__ import annotations

import hashlib
import ssl
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.helpers.net import free_port, wait_until
from tm351vce.compose.gateway import render_routes
from tm351vce.provision.instance import hash_password
from tm351vce.provision.tls import normalise_fingerprint, pinned_get
from tm351vce.shelf.catalogue import load_shelf

pytestmark = pytest.mark.needs("openssl")

SHELF = load_shelf()
DOMAIN = "vce.example.org"
PASSWORD = "Zq3-vN8_pL2xR7tY4kW9sB1m"


@dataclass
class Gateway:
    https: int
    http: int
    fingerprint: str
    container: str

    def health(self) -> str:
        inspected = subprocess.run(
            ["docker", "inspect", "--format", "{{.State.Health.Status}}", self.container],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        return inspected.stdout.strip()


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _chain(folder: Path) -> None:
    """A root, an intermediate and a leaf for DOMAIN; cert.pem is the leaf and the intermediate, as certbot's
    fullchain.pem is (the root is not in it, so the health check must accept the chain from the intermediate)."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    _openssl("req", "-x509", *ec, "-days", "2", "-subj", "/CN=test root", "-keyout", str(folder / "root.key"),
             "-out", str(folder / "root.pem"))  # fmt: skip
    (folder / "ca.ext").write_text("basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n")
    (folder / "leaf.ext").write_text(f"subjectAltName=DNS:{DOMAIN}\nextendedKeyUsage=serverAuth\n")
    for name, issuer, extensions in (("mid", "root", "ca.ext"), ("leaf", "mid", "leaf.ext")):
        _openssl("req", "-new", *ec, "-subj", f"/CN=test {name}", "-keyout", str(folder / f"{name}.key"),
                 "-out", str(folder / f"{name}.csr"))  # fmt: skip
        _openssl("x509", "-req", "-days", "2", "-in", str(folder / f"{name}.csr"), "-CA", str(folder / f"{issuer}.pem"),
                 "-CAkey", str(folder / f"{issuer}.key"), "-CAcreateserial", "-extfile", str(folder / extensions),
                 "-out", str(folder / f"{name}.pem"))  # fmt: skip
    tls = folder / "tls"
    tls.mkdir(mode=0o700)
    (tls / "cert.pem").write_text((folder / "leaf.pem").read_text() + (folder / "mid.pem").read_text())
    (tls / "key.pem").write_text((folder / "leaf.key").read_text())
    (tls / "key.pem").chmod(0o600)


@pytest.fixture(scope="module")
def gateway(engine, built, tmp_path_factory) -> Iterator[Gateway]:
    folder = tmp_path_factory.mktemp("gateway-tls")
    _chain(folder)
    secrets = folder / "secrets"
    secrets.mkdir(mode=0o700)
    (secrets / "password").write_text(hash_password(PASSWORD) + "\n")
    (secrets / "jupyter_token").write_text("t" * 32 + "\n")
    challenges = folder / "acme" / ".well-known" / "acme-challenge"
    challenges.mkdir(parents=True)
    (challenges / "token-1").write_text("token-1.thumbprint")
    recipe = SHELF.recipe("jupyter")
    app = SHELF.apps["gateway"]
    (folder / "routes.conf").write_text(render_routes(SHELF, recipe, app))

    name = f"tm351-test-gateway-{uuid.uuid4().hex[:8]}"
    https, http = free_port(), free_port()
    # A network of its own: Docker's DNS answers there, so a route to an absent app fails fast with 502.
    subprocess.run(["docker", "network", "create", name], check=True, capture_output=True)
    try:
        subprocess.run(
            [
                "docker", "run", "-d", "--name", name, "--network", name, "--cap-drop", "ALL",
                *[f"--cap-add={capability}" for capability in app.capabilities],
                "--security-opt", "no-new-privileges:true", "--memory", f"{app.memory_mib}m",
                # The image leaves the health check's timing to the shelf, as Compose renders it.
                f"--health-interval={app.healthcheck.interval_s}s", f"--health-timeout={app.healthcheck.timeout_s}s",
                f"--health-retries={app.healthcheck.retries}",
                f"--health-start-period={app.healthcheck.start_period_s}s",
                "-e", "GATEWAY_TLS=on", "-e", f"GATEWAY_TLS_NAME={DOMAIN}",
                "-v", f"{folder / 'routes.conf'}:/etc/nginx/conf.d/tm351.conf:ro",
                "-v", f"{secrets}:/run/secrets:ro", "-v", f"{folder / 'tls'}:/run/tls:ro",
                "-v", f"{folder / 'acme'}:/run/acme:ro",
                "-p", f"127.0.0.1:{https}:8443", "-p", f"127.0.0.1:{http}:{app.port}",
                f"{app.image}:{SHELF.version}",
            ],
            check=True, capture_output=True,
        )  # fmt: skip
        der = ssl.PEM_cert_to_DER_cert((folder / "leaf.pem").read_text())
        yield Gateway(https, http, normalise_fingerprint(hashlib.sha256(der).hexdigest()), name)
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
        subprocess.run(["docker", "network", "rm", name], capture_output=True, check=False)


def test_it_is_healthy_with_a_chain_for_its_domain(gateway):
    assert wait_until(lambda: gateway.health() == "healthy", timeout=30), subprocess.run(
        ["docker", "logs", gateway.container], capture_output=True, text=True, check=False
    ).stderr


def test_https_asks_for_the_login_and_takes_the_hash(gateway):
    url = f"https://127.0.0.1:{gateway.https}"
    assert wait_until(lambda: gateway.health() == "healthy", timeout=30)
    health = pinned_get(f"{url}/healthz", gateway.fingerprint)
    assert health.status == 200
    assert health.headers["Strict-Transport-Security"].startswith("max-age=")
    assert pinned_get(f"{url}/jupyter/api/status", gateway.fingerprint).status == 401
    wrong = pinned_get(f"{url}/jupyter/api/status", gateway.fingerprint, auth=("student", PASSWORD[:-1]))
    assert wrong.status == 401
    # The login passes; Jupyter itself is not running here.
    right = pinned_get(f"{url}/jupyter/api/status", gateway.fingerprint, auth=("student", PASSWORD))
    assert right.status == 502


def test_plain_http_only_redirects_and_answers_the_acme_challenge(gateway):
    url = f"http://127.0.0.1:{gateway.http}"
    assert wait_until(lambda: gateway.health() == "healthy", timeout=30)
    for path in ("/", "/jupyter/api/status?x=1", "/healthz"):
        plain = requests.get(f"{url}{path}", auth=("student", PASSWORD), allow_redirects=False, timeout=10)
        assert plain.status_code == 301, path
        assert plain.headers["Location"] == f"https://127.0.0.1{path}"
    challenge = requests.get(f"{url}/.well-known/acme-challenge/token-1", timeout=10)
    assert (challenge.status_code, challenge.text) == (200, "token-1.thumbprint")
    assert requests.get(f"{url}/.well-known/acme-challenge/other", timeout=10).status_code == 404
