"""images/artifacts/fetch-artifact.sh, run on the host against a release archive served on loopback."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.helpers.cli import REPO
from tests.helpers.net import serving

SCRIPT = REPO / "images" / "artifacts" / "fetch-artifact.sh"
PREFIX = "tm351-artifact-error: "
ARCHIVE = "tool-linux-1.0.tar.gz"

pytestmark = pytest.mark.needs("curl")  # fetch-artifact.sh runs with bash, curl and sha256sum


@dataclass
class Server:
    url: str
    requests: list[str]


@pytest.fixture
def archive(tmp_path: Path) -> tuple[bytes, str]:
    """A small tar.gz release archive and its SHA-256."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        content = b"#!/bin/sh\necho tool 1.0\n"
        info = tarfile.TarInfo("tool-1.0/tool")
        info.size, info.mode = len(content), 0o755
        tar.addfile(info, io.BytesIO(content))
    data = buffer.getvalue()
    return data, hashlib.sha256(data).hexdigest()


@pytest.fixture
def server(tmp_path: Path, archive: tuple[bytes, str]) -> Iterator[Server]:
    """An HTTP server on 127.0.0.1 serving the archive at /releases/ARCHIVE; it records every request path."""
    root = tmp_path / "www"
    (root / "releases").mkdir(parents=True)
    (root / "releases" / ARCHIVE).write_bytes(archive[0])
    requests: list[str] = []

    class Handler(SimpleHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            super().do_GET()

        def log_message(self, format: str, *args: object) -> None:
            pass

    with serving(ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))) as httpd:
        yield Server(f"http://127.0.0.1:{httpd.server_address[1]}", requests)


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    folder = tmp_path / "artifacts"
    folder.mkdir()
    return folder


def fetch(artifacts: Path, *args: str) -> subprocess.CompletedProcess:
    """Run fetch-artifact.sh ARGS with the given local artifacts folder and no proxy or extra CA."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key.lower() not in {"http_proxy", "https_proxy", "all_proxy", "curl_ca_bundle"}
    }
    env.update(TM351_ARTIFACTS_DIR=str(artifacts), NO_PROXY="127.0.0.1", no_proxy="127.0.0.1")
    return subprocess.run(
        ["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def error_line(result: subprocess.CompletedProcess) -> str:
    """The failure's stderr, which must be exactly one tm351-artifact-error line."""
    assert result.returncode == 1, result
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(PREFIX), result.stderr
    return lines[0]


def test_right_checksum_writes_dest(tmp_path, archive, server, artifacts):
    url = f"{server.url}/releases/{ARCHIVE}"
    dest = tmp_path / "out" / "tool.tar.gz"
    result = fetch(artifacts, "tool", url, archive[1], str(dest))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert dest.read_bytes() == archive[0]
    assert sorted(path.name for path in dest.parent.iterdir()) == ["tool.tar.gz"]
    assert server.requests == [f"/releases/{ARCHIVE}"]


def test_upper_case_checksum_is_accepted(tmp_path, archive, server, artifacts):
    dest = tmp_path / "tool.tar.gz"
    result = fetch(artifacts, "tool", f"{server.url}/releases/{ARCHIVE}", archive[1].upper(), str(dest))
    assert result.returncode == 0, result.stderr
    assert dest.read_bytes() == archive[0]


def test_wrong_checksum_is_one_error_line(tmp_path, archive, server, artifacts):
    url = f"{server.url}/releases/{ARCHIVE}"
    dest = tmp_path / "tool.tar.gz"
    result = fetch(artifacts, "tool", url, "0" * 64, str(dest))
    line = error_line(result)
    assert "tool" in line and url in line and "--artifacts" in line
    assert "checksum mismatch" in line and archive[1] in line
    assert list(tmp_path.glob("tool.tar.gz*")) == []


def test_not_found_is_one_error_line(tmp_path, archive, server, artifacts):
    url = f"{server.url}/releases/missing-1.0.tar.gz"
    dest = tmp_path / "tool.tar.gz"
    result = fetch(artifacts, "tool", url, archive[1], str(dest))
    line = error_line(result)
    assert "tool" in line and url in line and "--artifacts" in line
    assert "404" in line and "missing-1.0.tar.gz" in line
    assert list(tmp_path.glob("tool.tar.gz*")) == []


def test_unreachable_server_is_one_error_line(tmp_path, archive, artifacts):
    # Port 9 (discard) on loopback: nothing listens there, so the connection is refused at once.
    url = f"http://127.0.0.1:9/releases/{ARCHIVE}"
    line = error_line(fetch(artifacts, "tool", url, archive[1], str(tmp_path / "tool.tar.gz")))
    assert url in line and "--artifacts" in line


def test_local_artifact_is_used_without_download(tmp_path, archive, server, artifacts):
    (artifacts / ARCHIVE).write_bytes(archive[0])
    # The server has no file at this path: a download would fail.
    url = f"{server.url}/elsewhere/{ARCHIVE}"
    dest = tmp_path / "tool.tar.gz"
    result = fetch(artifacts, "tool", url, archive[1], str(dest))
    assert result.returncode == 0, result.stderr
    assert dest.read_bytes() == archive[0]
    assert server.requests == []


def test_local_artifact_with_wrong_checksum_is_refused(tmp_path, archive, server, artifacts):
    (artifacts / ARCHIVE).write_bytes(archive[0] + b"tampered")
    url = f"{server.url}/releases/{ARCHIVE}"
    dest = tmp_path / "tool.tar.gz"
    line = error_line(fetch(artifacts, "tool", url, archive[1], str(dest)))
    assert "artifacts folder" in line and url in line
    assert not dest.exists()
    assert server.requests == []


@pytest.mark.parametrize("pinned", ["UNKNOWN", "", "abc123"])
def test_unpinned_checksum_is_refused_before_any_download(tmp_path, server, artifacts, pinned):
    url = f"{server.url}/releases/{ARCHIVE}"
    line = error_line(fetch(artifacts, "tool", url, pinned, str(tmp_path / "tool.tar.gz")))
    assert "no valid SHA-256" in line and url in line
    assert server.requests == []
