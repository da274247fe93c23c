"""Per-student user-data for an instance of a baked image: it only configures the machine (the login's hash and how
to serve HTTPS); the image already holds the stack, and the machine makes its other secrets and its TLS key itself."""

from __future__ import annotations

import re
from dataclasses import dataclass

import bcrypt

from tm351vce.provision.cloud_init import to_user_data
from tm351vce.shelf.constants import HOST_SECRETS_DIR, INSTALL_DIR, LOGIN_SECRET

PASSWORD_PATH = HOST_SECRETS_DIR / LOGIN_SECRET
INSTANCE_ENV_PATH = INSTALL_DIR / "instance.env"
# nginx's auth_basic checks the hash on every request, so it must be cheap. The password is a generated
# 24-character random secret (about 144 bits): no offline guessing gets near it, whatever the cost factor,
# so a salted bcrypt at a low cost is enough; the salt keeps equal passwords from having equal hashes.
BCRYPT_ROUNDS = 5
_BCRYPT_HASH = re.compile(r"\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}")
_DOMAIN = re.compile(r"(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,63}")


@dataclass(frozen=True)
class InstanceConfig:
    password_hash: str
    # With a domain (which must point at the instance), the certificate comes from Let's Encrypt; without
    # one, the instance makes a self-signed certificate and prints its fingerprint on the console.
    domain: str | None = None
    acme_email: str | None = None

    def __post_init__(self) -> None:
        if not _BCRYPT_HASH.fullmatch(self.password_hash):
            raise ValueError("password_hash must be a bcrypt hash (hash_password), never the password itself")
        if self.domain and not _DOMAIN.fullmatch(self.domain):
            raise ValueError(f"not a DNS name: {self.domain!r}")
        if self.acme_email and not self.domain:
            raise ValueError("acme_email goes with a domain: Let's Encrypt certifies a domain, not an address")
        if self.acme_email and not _EMAIL.fullmatch(self.acme_email):
            raise ValueError(f"not an email address: {self.acme_email!r}")


def hash_password(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=BCRYPT_ROUNDS)).decode()


def instance_env(config: InstanceConfig) -> str:
    """/opt/tm351/instance.env: read by tm351.service, tls.sh and compose.sh (values are checked, never quoted)."""
    if not config.domain:
        return "TM351_TLS=self-signed\n"
    email = f"TM351_ACME_EMAIL={config.acme_email}\n" if config.acme_email else ""
    return f"TM351_TLS=acme\nTM351_DOMAIN={config.domain}\n{email}"


def instance_user_data(config: InstanceConfig) -> str:
    """A #cloud-config that writes the login's hash and instance.env before tm351.service first starts."""
    return to_user_data(
        {
            "write_files": [
                {
                    "path": str(PASSWORD_PATH),
                    "permissions": "0600",
                    "owner": "tm351:tm351",
                    "content": config.password_hash + "\n",
                },
                {
                    "path": str(INSTANCE_ENV_PATH),
                    "permissions": "0644",
                    "owner": "root:root",
                    "content": instance_env(config),
                },
            ]
        }
    )
