"""Course data as a course team ships it: `up --course-data DIR` builds the images that load it with the folder,
and the stack loads each dataset once (PostgreSQL, MongoDB, the student's data/ folder); a student's changes are
never loaded over, a later release loads only what is new, and a dataset that fails changes nothing.

The images are built under a shelf version of their own, so no other test's images carry course data."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers.net import free_port
from tests.helpers.notebooks import NOTEBOOK_FOLDER, failures, run_notebook
from tests.helpers.stacks import Stack, remove_project, service_container
from tm351vce.shelf.catalogue import SHELF_PATH

EXAMPLE = SHELF_PATH.parent / "course-data-example"
COURSE_VERSION = "0.0.351"
RECIPE = "tm351"

READ_ALL = """
import os, pandas, psycopg2, pymongo
pg = psycopg2.connect('postgresql://tm351:tm351@localhost:5432/tm351_examples')
with pg.cursor() as cursor:
    cursor.execute("SELECT town, altitude_m FROM stations ORDER BY station_id")
    stations = cursor.fetchall()
    cursor.execute("SELECT count(*) FROM weekly_summary")
    towns = cursor.fetchone()[0]
accidents = pymongo.MongoClient('mongodb://localhost:27017/').accidents.accidents
first = accidents.find_one({'Accident_Index': '2024EX00001'})
csv = pandas.read_csv('/srv/TM351VCE/data/accidents-2024-example.csv')
print(json.dumps({'stations': stations, 'towns': towns, 'accidents': accidents.count_documents({}),
                  'vehicles': len(first['Vehicles']), 'when': first['Datetime'].isoformat(), 'rows': len(csv)},
                 default=str))
"""


@dataclass
class CourseStack(Stack):
    shelf: Path = Path()

    @property
    def env(self) -> dict[str, str]:
        return {"TM351_PROJECT": self.project, "TM351_SHELF": str(self.shelf)}

    def read_all(self) -> dict:
        result = self.run("import json\n" + READ_ALL)
        assert result.status == "ok", result.errors
        return json.loads(result.stdout)


@pytest.fixture(scope="module")
def course(built, engine, tmp_path_factory) -> Iterator[tuple[CourseStack, Path]]:
    folder = tmp_path_factory.mktemp("course")
    shutil.copytree(EXAMPLE, folder / "data")
    text = Path(os.environ.get("TM351_SHELF") or SHELF_PATH).read_text(encoding="utf-8")
    shelf = folder / "shelf.yaml"
    kept = "".join(line for line in text.splitlines(keepends=True) if not line.startswith("version:"))
    shelf.write_text(f"version: {COURSE_VERSION}\n{kept}", encoding="utf-8")
    project = f"tm351-test-{uuid.uuid4().hex[:8]}"
    stack = CourseStack(project, free_port(), tmp_path_factory.mktemp("student") / "TM351VCE", shelf)
    try:
        yield stack, folder / "data"
    finally:
        remove_project(engine, project)
        for image in engine.images.list(filters={"reference": f"tm351/*:{COURSE_VERSION}"}):
            engine.images.remove(image.id, force=True)


def test_up_with_course_data_loads_every_dataset_and_a_restart_loads_nothing_over_the_students_changes(course):
    stack, data = course
    started = stack.up(RECIPE, "--course-data", str(data), timeout=1800)
    assert started.returncode == 0, started.stdout + started.stderr
    told = started.stdout + started.stderr
    assert "building them with it" in told or "building them first" in told
    loaded = stack.read_all()
    assert loaded == {
        "stations": [["Bristol", 11], ["Cardiff", 9], ["Leeds", 63], ["Milton Keynes", 95], ["Norwich", 28],
                     ["York", 17]],
        "towns": 6, "accidents": 24, "vehicles": 3, "when": "2024-10-21T12:55:00", "rows": 24,
    }  # fmt: skip

    changed = stack.run(
        "import psycopg2, pymongo\n"
        "pg = psycopg2.connect('postgresql://tm351:tm351@localhost:5432/tm351_examples')\n"
        "with pg, pg.cursor() as cursor:\n"
        "    cursor.execute(\"UPDATE stations SET town = 'Walton Hall' WHERE station_id = 'MK01'\")\n"
        "pymongo.MongoClient('mongodb://localhost:27017/').accidents.accidents.delete_many({'Town': 'Leeds'})\n"
    )
    assert changed.status == "ok", changed.errors
    csv = stack.data_dir / "data" / "accidents-2024-example.csv"
    csv.write_text("the student's own\n")
    assert stack.cli("down").returncode == 0
    again = stack.up(RECIPE, "--course-data", str(data), timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "building" not in again.stdout + again.stderr  # the images carry this course data already
    result = stack.run(
        "import psycopg2, pymongo\n"
        "pg = psycopg2.connect('postgresql://tm351:tm351@localhost:5432/tm351_examples')\n"
        "with pg.cursor() as cursor:\n"
        "    cursor.execute(\"SELECT town FROM stations WHERE station_id = 'MK01'\")\n"
        "    print(cursor.fetchone()[0])\n"
        "accidents = pymongo.MongoClient('mongodb://localhost:27017/').accidents.accidents\n"
        "print(accidents.count_documents({'Town': 'Leeds'}), accidents.count_documents({}) < 24)\n"
    )
    assert result.stdout.split("\n")[:2] == ["Walton Hall", "0 True"]
    assert csv.read_text() == "the student's own\n"


def test_the_installation_check_finds_the_course_datas_accidents_as_the_courses_own_does(course):
    """The installation check's MongoDB cells are the course's (`db = c.accidents`, `accidents.find_one()`): with
    the course's data supplied, every cell still succeeds and that one shows an accident."""
    stack, _ = course
    ran = run_notebook(stack, NOTEBOOK_FOLDER / "installation-check.ipynb")
    assert not failures(ran)
    shown = {source.splitlines()[-1]: result.value for source, result in ran}
    assert "'accidents'" in shown["c.list_database_names()"]
    assert "'Accident_Index': '2024EX" in shown["accidents.find_one()"], shown["accidents.find_one()"]


