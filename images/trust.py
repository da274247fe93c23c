"""The CA bundle a build trusts: pip's CAs, the host's and the user's --ca-cert, each certificate once.

The build steps that download bind-mount it from their build context (images/build.py), so it has no size limit
(BuildKit's secrets stop at 500 KiB) and no layer keeps it.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterable
from pathlib import Path

import certifi

from tm351vce.shelf.errors import UsageProblem

# The bundle's name in every build context, and where the Dockerfiles mount it for the steps that download.
BUNDLE_NAME = "ca-bundle.pem"
BUNDLE_MOUNT = "/run/tm351-ca-bundle.pem"
_CERTIFICATE = re.compile(r"-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----")


def trusted_sources(extra: Path | None) -> list[Path]:
    """pip's own CAs, the host's, and any given with --ca-cert (TLS-inspecting networks)."""
    sources = [Path(certifi.where())]
    host_bundle = ssl.get_default_verify_paths().openssl_cafile
    if host_bundle and Path(host_bundle).is_file():
        sources.append(Path(host_bundle))
    if extra is not None:
        sources.append(extra)
    return sources


def merged_bundle(sources: Iterable[Path], extra: Path | None = None) -> str:
    """Every distinct certificate of the sources, once, in the order first seen: pip's and the host's bundles are
    mostly the same CAs, and a user's --ca-cert is often the whole system bundle."""
    seen: set[str] = set()
    kept: list[str] = []
    for source in sources:
        found = _CERTIFICATE.findall(source.read_text(encoding="utf-8", errors="replace"))
        if source == extra and not found:
            raise UsageProblem(f"--ca-cert {source} holds no PEM certificate: give a CA bundle in PEM form.")
        for block in found:
            key = "".join(block.split())
            if key not in seen:
                seen.add(key)
                kept.append(block.strip())
    return "\n".join(kept) + "\n"
