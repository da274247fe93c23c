"""`--box NAME-OR-URL`: which release box a Vagrantfile starts, and where Vagrant adds it from."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tm351vce.shelf.errors import UsageProblem

BOX_NAME = re.compile(r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)?$")
# The file names `vm-release` gives its boxes: tm351-RECIPE-VERSION-PROVIDER.box
RELEASE_BOX_FILE = re.compile(r"^tm351-(?P<recipe>.+)-(?P<version>\d[^-]*)-(?P<provider>[a-z]+)\.box$")
FETCH_TIMEOUT_S = 30


@dataclass(frozen=True)
class ReleaseBox:
    name: str  # as Vagrant knows it, e.g. tm351/jupyter-postgres
    url: str | None  # the catalogue or box file Vagrant adds it from; None for a box already added by name

    @property
    def recipe(self) -> str | None:
        """The recipe a box built by `vm-release` carries (its name is tm351/RECIPE)."""
        owner, _, recipe = self.name.partition("/")
        return recipe if owner == "tm351" and recipe else None


def release_box(given: str, provider: str) -> ReleaseBox:
    """The box --box names: a box already added (NAME), a box catalogue or a .box file (URL or path)."""
    url = _as_url(given)
    if url is None:
        if not BOX_NAME.match(given):
            raise UsageProblem(
                f"--box {given!r} is neither a box name (like tm351/jupyter-postgres), an existing file, "
                "nor an http(s):// or file:// URL of a box catalogue."
            )
        return ReleaseBox(given, None)
    if urllib.parse.urlsplit(url).path.endswith(".box"):
        return ReleaseBox(_name_of_box_file(url, provider), url)
    return ReleaseBox(_name_in_catalogue(url, provider), url)


def _as_url(given: str) -> str | None:
    if urllib.parse.urlsplit(given).scheme in ("http", "https", "file"):
        return given
    path = Path(given).expanduser()
    if path.is_file():
        return path.absolute().as_uri()
    if given.endswith((".json", ".box")):
        raise UsageProblem(f"--box {given}: no such file. Give the path or URL of a release's catalogue or box.")
    return None


def _name_of_box_file(url: str, provider: str) -> str:
    file_name = Path(urllib.parse.unquote(urllib.parse.urlsplit(url).path)).name
    named = RELEASE_BOX_FILE.match(file_name)
    if named is None:
        raise UsageProblem(
            f"--box {url}: not a box written by `vm-release`, so its name is unknown. Add it yourself "
            "(`vagrant box add --name NAME FILE`) and give --box NAME."
        )
    if named["provider"] != provider:
        raise UsageProblem(f"--box {url} is a {named['provider']} box: give the {provider} one, or its catalogue.")
    return f"tm351/{named['recipe']}"


def _name_in_catalogue(url: str, provider: str) -> str:
    catalogue = _fetch_catalogue(url)
    name = catalogue.get("name")
    versions = catalogue.get("versions")
    if not isinstance(name, str) or not BOX_NAME.match(name) or not isinstance(versions, list):
        raise UsageProblem(f"--box {url} is not a box catalogue (it needs a name and versions).")
    offered = {
        entry.get("name")
        for version in versions
        if isinstance(version, dict)
        for entry in version.get("providers") or []
        if isinstance(entry, dict)
    }
    if provider not in offered:
        has = ", ".join(sorted(str(each) for each in offered)) or "none"
        raise UsageProblem(
            f"The catalogue {url} has no {provider} box (it has: {has}); "
            f"build one with `python3 tasks.py vm-release --format {provider}`."
        )
    return name


def _fetch_catalogue(url: str) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_S) as response:  # noqa: S310 - http(s) or file, checked
            text = response.read().decode("utf-8")
    except (urllib.error.URLError, OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "reason", error)
        raise UsageProblem(f"Could not read the box catalogue at {url} ({reason}): check the address.") from None
    try:
        catalogue = json.loads(text)
    except ValueError:
        raise UsageProblem(f"--box {url} is not a box catalogue (not JSON).") from None
    if not isinstance(catalogue, dict):
        raise UsageProblem(f"--box {url} is not a box catalogue (not a JSON object).")
    return catalogue