def test_a_later_release_loads_only_its_new_datasets_and_one_that_fails_changes_nothing(course, engine):
    stack, data = course
    # A changed file of a dataset loaded before is not loaded again; the new ones are.
    (data / "postgres" / "tm351_examples.sql").write_text("DROP TABLE readings;\n")
    (data / "postgres" / "tm351_notes.sql").write_text(
        "CREATE TABLE notes (body text);\nINSERT INTO notes VALUES ('new');\n"
    )
    (data / "postgres" / "tm351_broken.sql").write_text("CREATE TABLE half (x int);\nSELECT 1 / 0;\n")
    (data / "mongodb" / "accidents" / "towns.json").write_text('{"name": "York"}\n{"name": "Bristol"}\n')
    (data / "mongodb" / "accidents" / "broken.json").write_text('{"name": "fine"}\nnot json\n')
    (data / "files" / "added.csv").write_text("a,b\n1,2\n")
    started = stack.up(RECIPE, "--course-data", str(data), timeout=1800)
    assert started.returncode == 0, started.stdout + started.stderr
    assert "Images without this course data" in started.stdout + started.stderr
    result = stack.run(
        "import psycopg2, pymongo\n"
        "def one(database, sql):\n"
        "    with psycopg2.connect(f'postgresql://tm351:tm351@localhost:5432/{database}') as pg, pg.cursor() as c:\n"
        "        c.execute(sql)\n"
        "        return c.fetchone()[0]\n"
        "print(one('tm351_examples', 'SELECT count(*) FROM readings'))\n"
        "print(one('tm351_notes', 'SELECT body FROM notes'))\n"
        "print(one('postgres', \"SELECT count(*) FROM pg_database WHERE datname = 'tm351_broken'\"))\n"
        "accidents = pymongo.MongoClient('mongodb://localhost:27017/').accidents\n"
        "print(sorted(d['name'] for d in accidents.towns.find()), sorted(accidents.list_collection_names()))\n"
    )
    assert result.status == "ok", result.errors
    assert result.stdout.splitlines() == ["42", "new", "0", "['Bristol', 'York'] ['accidents', 'towns']"]
    assert (stack.data_dir / "data" / "added.csv").read_text() == "a,b\n1,2\n"
    logs = (
        service_container(engine, stack, "postgres").logs().decode()
        + service_container(engine, stack, "mongodb").logs().decode()
    )
    assert "course data: tm351_broken.sql failed" in logs and "is tried again at the next start" in logs
    assert "course data: accidents/broken.json" in logs and "line 2 is not Extended JSON" in logs


