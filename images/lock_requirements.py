#!/usr/bin/env python3
"""Pin an image's requirements.in into its requirements.txt, resolved for the Python in the image.

    python images/lock_requirements.py images/jupyter [images/dashboard ...]

The images run Debian bookworm's Python 3.11.2, which some newer releases refuse (Requires-Python
>=3.11.5), so pip resolves for that version and for wheels only, without installing anything.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

IMAGE_PYTHON = "3.11.2"
HEADER = f"""# Pinned from requirements.in for Debian bookworm's Python {IMAGE_PYTHON} by images/lock_requirements.py;
# edit requirements.in, then run that script again.
"""


def lock(image_dir: Path) -> None:
    with tempfile.TemporaryDirectory() as workdir:
        report = Path(workdir) / "report.json"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--dry-run",
                "--ignore-installed",
                "--python-version",
                IMAGE_PYTHON,
                "--only-binary",
                ":all:",
                "--target",
                workdir,
                "--requirement",
                str(image_dir / "requirements.in"),
                "--report",
                str(report),
            ],
            check=True,
        )
        installed = json.loads(report.read_text())["install"]
    names = sorted((item["metadata"]["name"].lower(), item["metadata"]["version"]) for item in installed)
    pins = [f"{name}=={version}" for name, version in names]
    (image_dir / "requirements.txt").write_text(HEADER + "\n".join(pins) + "\n")
    print(f"{image_dir / 'requirements.txt'}: {len(pins)} packages")


if __name__ == "__main__":
    for folder in sys.argv[1:] or ["images/jupyter", "images/dashboard"]:
        lock(Path(folder))
