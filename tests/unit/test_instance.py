"""An instance of a baked image: its per-student user-data (the login's hash, the TLS mode), the HTTPS override
every host bundle carries, and how a student's computer pins the certificate the instance reports."""

from __future__ import annotations

import hashlib
import http.server
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import bcrypt
import pytest

from tests.helpers.documents import parse_yaml
from tests.helpers.net import serving
from tm351vce.provision.bundle import HostSettings, host_bundle
from tm351vce.provision.instance import InstanceConfig, hash_password, instance_user_data
from tm351vce.provision.tls import FingerprintMismatch, fingerprint_from_console, normalise_fingerprint, pinned_get
from tm351vce.shelf.catalogue import load_shelf

SHELF = load_shelf()
PASSWORD = "Zq3-vN8_pL2xR7tY4kW9sB1m"  # shaped like a generated one: 24 characters of base64url


def written(user_data: str) -> dict[str, dict]:
    return {entry["path"]: entry for entry in parse_yaml(user_data)["write_files"]}


def test_the_user_data_carries_the_hash_never_the_password():
    password_hash = hash_password(PASSWORD)
    user_data = instance_user_data(InstanceConfig(password_hash))
    assert user_data.startswith("#cloud-config\n")
    assert PASSWORD not in user_data
    assert "PRIVATE KEY" not in user_data
    files = written(user_data)
    assert set(files) == {"/opt/tm351/secrets/password", "/opt/tm351/instance.env"}
    secret = files["/opt/tm351/secrets/password"]
    assert (secret["permissions"], secret["owner"]) == ("0600", "tm351:tm351")
    assert secret["content"].strip() == password_hash
    assert bcrypt.checkpw(PASSWORD.encode(), secret["content"].strip().encode())
    assert files["/opt/tm351/instance.env"]["content"] == "TM351_TLS=self-signed\n"
    # Nothing runs: the baked image's tm351.service reads these files when it first starts.
    assert set(parse_yaml(user_data)) == {"write_files"}


def test_the_hash_is_salted_and_cheap_enough_for_a_check_on_every_request():
    first, second = hash_password(PASSWORD), hash_password(PASSWORD)
    assert first != second
    assert first.startswith("$2b$05$")


def test_a_domain_asks_for_lets_encrypt():
    config = InstanceConfig(hash_password(PASSWORD), domain="vce.example.org", acme_email="tutor@example.org")
    env = written(instance_user_data(config))["/opt/tm351/instance.env"]["content"]
    assert env.splitlines() == ["TM351_TLS=acme", "TM351_DOMAIN=vce.example.org", "TM351_ACME_EMAIL=tutor@example.org"]
    bare = written(instance_user_data(InstanceConfig(hash_password(PASSWORD), domain="vce.example.org")))
    assert "ACME_EMAIL" not in bare["/opt/tm351/instance.env"]["content"]


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"password_hash": PASSWORD}, "bcrypt hash"),
        ({"domain": "vce.example.org\nTM351_TLS=off"}, "DNS name"),
        ({"acme_email": "tutor@example.org"}, "goes with a domain"),
        ({"domain": "vce.example.org", "acme_email": "x; rm -rf /"}, "email"),
    ],
)
def test_a_plaintext_password_or_a_value_that_could_break_instance_env_is_refused(fields, problem):
    with pytest.raises(ValueError, match=problem):
        InstanceConfig(**{"password_hash": hash_password(PASSWORD), **fields})


def test_every_host_bundle_carries_the_https_override_and_its_scripts():
    files = {file.name: file for file in host_bundle(SHELF, SHELF.recipe("jupyter"), HostSettings(for_image=True))}
    override = parse_yaml(files["compose.tls.yaml"].content)
    gateway = override["services"]["gateway"]
    assert gateway["environment"]["GATEWAY_TLS"] == "on"
    assert {(port["published"], port["target"]) for port in gateway["ports"]} == {("443", 8443), ("80", 8080)}
    assert {(mount["source"], mount["target"], mount["read_only"]) for mount in gateway["volumes"]} == {
        ("/opt/tm351/tls", "/run/tls", True),
        ("/opt/tm351/acme", "/run/acme", True),
    }
    assert files["tls.sh"].mode == files["compose.sh"].mode == 0o755
    unit = files["tm351.service"].content
    assert "After=docker.service network-online.target cloud-init.service" in unit
    assert "EnvironmentFile=-/opt/tm351/instance.env" in unit
    assert unit.index("ExecStartPre=+/opt/tm351/secrets.sh") < unit.index("ExecStartPre=+/opt/tm351/tls.sh")
    assert "ExecStart=/opt/tm351/compose.sh up" in unit
    assert "After=tm351.service" in files["tm351-acme.service"].content
    assert "TM351_GATEWAY=gateway" in files["settings.env"].content


FINGERPRINT = ":".join(["AB"] * 31 + ["01"])


def test_the_last_fingerprint_on_the_console_is_the_current_one():
    console = (
        "[   12.0] cloud-init[512]: TM351-PROVISION: OK: recipe jupyter\r\n"
        f"TM351-TLS: sha256 {':'.join(['0F'] * 32)}\r\n"
        "[   80.1] reboot\n"
        f"<14>Jan  1 tm351-provision: TM351-TLS: sha256 {FINGERPRINT.lower()}\n"
    )
    assert fingerprint_from_console(console) == FINGERPRINT
    assert fingerprint_from_console("TM351-PROVISION: OK\nTM351-TLS: sha256 AB:CD\n") is None
    assert normalise_fingerprint(FINGERPRINT.replace(":", "").lower()) == FINGERPRINT


class _Recorder(http.server.BaseHTTPRequestHandler):
    seen: ClassVar[list[str | None]] = []

    def do_GET(self) -> None:
        self.seen.append(self.headers.get("Authorization"))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def https_server(tmp_path) -> Iterator[tuple[str, str]]:
    """A real HTTPS server with a self-signed certificate for no hostname at all: its URL and fingerprint."""
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
         "-subj", "/CN=elsewhere", "-keyout", str(tmp_path / "key.pem"), "-out", str(tmp_path / "cert.pem")],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server = http.server.HTTPServer(("127.0.0.1", 0), _Recorder)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    _Recorder.seen = []
    der = ssl.PEM_cert_to_DER_cert(Path(tmp_path / "cert.pem").read_text())
    with serving(server):
        yield f"https://127.0.0.1:{server.server_address[1]}/", hashlib.sha256(der).hexdigest()


@pytest.mark.needs("openssl")
def test_a_pinned_get_trusts_only_the_reported_certificate(https_server):
    url, fingerprint = https_server
    answer = pinned_get(url, normalise_fingerprint(fingerprint), auth=("student", PASSWORD))
    assert (answer.status, answer.data) == (200, b"ok")
    assert _Recorder.seen[-1] and _Recorder.seen[-1].startswith("Basic ")

    _Recorder.seen = []
    with pytest.raises(FingerprintMismatch, match="not the one its console reported"):
        pinned_get(url, FINGERPRINT, auth=("student", PASSWORD))
    assert _Recorder.seen == []  # refused before the request, so the login never reached it
    with pytest.raises(ValueError, match="https"):
        pinned_get(url.replace("https", "http"), fingerprint)
