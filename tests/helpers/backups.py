"""Backups made from a good one as an attacker or a fault would make them, for the tests of `restore`."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path


def rewritten(good: Path, target: Path, contents: dict[str, bytes]) -> Path:
    """A copy of a good backup with these files replaced or added, and its manifest's checksums (format 2) made
    to match them: what restore checks of the archive passes, so the test reaches what comes after."""
    with tarfile.open(good) as source:
        members = [(member, source.extractfile(member).read() if member.isfile() else None)
                   for member in source.getmembers()]  # fmt: skip
    manifest = json.loads(next(data for member, data in members if member.name == "manifest.json"))
    for name, data in contents.items():
        manifest.get("files", {})[name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    names = {member.name for member, data in members}
    added = [(tarfile.TarInfo(name), data) for name, data in contents.items() if name not in names]
    at = len(members) - 1 if members[-1][0].name == "manifest.json" else len(members)  # a last manifest stays last
    with tarfile.open(target, "w:gz") as copy:
        for member, data in [*members[:at], *added, *members[at:]]:
            data = json.dumps(manifest).encode() if member.name == "manifest.json" else contents.get(member.name, data)
            if data is not None:
                member.size = len(data)
            copy.addfile(member, io.BytesIO(data) if data is not None else None)
    return target


def dump_of(archive: Path, app: str) -> bytes:
    with tarfile.open(archive) as opened:
        return opened.extractfile(f"databases/{app}.dump").read()
