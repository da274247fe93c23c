"""The CA bundle a build trusts, passed to BuildKit as one secret: each certificate once, within BuildKit's limit."""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterable
from pathlib import Path

import certifi

from tm351vce.shelf.errors import UsageProblem

# BuildKit refuses a secret larger than this ("secret cacert too big. max size 500KiB").
SECRET_LIMIT = 500 * 1024
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
    """Every distinct certificate of the sources, once: bundles overlap (pip's and the host's are mostly the same
    CAs, and a user's --ca-cert is often the whole system bundle), which is what pushes them past the limit."""
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
    bundle = "\n".join(kept) + "\n"
    size = len(bundle.encode())
    if size > SECRET_LIMIT:
        raise UsageProblem(
            f"The build would trust {len(kept)} distinct CA certificates ({size // 1024} KiB), more than BuildKit "
            f"passes to a build ({SECRET_LIMIT // 1024} KiB): give --ca-cert only the CAs your network adds."
        )
    return bundle
