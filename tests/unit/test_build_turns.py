"""Two builds at once on one machine (a second terminal, a test run beside a build) take turns: they share the
engine's tags, the build log and a base image one of them may be making."""

from __future__ import annotations

import threading

from tm351vce.images import build


def test_a_second_build_from_the_same_cache_says_it_waits_and_starts_when_the_first_ends(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(build, "LOG_DIR", tmp_path)
    order: list[str] = []

    def second() -> None:
        with build.one_build_at_a_time():
            order.append("second")

    with build.one_build_at_a_time():
        waiting = threading.Thread(target=second)
        waiting.start()
        waiting.join(timeout=1)
        assert waiting.is_alive()
        order.append("first")
    waiting.join(timeout=10)
    assert order == ["first", "second"]
    assert "Another build is running on this machine: this one starts when it has finished." in capsys.readouterr().err


def test_builds_from_other_caches_do_not_wait(tmp_path, monkeypatch):
    monkeypatch.setattr(build, "LOG_DIR", tmp_path / "one")
    with build.one_build_at_a_time():
        monkeypatch.setattr(build, "LOG_DIR", tmp_path / "other")
        with build.one_build_at_a_time():
            pass
