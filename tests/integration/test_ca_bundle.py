"""`build --ca-cert` with an institution's bundle past BuildKit's 500 KiB secret limit: the real build of an app image
succeeds, its downloads over TLS still verify, and no layer keeps the bundle."""

from __future__ import annotations

import re
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.certificates import distinct_cas, write_bundle
from tests.helpers.cli import run_cli
from tm351vce.images.trust import BUNDLE_NAME
from tm351vce.shelf.catalogue import load_shelf

# The dashboard's image: the foundation's, then pip installing its requirements from PyPI through the bundle.
APP = "dashboard"
BUILDKIT_SECRET_LIMIT = 500 * 1024


@pytest.fixture(scope="module")
def institution_cas() -> list[str]:
    return distinct_cas(BUILDKIT_SECRET_LIMIT + 100 * 1024, name="tm351 test institution CA")


@pytest.fixture(scope="module")
def built_with_big_bundle(built, institution_cas, tmp_path_factory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("ca-bundle")
    bundle = write_bundle(folder / "institution.pem", institution_cas)
    assert bundle.stat().st_size > BUILDKIT_SECRET_LIMIT
    cache = folder / "cache"
    built = run_cli("build", APP, "--ca-cert", str(bundle), env={"XDG_CACHE_HOME": str(cache)}, timeout=1800)
    log = cache / "tm351" / "build.log"
    try:
        assert built.returncode == 0, built.stdout + built.stderr
        yield log.read_text(errors="replace")
    finally:
        # The image is the shelf's own tag: build it again as the other tests expect it (cached, so quick).
        run_cli("build", APP, timeout=1800)


def test_a_bundle_past_the_secret_limit_builds_and_pip_verifies_pypi_through_it(built_with_big_bundle):
    log = built_with_big_bundle
    # The certificates differ from any earlier build's, so the step that installs from PyPI ran again, verifying
    # its TLS connections with the bundle (on a network that inspects TLS it fails without the host's CA in it).
    pip_step = re.search(r"^(#\d+) \[dashboard +\d+/\d+\] RUN .*tm351-pip install", log, re.M)
    assert pip_step, log[-3000:]
    assert f"{pip_step[1]} CACHED" not in log, "the step that installs from PyPI did not run"
    assert "Successfully installed" in log, log[-3000:]
    assert "CERTIFICATE_VERIFY_FAILED" not in log


def test_no_layer_of_the_image_keeps_the_bundle(built_with_big_bundle, institution_cas, tmp_path):
    """Every layer of the app image, the foundation's and the base image's among them."""
    shelf = load_shelf()
    image = shelf.app(APP).image_ref(shelf.version)
    markers = [pem.strip().encode() for pem in (institution_cas[0], institution_cas[len(institution_cas) // 2])]
    found, names = _search_layers(image, markers, tmp_path)
    assert found == [], f"the bundle's certificates are in the layers {found}"
    assert not [name for name in names if Path(name).name == BUNDLE_NAME], names


def _search_layers(image: str, markers: list[bytes], where: Path) -> tuple[list[str], list[str]]:
    """The layers (of `docker save`) holding any of markers, and the names of every file in every layer."""
    saved = where / "image.tar"
    subprocess.run(["docker", "save", "-o", str(saved), image], check=True)
    found: list[str] = []
    names: list[str] = []
    with tarfile.open(saved) as outer:
        for member in outer.getmembers():
            if not member.name.endswith("layer.tar"):
                continue
            with tarfile.open(fileobj=outer.extractfile(member)) as layer:
                for entry in layer.getmembers():
                    names.append(entry.name)
                    if entry.isfile() and entry.size > 0:
                        content = layer.extractfile(entry)
                        data = content.read() if content is not None else b""
                        if any(marker in data for marker in markers):
                            found.append(f"{member.name}:{entry.name}")
    saved.unlink()
    return found, names
