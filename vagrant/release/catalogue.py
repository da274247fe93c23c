"""A release's checksums and its box catalogue: the JSON `vagrant box add URL` reads, one entry per version."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from tm351vce.shelf.errors import UsageProblem

CHECKSUMS = "SHA256SUMS"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def merge_checksums(existing: str, sums: dict[str, str]) -> str:
    """SHA256SUMS text (`sha256sum -c` reads it) with these files' sums replacing any older line for them."""
    lines = {}
    for line in existing.splitlines():
        digest, _, name = line.partition("  ")
        if digest and name:
            lines[name] = digest
    lines.update(sums)
    return "".join(f"{lines[name]}  {name}\n" for name in sorted(lines))


def merge_catalogue(
    existing: dict[str, Any] | None, name: str, description: str, version: str, providers: list[dict[str, str]]
) -> dict[str, Any]:
    """The catalogue with this version's providers, replacing the same version if it was released before."""
    catalogue = existing or {"name": name, "description": description, "versions": []}
    if catalogue.get("name") != name:
        raise UsageProblem(
            f"The catalogue in the output folder is for box {catalogue.get('name')!r}, not {name!r}: "
            "give each box its own folder with -o."
        )
    catalogue["description"] = description
    versions = [entry for entry in catalogue.get("versions", []) if entry.get("version") != version]
    versions.append({"version": version, "providers": providers})
    catalogue["versions"] = sorted(versions, key=lambda entry: _version_key(entry["version"]), reverse=True)
    return catalogue


def provider_entry(provider: str, url: str, checksum: str) -> dict[str, str]:
    return {"name": provider, "url": url, "checksum_type": "sha256", "checksum": checksum}


def read_catalogue(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        catalogue = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise UsageProblem(f"{path} is not a box catalogue (JSON): move it away or choose another -o.") from None
    if not isinstance(catalogue, dict):
        raise UsageProblem(f"{path} is not a box catalogue (a JSON object): move it away or choose another -o.")
    return catalogue


def _version_key(version: str) -> tuple[tuple[int, int, str], ...]:
    return tuple(
        (1, int(part), "") if part.isdigit() else (0, 0, part) for part in version.replace("-", ".").split(".")
    )
