"""A course-data folder is checked before any build, its digest names exactly its content, and each app's build
context gets its own part of it (and an empty one without)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tm351vce.images.build import BuildOptions, build_command, build_context
from tm351vce.images.course_data import CONTEXT_FOLDER, read_course_data, stage_part
from tm351vce.shelf.catalogue import SHELF_PATH, load_shelf
from tm351vce.shelf.errors import UsageProblem

EXAMPLE = SHELF_PATH.parent / "course-data-example"


def test_the_example_folder_is_valid_and_its_digest_is_stable_and_follows_its_content(tmp_path):
    first = read_course_data(EXAMPLE)
    assert read_course_data(EXAMPLE).digest == first.digest
    copy = tmp_path / "copy"
    shutil.copytree(EXAMPLE, copy)
    assert read_course_data(copy).digest == first.digest
    (copy / "files" / "accidents-2024-example.csv").write_text("changed\n")
    assert read_course_data(copy).digest != first.digest


@pytest.mark.parametrize(
    ("path", "content", "expected"),
    [
        ("extra/notes.txt", "x", "extra is not one of its folders"),
        ("postgres/Bad-Name.sql", "SELECT 1;", "is not NAME.sql"),
        ("postgres/postgres.sql", "SELECT 1;", "is not NAME.sql"),
        ("postgres/data.csv", "a,b", "is not NAME.sql"),
        ("mongodb/accidents.json", "{}", "is not mongodb/DB/COLLECTION.json"),
        ("mongodb/admin/users.json", "{}", "admin is not a database name this loads"),
        ("mongodb/db/system.users.json", "{}", "is not a collection name this loads"),
        ("mongodb/db/deep/c.json", "{}", "is not mongodb/DB/COLLECTION.json"),
    ],
)
def test_a_file_no_loader_takes_is_refused_naming_it_and_the_fix(tmp_path, path, content, expected):
    target = tmp_path / path
    target.parent.mkdir(parents=True)
    target.write_text(content)
    with pytest.raises(UsageProblem, match=expected):
        read_course_data(tmp_path)


def test_a_link_or_a_missing_folder_is_refused(tmp_path):
    with pytest.raises(UsageProblem, match="no such folder"):
        read_course_data(tmp_path / "missing")
    (tmp_path / "files").mkdir()
    os.symlink("/etc/passwd", tmp_path / "files" / "passwd")
    with pytest.raises(UsageProblem, match="files/passwd is a link"):
        read_course_data(tmp_path)


def test_each_app_gets_its_own_part_in_its_build_context_and_the_others_an_empty_folder(tmp_path):
    course_data = read_course_data(EXAMPLE)
    shelf = load_shelf()
    for app in shelf.apps.values():
        context = tmp_path / app.name
        context.mkdir()
        stage_part(course_data, app.course_data, context)
        staged = sorted(
            path.relative_to(context / CONTEXT_FOLDER).as_posix() for path in (context / CONTEXT_FOLDER).rglob("*")
        )
        expected = {
            "postgres": [
                "tm351_examples",
                "tm351_examples.sql",
                "tm351_examples/readings.csv",
                "tm351_examples/stations.csv",
            ],
            "mongodb": ["accidents", "accidents/accidents.json"],
            "jupyter": ["accidents-2024-example.csv"],
        }.get(app.name, [])
        assert staged == expected, app.name


def test_the_root_build_command_carries_the_course_data(tmp_path):
    command = build_command(["postgres"], BuildOptions(course_data=Path("relative/dir")))
    assert command[-2:] == ["--course-data", str(Path("relative/dir").absolute())]


def test_a_bad_folder_stops_build_and_up_with_exit_2_before_anything_is_built(cli_in_process, tmp_path):
    (tmp_path / "stray").mkdir()
    for command in (["build", "postgres"], ["up", "--data-dir", str(tmp_path / "student")]):
        result = cli_in_process(*command, "--course-data", str(tmp_path))
        assert result.returncode == 2, result.stdout + result.stderr
        assert "stray is not one of its folders" in result.stderr and "Traceback" not in result.stderr


def test_course_data_is_refused_for_a_vm_or_an_instance_with_what_to_do_instead(cli_in_process, tmp_path):
    result = cli_in_process("up", "--provider", "aws", "--course-data", str(EXAMPLE))
    assert result.returncode == 2
    assert "build --course-data DIR" in result.stderr


def test_the_shelf_can_name_the_course_data_beside_it_and_build_and_up_take_it(cli_in_process, tmp_path):
    shelf = tmp_path / "shelf.yaml"
    text = SHELF_PATH.read_text(encoding="utf-8").replace("  # course_data: DIR ", "  course_data: course ")
    shelf.write_text(text, encoding="utf-8")
    assert load_shelf(shelf).defaults.course_data == tmp_path / "course"
    (tmp_path / "course" / "stray").mkdir(parents=True)
    for command in (["build", "postgres"], ["up", "--data-dir", str(tmp_path / "student")]):
        result = cli_in_process(*command, env={"TM351_SHELF": str(shelf)})
        assert result.returncode == 2, result.stdout + result.stderr
        assert "stray is not one of its folders" in result.stderr


def test_every_build_context_has_the_course_data_folder_its_dockerfile_copies(tmp_path):
    """Its Dockerfile COPYs course-data/: a context made without any course data has it too, empty."""
    bundle = tmp_path / "bundle.pem"
    bundle.write_text("")
    for app in load_shelf().apps.values():
        context = build_context(app.build_dir, tmp_path / app.name, None, bundle)
        assert (context / CONTEXT_FOLDER).is_dir() and not any((context / CONTEXT_FOLDER).iterdir()), app.name
