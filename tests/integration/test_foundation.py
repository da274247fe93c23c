"""The foundation image every app image builds on: its entry point library, and what the app images carry."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import certifi
import docker
import pytest

from tests.helpers.net import free_port
from tests.helpers.stacks import remove_project
from tm351vce.compose.render import StackOptions, recipe_secrets, render_compose
from tm351vce.hosts.student_folder import StudentFolder
from tm351vce.images.build import BuildTarget, build_context, build_project, foundation_image_ref
from tm351vce.shelf.catalogue import load_shelf
from tm351vce.shelf.serialise import to_yaml

pytestmark = pytest.mark.integration

LIBRARY = "/usr/local/lib/tm351/entrypoint.sh"
# What a start.sh of a host-user app does before its own work: the shell command that follows runs as that user.
AS_HOST_USER = 'tm351_remap_user; tm351_drop_to "$NB_USER"; exec "${as_user[@]}" sh -c '
HOST_UID, HOST_GID = 4321, 4322

# The app images that have no final non-root USER, and why: each starts as root and drops every
# privilege before its app runs (what the app's command then runs as is checked below).
STARTS_AS_ROOT = {
    "gateway": "reads the install's secrets (mounted 0600 with the host user's owner), then runs nginx as www-data",
    "jupyter": "gives the service user the host user's uid and gid, then runs the server as that user",
    "postgres": "reads the password secrets as root, then runs PostgreSQL as postgres",
    "mongodb": "reads the password secrets as root, then runs mongod as mongodb",
    "openrefine": "gives the service user the host user's uid and gid, then runs OpenRefine as that user",
}
APPS = sorted(load_shelf().apps)


@pytest.fixture(scope="module")
def foundation(built, engine) -> str:
    reference = foundation_image_ref(load_shelf().version)
    engine.images.get(reference)
    return reference


def app_image(engine: docker.DockerClient, name: str) -> docker.models.images.Image:
    shelf = load_shelf()
    try:
        return engine.images.get(shelf.app(name).image_ref(shelf.version))
    except docker.errors.ImageNotFound:
        pytest.skip(f"{name}'s image is not built here (its upstream download is unreachable)")


def run(engine: docker.DockerClient, image: str, command: list[str], **options) -> str:
    return engine.containers.run(image, command, remove=True, stderr=True, **options).decode()


def in_foundation(engine, foundation: str, script: str, **options) -> str:
    """SCRIPT run by bash as root in the foundation image, after sourcing the entry point library."""
    return run(engine, foundation, ["bash", "-c", f"set -euo pipefail; . {LIBRARY}; {script}"], **options)


@pytest.mark.parametrize("name", APPS)
def test_an_app_image_ends_as_a_non_root_user_unless_it_must_start_as_root(built, engine, name):
    user = app_image(engine, name).attrs["Config"].get("User") or "root"
    if name in STARTS_AS_ROOT:
        assert user in {"root", "0"}, f"{name} now ends as {user}: take it off STARTS_AS_ROOT"
    else:
        assert user.split(":")[0] not in {"root", "0"}


@pytest.mark.parametrize("name", sorted(STARTS_AS_ROOT))
def test_what_an_image_started_as_root_runs_has_no_privilege(built, engine, tmp_path, name):
    image = app_image(engine, name)
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "password").write_text("a password of twenty characters")
    output = run(
        engine,
        image.id,
        ["sh", "-c", "id -u; grep -E '^Cap(Eff|Prm|Bnd):' /proc/self/status | cut -f2"],
        volumes={str(secrets): {"bind": "/run/secrets", "mode": "ro"}},
    )
    uid, *capabilities = output.split()
    assert uid != "0", output
    assert capabilities == ["0000000000000000"] * 3, output


@pytest.mark.parametrize("name", APPS)
def test_health_timing_is_the_shelf_s_alone(built, engine, name):
    check = app_image(engine, name).attrs["Config"].get("Healthcheck") or {}
    assert check.get("Test") == load_shelf().app(name).healthcheck.test
    timing = {key: check.get(key) for key in ("Interval", "Timeout", "StartPeriod", "Retries")}
    assert not any(timing.values()), f"{name}'s image sets health timing of its own: {timing}"


def test_compose_runs_each_service_with_the_shelf_s_health_timing(built, engine, tmp_path):
    shelf = load_shelf()
    recipe = shelf.recipe("jupyter-postgres")
    data_dir = tmp_path / "TM351VCE"
    StudentFolder(data_dir).prepare(shelf.student_folders, recipe_secrets(shelf, recipe))
    options = StackOptions(data_dir, free_port(), "127.0.0.1", project=f"tm351-test-{uuid.uuid4().hex[:8]}")
    compose_file = tmp_path / "compose.yaml"
    compose_file.write_text(to_yaml(render_compose(shelf, recipe, options)))
    try:
        created = subprocess.run(
            ["docker", "compose", "-f", str(compose_file), "create"], capture_output=True, text=True
        )
        assert created.returncode == 0, created.stderr
        containers = engine.containers.list(
            all=True, filters={"label": f"com.docker.compose.project={options.project}"}
        )
        assert {container.labels["org.tm351.app"] for container in containers} == set(recipe.apps)
        for container in containers:
            check = shelf.app(container.labels["org.tm351.app"]).healthcheck
            assert container.attrs["Config"]["Healthcheck"] == {
                "Test": check.test,
                "Interval": round(check.interval_s * 1e9),
                "Timeout": round(check.timeout_s * 1e9),
                "StartPeriod": round(check.start_period_s * 1e9),
                "Retries": check.retries,
            }
    finally:
        remove_project(engine, options.project)


def test_the_service_user_takes_the_host_user_s_ids(engine, foundation, tmp_path):
    folder = tmp_path / "student"
    folder.mkdir()
    os.chown(folder, HOST_UID, HOST_GID)  # the host user's folder (these tests run as root)
    output = in_foundation(
        engine,
        foundation,
        AS_HOST_USER
        + "'id -u; id -g; echo $HOME; stat -c %u:%g $HOME; touch /srv/out; grep ^CapEff /proc/self/status | cut -f2'",
        environment={"NB_UID": str(HOST_UID), "NB_GID": str(HOST_GID)},
        volumes={str(folder): {"bind": "/srv", "mode": "rw"}},
    )
    assert output.split() == [
        str(HOST_UID),
        str(HOST_GID),
        "/home/student",
        f"{HOST_UID}:{HOST_GID}",
        "0000000000000000",
    ]
    written = (folder / "out").stat()
    assert (written.st_uid, written.st_gid) == (HOST_UID, HOST_GID)


def test_a_host_user_who_is_root_keeps_uid_0_without_any_capability(engine, foundation):
    output = in_foundation(
        engine,
        foundation,
        AS_HOST_USER + "'id -u; grep ^CapEff /proc/self/status'",
        environment={"NB_UID": "0", "NB_GID": "0"},
    )
    assert output.split() == ["0", "CapEff:", "0000000000000000"]


def test_file_secrets_become_variables_that_only_the_root_start_could_read(engine, foundation, tmp_path):
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "db").write_text("s3cret-of-the-database")
    (secrets / "db").chmod(0o600)
    output = in_foundation(
        engine,
        foundation,
        "tm351_export_file_secrets; "
        + AS_HOST_USER
        + '\'echo "$DB_PASSWORD|$DB_URI|${DB_PASSWORD_FILE:-unset}"; '
        + "cat /run/secrets/db 2>/dev/null || echo unreadable'",
        environment={"DB_PASSWORD_FILE": "/run/secrets/db", "DB_URI": "mongodb://tm351:${DB_PASSWORD}@mongodb/tm351"},
        volumes={str(secrets): {"bind": "/run/secrets", "mode": "ro"}},
    )
    lines = output.splitlines()
    assert lines[0] == "s3cret-of-the-database|mongodb://tm351:s3cret-of-the-database@mongodb/tm351|unset"
    assert lines[-1] == "unreadable"


def test_a_short_secret_stops_the_start_with_one_line(engine, foundation, tmp_path):
    (tmp_path / "short").write_text("  tooshort \n")
    with pytest.raises(docker.errors.ContainerError) as failed:
        in_foundation(
            engine,
            foundation,
            'password=$(tm351_secret /run/secrets/short); echo "got $password"',
            volumes={str(tmp_path): {"bind": "/run/secrets", "mode": "ro"}},
        )
    assert failed.value.exit_status == 1
    assert b"the secret in /run/secrets/short is shorter than 16 characters" in failed.value.stderr
    assert b"tooshort" not in failed.value.stderr


# Artifacts: the images that take them are built here from stand-ins (the real downloads are unreachable),
# through the same build contexts as `python3 tasks.py build --artifacts DIR`, and every layer is listed.


def fake_openrefine(folder: Path) -> dict[str, str]:
    """An upstream release archive and its line in SHA256SUMS: the image installs it instead of Debian's package."""
    archive = folder / "openrefine-linux-0.0.1.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, text, mode in (
            ("refine", "#!/bin/sh\necho stand-in\n", 0o755),
            ("refine.ini", "REFINE_MEMORY=1400M\nREFINE_MIN_MEMORY=1400M\nJAVA_OPTIONS=-Dx=y\n", 0o644),
        ):
            data = text.encode()
            member = tarfile.TarInfo(f"openrefine-0.0.1/{name}")
            member.size, member.mode = len(data), mode
            tar.addfile(member, io.BytesIO(data))
    (folder / "SHA256SUMS").write_text(f"{hashlib.sha256(archive.read_bytes()).hexdigest()}  {archive.name}\n")
    return {}