def test_course_sql_runs_as_a_course_login_and_its_programs_as_nobody(course, engine):
    """A dataset's SQL cannot make itself a superuser, and a program it starts (psql's \\!) runs as nobody, which
    can read neither the databases' files nor use the superuser's socket."""
    stack, data = course
    (data / "postgres" / "tm351_attack.sql").write_text(
        "\\! id -un > /tmp/course-data-whoami; "
        "cat /var/lib/postgresql/data/pgdata/PG_VERSION >> /tmp/course-data-whoami\n"
        "CREATE TABLE marker (x int);\n"
    )
    (data / "postgres" / "tm351_escalate.sql").write_text("ALTER ROLE tm351 SUPERUSER;\n")
    started = stack.up(RECIPE, "--course-data", str(data), timeout=1800)
    assert started.returncode == 0, started.stdout + started.stderr
    postgres = service_container(engine, stack, "postgres")
    assert postgres.exec_run(["cat", "/tmp/course-data-whoami"]).output.decode().strip() == "nobody"
    superuser = postgres.exec_run(
        ["psql", "-U", "postgres", "-tAc", "SELECT rolsuper FROM pg_roles WHERE rolname = 'tm351'"], user="postgres"
    )
    assert superuser.output.decode().strip() == "f"
    assert "course data: tm351_escalate.sql failed" in postgres.logs().decode()


def test_course_sql_cannot_grant_itself_the_servers_programs_even_in_a_database_of_tm351admin(course, engine):
    """tm351admin's CREATEROLE could grant PostgreSQL's predefined roles: SQL loaded into a database it owns (an
    activity made it) grants itself pg_execute_server_program and runs a program as the server. It is refused; and
    a database whose owner was made a member of that role (testdb's testuser, by tm351admin in a notebook) is not
    loaded into."""
    stack, data = course
    made = stack.run(
        "import psycopg2\n"
        "admin = psycopg2.connect('postgresql://tm351admin:tm351admin@localhost:5432/postgres')\n"
        "admin.autocommit = True\n"
        "with admin.cursor() as cursor:\n"
        "    cursor.execute('CREATE DATABASE tm351_admins')\n"
        "    cursor.execute('GRANT pg_execute_server_program TO testuser')\n"
    )
    assert made.status == "ok", made.errors
    grant_and_run = (
        "DO $$ BEGIN\n"
        "    BEGIN EXECUTE format('GRANT pg_execute_server_program TO %I', current_user);\n"
        "    EXCEPTION WHEN insufficient_privilege THEN NULL; END;\n"
        "END $$;\n"
        "COPY (SELECT 1) TO PROGRAM 'touch /tmp/run-by-course-data';\n"
    )
    (data / "postgres" / "tm351_admins.sql").write_text(grant_and_run)
    (data / "postgres" / "testdb.sql").write_text(grant_and_run)
    started = stack.up(RECIPE, "--course-data", str(data), timeout=1800)
    assert started.returncode == 0, started.stdout + started.stderr
    postgres = service_container(engine, stack, "postgres")
    assert postgres.exec_run(["test", "-e", "/tmp/run-by-course-data"]).exit_code != 0, "a program ran"
    logs = postgres.logs().decode()
    assert "course data: tm351_admins.sql failed" in logs
    assert "course data: testuser, who owns database testdb, was made a member of a role" in logs
    # CREATEROLE is tm351admin's again once the data is loaded: the security activities make roles.
    again = stack.run(
        "import psycopg2\n"
        "admin = psycopg2.connect('postgresql://tm351admin:tm351admin@localhost:5432/postgres')\n"
        "admin.autocommit = True\n"
        "with admin.cursor() as cursor:\n"
        "    cursor.execute('CREATE ROLE tm351_reader')\n"
        "    cursor.execute('DROP ROLE tm351_reader')\n"
        "    cursor.execute('REVOKE pg_execute_server_program FROM testuser')\n"
    )
    assert again.status == "ok", again.errors
