"""Any CA bundle the user gives reaches the build: overlapping bundles are merged below BuildKit's 500 KiB limit."""

from __future__ import annotations

import re
import subprocess

import pytest

from tm351vce.images.trust import SECRET_LIMIT, merged_bundle, trusted_sources
from tm351vce.shelf.errors import UsageProblem

BEGIN = "-----BEGIN CERTIFICATE-----"


def test_a_bundle_over_the_limit_that_repeats_the_system_cas_is_merged_below_it(tmp_path):
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
    raw = sum(len(path.read_bytes()) for path in sources)
    assert raw > SECRET_LIMIT, "the bundle the build is handed is over BuildKit's limit"

    bundle = merged_bundle(sources, given)
    assert len(bundle.encode()) <= SECRET_LIMIT
    distinct = {block for path in sources for block in _blocks(path.read_text())}
    assert len(_blocks(bundle)) == len(distinct)
    assert "".join(proxy.read_text().split()) in "".join(bundle.split())


def test_distinct_certificates_past_the_limit_are_refused_with_the_fix(tmp_path):
    body = "A" * 64
    fake = [f"{BEGIN}\n{body}{index:08d}\n-----END CERTIFICATE-----" for index in range(SECRET_LIMIT // 60)]
    huge = tmp_path / "huge.pem"
    huge.write_text("\n".join(fake))
    with pytest.raises(UsageProblem, match="give --ca-cert only the CAs your network adds"):
        merged_bundle([huge], huge)


def test_a_file_without_certificates_is_refused(tmp_path):
    empty = tmp_path / "notes.txt"
    empty.write_text("not a certificate\n")
    with pytest.raises(UsageProblem, match="holds no PEM certificate"):
        merged_bundle(trusted_sources(empty), empty)


def _blocks(text: str) -> list[str]:
    """Each certificate's base64 body, without the comments some bundles put between them."""
    return ["".join(body.split()) for body in re.findall(BEGIN + r"(.*?)-----END CERTIFICATE-----", text, re.S)]
