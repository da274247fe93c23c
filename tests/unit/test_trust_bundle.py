"""Any CA bundle the user gives reaches the build whole, whatever its size: each certificate once, in every build
context, mounted by the build steps that download."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.helpers.certificates import distinct_cas, write_bundle
from tm351vce.images.build import BuildTarget, build_context, build_project
from tm351vce.images.trust import BUNDLE_MOUNT, BUNDLE_NAME, merged_bundle, trusted_sources
from tm351vce.shelf.catalogue import load_shelf
from tm351vce.shelf.errors import UsageProblem

BEGIN = "-----BEGIN CERTIFICATE-----"
# BuildKit refuses a secret larger than this ("secret cacert too big. max size 500KiB").
BUILDKIT_SECRET_LIMIT = 500 * 1024
IMAGES = Path(__file__).resolve().parents[2] / "images"
MOUNT = f"--mount=type=bind,source={BUNDLE_NAME},target={BUNDLE_MOUNT}"


@pytest.fixture(scope="module")
def many_cas() -> list[str]:
    return distinct_cas(BUILDKIT_SECRET_LIMIT + 64 * 1024)


@pytest.mark.needs("openssl")
def test_a_bundle_that_repeats_the_system_cas_is_merged_to_each_certificate_once(tmp_path):
    # The README's advice on an inspecting network: --ca-cert with the whole system bundle, plus the proxy's CA.
    system = trusted_sources(None)
    proxy = tmp_path / "proxy.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-subj", "/CN=Inspecting proxy", "-keyout", str(tmp_path / "proxy.key"), "-out", str(proxy), "-days", "1"],
        check=True, capture_output=True,
    )  # fmt: skip
    given = tmp_path / "given.pem"
    given.write_text("".join(path.read_text() for path in system) + proxy.read_text())
    sources = trusted_sources(given)

    bundle = merged_bundle(sources, given)
    distinct = {block for path in sources for block in _blocks(path.read_text())}
    assert sorted(_blocks(bundle)) == sorted(distinct)
    assert len(bundle.encode()) < sum(len(path.read_bytes()) for path in sources)
    assert "".join(proxy.read_text().split()) in "".join(bundle.split())


def test_distinct_certificates_past_buildkit_s_secret_limit_are_all_kept(tmp_path, many_cas):
    given = write_bundle(tmp_path / "institution.pem", many_cas + many_cas[:10])
    sources = trusted_sources(given)

    bundle = merged_bundle(sources, given)
    assert len(bundle.encode()) > BUILDKIT_SECRET_LIMIT
    blocks = _blocks(bundle)
    assert len(blocks) == len(set(blocks)), "a certificate is in the bundle twice"
    assert set(_blocks("".join(many_cas))) <= set(blocks)
    assert set(_blocks(Path(sources[0]).read_text())) <= set(blocks), "pip's own CAs are trusted too"


def test_a_file_without_certificates_is_refused(tmp_path):
    empty = tmp_path / "notes.txt"
    empty.write_text("not a certificate\n")
    with pytest.raises(UsageProblem, match="holds no PEM certificate"):
        merged_bundle(trusted_sources(empty), empty)


def test_every_build_context_holds_the_bundle_and_the_project_passes_no_secret(tmp_path, many_cas):
    """The bundle travels in each image's build context, which has no size limit (a secret has 500 KiB)."""
    shelf = load_shelf()
    bundle = tmp_path / "bundle.pem"
    bundle.write_text(merged_bundle(trusted_sources(None)) + "".join(many_cas))
    targets = [BuildTarget(app.name, app.image_ref(shelf.version), app.build_dir, app.description)
               for app in shelf.apps.values()]  # fmt: skip
    contexts = {target.name: build_context(target.folder, tmp_path / target.name, None, bundle) for target in targets}
    for context in contexts.values():
        assert (context / BUNDLE_NAME).read_bytes() == bundle.read_bytes()

    document = build_project(shelf.version, targets, {"BASE_IMAGE": "debian:bookworm-slim"}, contexts)
    assert "secrets" not in document
    assert all("secrets" not in service["build"] for service in document["services"].values())


DOWNLOADS = re.compile(r"tm351-pip|CURL_CA_BUNDLE|" + re.escape(BUNDLE_MOUNT))


@pytest.mark.parametrize("dockerfile", sorted(IMAGES.glob("*/Dockerfile")), ids=lambda path: path.parent.name)
def test_each_step_that_downloads_mounts_the_bundle_and_none_copies_it(dockerfile):
    steps = _instructions(dockerfile.read_text())
    assert not [step for step in steps if "type=secret" in step], "the bundle is no longer a secret"
    for step in steps:
        if step.startswith("RUN") and DOWNLOADS.search(step):
            assert MOUNT in step, step
    copied = [step for step in steps if step.startswith(("COPY", "ADD")) and (BUNDLE_NAME in step or " . " in step)]
    assert copied == [], "a layer would keep the bundle"


def _instructions(text: str) -> list[str]:
    """The Dockerfile's instructions, each on one line (continuations joined, comments left out)."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = "\n".join(lines).replace("\\\n", " ")
    return [step.strip() for step in joined.splitlines() if step.strip()]


def _blocks(text: str) -> list[str]:
    """Each certificate's base64 body, without the comments some bundles put between them."""
    return ["".join(body.split()) for body in re.findall(BEGIN + r"(.*?)-----END CERTIFICATE-----", text, re.S)]
