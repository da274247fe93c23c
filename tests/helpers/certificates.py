"""CA certificates made for the tests: many distinct ones quickly (one key signs them all)."""

from __future__ import annotations

import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def distinct_cas(total_bytes: int, name: str = "tm351 test CA") -> list[str]:
    """Self-signed CA certificates in PEM, each with its own subject and serial, together more than total_bytes."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    certificates: list[str] = []
    size = 0
    while size <= total_bytes:
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} {len(certificates)}")])
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
        certificates.append(pem)
        size += len(pem.encode())
    return certificates


def write_bundle(path: Path, certificates: list[str]) -> Path:
    path.write_text("".join(certificates))
    return path