def fake_mongodb(folder: Path) -> dict[str, str]:
    for package, version, program in (
        ("mongodb-org-server", "8.0.99", "mongod"),
        ("mongodb-mongosh", "2.0.0", "mongosh"),
        ("mongodb-database-tools", "100.0.0", "mongodump"),
    ):
        root = folder / f"{package}-tree"
        (root / "DEBIAN").mkdir(parents=True)
        (root / "DEBIAN" / "control").write_text(
            f"Package: {package}\nVersion: {version}\nArchitecture: all\nMaintainer: test <test@example.org>\n"
            f"Description: a stand-in for {package}\n"
        )
        (root / "usr" / "bin").mkdir(parents=True)
        (root / "usr" / "bin" / program).write_text("#!/bin/sh\necho stand-in\n")
        (root / "usr" / "bin" / program).chmod(0o755)
        subprocess.run(
            ["dpkg-deb", "--root-owner-group", "--build", str(root), str(folder / f"{package}.deb")],
            check=True,
            capture_output=True,
        )
        shutil.rmtree(root)
    return {}


@pytest.fixture(params=[("openrefine", fake_openrefine), ("mongodb", fake_mongodb)], ids=["openrefine", "mongodb"])
def built_from_artifacts(request, foundation, engine, tmp_path) -> Iterator[tuple[str, list[str]]]:
    name, make = request.param
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    build_args = make(artifacts)
    shelf = load_shelf()
    project = f"tm351-test-{uuid.uuid4().hex[:8]}"
    target = BuildTarget(name, f"{project}/{name}:artifacts", shelf.app(name).build_dir, "stand-in")
    context = build_context(target.folder, tmp_path / "context", artifacts, Path(certifi.where()))
    build_args = {"BASE_IMAGE": foundation, "FOUNDATION_IMAGE": foundation, **build_args}
    document = build_project(shelf.version, [target], build_args, {name: context})
    document["name"] = project
    try:
        result = subprocess.run(
            ["docker", "compose", "-f", "-", "build", "--progress", "plain"],
            input=to_yaml(document),
            capture_output=True,
            text=True,
            timeout=1200,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-4000:]
        yield target.image, sorted(item.name for item in artifacts.iterdir())
    finally:
        remove_project(engine, project)
        with contextlib.suppress(docker.errors.ImageNotFound):
            engine.images.remove(target.image, force=True)


def layer_paths(image: str, where: Path) -> list[str]:
    saved = where / "image.tar"
    subprocess.run(["docker", "save", "-o", str(saved), image], check=True)
    paths = []
    with tarfile.open(saved) as outer:
        for member in outer.getmembers():
            if member.name.endswith("layer.tar"):
                with tarfile.open(fileobj=outer.extractfile(member)) as layer:
                    paths.extend(layer.getnames())
    saved.unlink()
    return paths


def test_no_artifact_stays_in_any_layer(built_from_artifacts, tmp_path):
    image, artifact_names = built_from_artifacts
    paths = layer_paths(image, tmp_path)
    assert paths
    left = [path for path in paths if path.startswith("tmp/artifacts/") or Path(path).name in artifact_names]
    assert left == []
