"""The Debian base made from Debian's archive is trimmed like debian:bookworm-slim and gets security updates."""

from __future__ import annotations

from tm351vce.images.base import _tidy_rootfs


def test_tidy_rootfs_trims_docs_and_locales_and_adds_update_sources(tmp_path):
    for path in (
        "usr/share/doc/bash/README",
        "usr/share/doc/bash/copyright",
        "usr/share/doc/bash/examples/x",
        "usr/share/man/man1/bash.1.gz",
        "usr/share/locale/de/LC_MESSAGES/bash.mo",
        "usr/share/locale/locale.alias",
        "var/cache/apt/archives/bash.deb",
        "var/lib/apt/lists/deb.debian.org_Packages",
        "etc/apt/sources.list",
    ):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("x")
    (tmp_path / "etc/dpkg/dpkg.cfg.d").mkdir(parents=True)
    (tmp_path / "etc/apt/apt.conf.d").mkdir(parents=True)

    _tidy_rootfs(tmp_path)

    assert (tmp_path / "usr/share/doc/bash/copyright").exists()
    assert (tmp_path / "usr/share/locale/locale.alias").exists()
    for gone in (
        "usr/share/doc/bash/README",
        "usr/share/doc/bash/examples",
        "usr/share/man",
        "usr/share/locale/de",
        "var/cache/apt/archives/bash.deb",
        "var/lib/apt/lists/deb.debian.org_Packages",
    ):
        assert not (tmp_path / gone).exists(), gone
    sources = (tmp_path / "etc/apt/sources.list").read_text()
    assert "bookworm-security" in sources
    assert "bookworm-updates" in sources
    excludes = (tmp_path / "etc/dpkg/dpkg.cfg.d/tm351-slim").read_text()
    assert "path-exclude /usr/share/doc/*" in excludes
    assert "archives/*.deb" in (tmp_path / "etc/apt/apt.conf.d/docker-clean").read_text()
