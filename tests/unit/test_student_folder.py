"""The student's folder: made on demand, secrets generated once with mode 0600, nothing overwritten."""

from __future__ import annotations

import stat

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
