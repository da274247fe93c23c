"""The student's folder: made on demand, secrets generated once with mode 0600, nothing overwritten."""

from __future__ import annotations

import errno
import os
import shutil
import stat
from pathlib import Path

import pytest

from tm351vce.hosts.student_folder import StudentFolder
from tm351vce.shelf.errors import UsageProblem


def test_prepare_makes_folders_and_a_private_secret(tmp_path):
    folder = StudentFolder(tmp_path / "TM351VCE")
    folder.prepare(["notebooks", "data"], ["jupyter_token"])
    assert (folder.root / "notebooks").is_dir()
    assert (folder.root / "data").is_dir()
    secret = folder.secret_path("jupyter_token")
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.secrets_dir.stat().st_mode) == 0o700
    assert len(folder.read_secret("jupyter_token")) >= 16


def test_secrets_are_kept_and_differ_between_installs(tmp_path):
    first = StudentFolder(tmp_path / "a")
    first.prepare([], ["jupyter_token"])
    token = first.read_secret("jupyter_token")
    first.prepare([], ["jupyter_token"])
    assert first.read_secret("jupyter_token") == token
    second = StudentFolder(tmp_path / "b")
    second.prepare([], ["jupyter_token"])
    assert second.read_secret("jupyter_token") != token


def test_existing_files_are_untouched(tmp_path):
    folder = StudentFolder(tmp_path)
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "work.ipynb").write_text("{}")
    folder.prepare(["notebooks"], [])
    assert (tmp_path / "notebooks" / "work.ipynb").read_text() == "{}"


def test_a_file_in_place_of_the_folder_is_refused(tmp_path):
    target = tmp_path / "file"
    target.write_text("")
    with pytest.raises(UsageProblem, match="--data-dir"):
        StudentFolder(target).prepare([], [])


def test_jupyterlabs_settings_move_out_of_the_secrets_folder_once(tmp_path):
    old = tmp_path / ".tm351" / "jupyterlab" / "user-settings"
    old.mkdir(parents=True)
    (old / "theme.json").write_text("dark")
    StudentFolder(tmp_path).prepare([], [])
    assert (tmp_path / ".jupyterlab" / "user-settings" / "theme.json").read_text() == "dark"
    assert not (tmp_path / ".tm351" / "jupyterlab").exists()


@pytest.mark.parametrize("planted", ["notebooks", ".tm351", ".tm351/password", ".tm351/compose.yaml"])
def test_a_link_planted_in_the_folder_is_refused_and_nothing_outside_is_touched(planted, tmp_path):
    folder = StudentFolder(tmp_path / "TM351VCE")
    folder.prepare(["notebooks"], ["password"])
    folder.write_file("compose.yaml", "rendered\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "password").write_text("the attacker's\n")
    (outside / "compose.yaml").write_text("not yours\n")
    link = folder.root / planted
    if link.is_dir():
        shutil.rmtree(link)
    else:
        link.unlink()
    link.symlink_to(outside / Path(planted).name if "/" in planted else outside)
    before = {path.name: path.read_text() for path in outside.iterdir()}
    with pytest.raises(UsageProblem, match=f"{link} is a symbolic link.*rm {link}"):
        folder.prepare(["notebooks"], ["password"])
        folder.write_file("compose.yaml", "rendered\n")
        folder.replace_secret("password")
    assert {path.name: path.read_text() for path in outside.iterdir()} == before
    assert sorted(path.name for path in outside.iterdir()) == ["compose.yaml", "password"]


def test_a_secret_is_never_read_or_replaced_through_a_link(tmp_path):
    folder = StudentFolder(tmp_path / "TM351VCE")
    folder.prepare([], ["password"])
    root_only = tmp_path / "root-only"
    root_only.write_text("x" * 32)
    folder.secret_path("password").unlink()
    folder.secret_path("password").symlink_to(root_only)
    for use in (lambda: folder.read_secret("password"), lambda: folder.replace_secret("password")):
        with pytest.raises(UsageProblem, match="symbolic link"):
            use()
    assert root_only.read_text() == "x" * 32


def test_an_empty_secret_says_how_to_make_a_new_one(tmp_path):
    folder = StudentFolder(tmp_path / "TM351VCE")
    folder.prepare([], ["password"])
    folder.secret_path("password").write_text("")
    with pytest.raises(UsageProblem, match=r"is empty: delete it .*python3 tasks.py up"):
        folder.read_secret("password")


def test_a_full_disk_leaves_no_empty_secret_behind(tmp_path, monkeypatch):
    folder = StudentFolder(tmp_path / "TM351VCE")
    real_fsync = os.fsync

    def full(descriptor: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(UsageProblem, match=r"No space left on device.*nothing was half-written"):
        folder.prepare([], ["password", "jupyter_token"])
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert not any(path.is_file() for path in folder.secrets_dir.iterdir())
    folder.prepare([], ["password"])
    assert len(folder.read_secret("password")) >= 16


@pytest.mark.parametrize("where", ["under-a-file", "proc"])
def test_a_folder_that_cannot_be_made_is_one_line_naming_it(where, tmp_path):
    if where == "under-a-file":
        (tmp_path / "a-file").write_text("")
        root = tmp_path / "a-file" / "TM351VCE"
    else:
        root = Path("/proc/tm351-not-here/TM351VCE")
    with pytest.raises(UsageProblem, match=r"Cannot write to .*--data-dir"):
        StudentFolder(root).prepare(["notebooks"], ["password"])
