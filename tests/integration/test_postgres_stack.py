"""`up jupyter-postgres`: SQL from a notebook without typing a password, data that survives, backup and restore,
the database published only when asked, and Word export."""

from __future__ import annotations

import io
import json
import os
import socket
import tarfile

import docx
import nbformat
import psycopg
import pytest
import yaml

from tests.helpers.backups import dump_of, rewritten
from tests.helpers.course_kernel import COURSE_SESSION
from tests.helpers.jupyter_kernel import browser_session, execute
from tests.helpers.stacks import Stack
from tm351vce.shelf.catalogue import SHELF_PATH, load_shelf

EXPOSED_DB_PORT = 35432
# The course's own logins and passwords, as its published notebooks use them.
COURSE_LOGINS = [
    ("tm351", "tm351"),
    ("tm351admin", "tm351admin"),
    ("testuser", "testpass"),
    ("tm351_student", "tm351_pwd"),
]

CREATE_ROWS = """
import os, sqlalchemy as sa
engine = sa.create_engine(os.environ["DATABASE_URL"])
with engine.begin() as connection:
    connection.execute(sa.text("CREATE TABLE modules (code text PRIMARY KEY, credits int)"))
    connection.execute(sa.text("INSERT INTO modules VALUES ('TM351', 30), ('M269', 30)"))
print("created")
"""

READ_ROWS = """
import psycopg
with psycopg.connect() as connection:  # PG* variables only: no password typed
    print(sorted(connection.execute("SELECT code, credits FROM modules").fetchall()))
"""

JUPYSQL = """
%load_ext sql
%sql postgresql://tm351@postgres:5432/tm351
result = %sql SELECT count(*) AS n FROM modules
print("rows", int(result.n[0]))  # a DataFrame: the course's start-up turns autopandas on
"""


@pytest.fixture(scope="module")
def running(built, stack):
    return stack.started("jupyter-postgres")


def rows(stack: Stack) -> str:
    result = stack.run(READ_ROWS)
    assert result.status == "ok", result.errors
    return result.stdout.strip()


def test_postgres_is_healthy_and_not_published(running, engine):
    assert running.health() == dict.fromkeys(("dashboard", "gateway", "jupyter", "postgres"), "healthy")
    (postgres,) = engine.containers.list(
        filters={"label": [f"com.docker.compose.project={running.project}", "org.tm351.app=postgres"]}
    )
    assert not postgres.attrs["HostConfig"]["PortBindings"]


def test_a_notebook_creates_and_reads_a_table_without_a_password(running):
    created = running.run(CREATE_ROWS)
    assert created.status == "ok", created.errors
    assert rows(running) == "[('M269', 30), ('TM351', 30)]"
    magic = running.run(JUPYSQL)
    assert magic.status == "ok", magic.errors
    assert "rows 2" in magic.stdout


LOCALHOST = """
import os, psycopg
for host in ("localhost", "127.0.0.1"):
    with psycopg.connect(host=host, port=5432, dbname="tm351", user="tm351", password=os.environ["PGPASSWORD"]) as db:
        print(host, db.execute("SELECT count(*) FROM modules").fetchone()[0])
"""


def test_a_notebook_reaches_the_stacks_postgres_at_localhost_as_course_notebooks_do(running):
    reached = running.run(LOCALHOST)
    assert reached.status == "ok", reached.errors
    assert reached.stdout.split("\n")[:2] == ["localhost 2", "127.0.0.1 2"]


# Scripts that log in as the course's logins start with this.
CONNECT = """
import psycopg
def connect(login, database):
    return psycopg.connect(f"postgresql://{login}@localhost:5432/{database}", autocommit=True)
"""

COURSE_CONVENTIONS = """
with connect("testuser:testpass", "testdb") as db:
    print(db.execute("SELECT id, name, value FROM quickdemo ORDER BY id").fetchall())
with connect("tm351_student:tm351_pwd", "tm351_clean") as db:
    db.execute("CREATE TABLE IF NOT EXISTS patient (patient_id char(4) PRIMARY KEY, patient_name varchar(20))")
    print(db.execute("SELECT current_user, count(*) FROM patient GROUP BY 1").fetchall() or "patient made")
with connect("tm351_student:tm351_pwd", "tm351_hospital") as db:
    print(db.execute("SELECT current_database()").fetchone()[0])
with connect("tm351admin:tm351admin", "tm351") as db:
    db.execute("DROP DATABASE IF EXISTS security_activity")
    db.execute("DROP ROLE IF EXISTS clerk")
    db.execute("CREATE ROLE clerk LOGIN PASSWORD 'clerk_pwd'")
    db.execute("CREATE DATABASE security_activity")
    who = "SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = current_user"
    print(db.execute(who).fetchone())
with connect("tm351:tm351", "tm351") as db:
    db.execute("CREATE OR REPLACE VIEW module_codes AS SELECT code FROM modules")
    db.execute("GRANT SELECT ON module_codes TO clerk")
with connect("clerk:clerk_pwd", "tm351") as db:
    print(sorted(db.execute("SELECT code FROM module_codes").fetchall()))
"""


def test_the_courses_logins_and_databases_work_from_a_notebook_as_its_activities_use_them(running):
    ran = running.run(CONNECT + COURSE_CONVENTIONS)
    assert ran.status == "ok", ran.errors
    assert ran.stdout.split("\n")[:6] == [
        "[(1, 'This', 12), (2, 'That', 345)]",
        "patient made",
        "tm351_hospital",
        "(False, True, True)",  # makes roles and databases, but runs no server programs: not a superuser
        "[('M269',), ('TM351',)]",
        "",
    ]


# The course's SQL-magic idioms, each cell as its installation test and activities write it, in a kernel that
# has loaded nothing itself: the start-up settings have.
SQL_MAGIC_CELLS = [
    'PGCONN = "postgresql://testuser:testpass@localhost:5432/testdb"\n%sql {PGCONN}',
    "%%sql\nSELECT * FROM quickdemo WHERE id = 1",
    "demo = %sql SELECT id, name, value FROM quickdemo ORDER BY id\nprint(type(demo).__name__, demo.values.tolist())",
    'CONNECT_DB = "postgresql://tm351:tm351@localhost:5432/tm351"\n%sql $CONNECT_DB\n'
    "share = %sql SELECT 2.5::numeric AS credits\nprint(share.credits.dtype)",
    "%%sql works <<\nSELECT code FROM modules ORDER BY code",
    "print(works.code.tolist())",
    "import psycopg2\nwith psycopg2.connect(CONNECT_DB) as db, db.cursor() as cursor:\n"
    "    cursor.execute('SELECT 0.125::numeric')\n    print(type(cursor.fetchone()[0]).__name__)",
    # Course notebooks reload the magic at their top: the idioms stay.
    "%reload_ext sql\n%sql $CONNECT_DB\n"
    "again = %sql SELECT code FROM modules ORDER BY code\nprint(again.code.tolist())",
    "%sql postgresql://tm351:not-the-password@localhost:5432/tm351",
]


def test_the_courses_sql_magic_idioms_run_as_written_and_a_failed_connection_raises(running):
    results = running.run_cells(SQL_MAGIC_CELLS)
    *course, failed = results
    assert [result.status for result in course] == ["ok"] * len(course), [result.errors for result in course]
    printed = [(result.stdout.strip().splitlines() or [""])[-1] for result in course]
    assert printed[2] == "DataFrame [[1, 'This', 12], [2, 'That', 345]]"
    assert printed[3] == "float64"  # numeric comes back as float (the course's adapter), not Decimal
    assert printed[5] == "['M269', 'TM351']"
    assert printed[6] == "float"
    assert printed[7] == "['M269', 'TM351']"
    # The cell stops with an error, so a notebook that cannot connect does not look as if it had run.
    assert failed.status == "error"
    # jupysql raises a UsageError, which IPython shows on stderr rather than as a traceback.
    shown = failed.stdout + "\n".join(failed.errors)
    assert "password authentication failed" in shown, shown


def test_no_password_appears_in_the_compose_file_or_the_environment_given_to_docker(running, engine):
    compose_file = (running.data_dir / ".tm351" / "compose.yaml").read_text()
    secrets = [running.secret(name) for name in ("password", "jupyter_token", "postgres_password")]
    for container in engine.containers.list(filters={"label": f"com.docker.compose.project={running.project}"}):
        environment = "\n".join(container.attrs["Config"]["Env"])
        assert not any(secret in environment for secret in secrets), container.name
    assert not any(secret in compose_file for secret in secrets)


def test_postgres_stops_cleanly_and_starts_again(running, engine):
    (postgres,) = engine.containers.list(
        filters={"label": [f"com.docker.compose.project={running.project}", "org.tm351.app=postgres"]}
    )
    postgres.stop(timeout=20)
    postgres.reload()
    assert postgres.attrs["State"]["ExitCode"] == 0
    assert "database system is shut down" in postgres.logs(tail=20).decode()
    result = running.up("jupyter-postgres", timeout=120)
    assert result.returncode == 0, result.stderr
    assert rows(running) == "[('M269', 30), ('TM351', 30)]"


def test_an_upgrade_to_new_image_versions_keeps_rows_and_files(running, engine, tmp_path):
    upgraded = yaml.safe_load(SHELF_PATH.read_text())
    upgraded["version"] = "9.9.9"
    shelf_file = tmp_path / "shelf.yaml"
    shelf_file.write_text(yaml.safe_dump(upgraded))
    (running.data_dir / "notebooks" / "before-upgrade.txt").write_text("mine")
    try:
        result = running.cli(
            "up",
            "jupyter-postgres",
            "--data-dir",
            str(running.data_dir),
            "--port",
            str(running.port),
            env={"TM351_SHELF": str(shelf_file)},
        )
        assert result.returncode == 0, result.stderr
        versions = {
            c.labels["org.tm351.version"]
            for c in engine.containers.list(filters={"label": f"com.docker.compose.project={running.project}"})
        }
        assert versions == {"9.9.9"}
        assert rows(running) == "[('M269', 30), ('TM351', 30)]"
        assert (running.data_dir / "notebooks" / "before-upgrade.txt").read_text() == "mine"
    finally:
        assert running.up("jupyter-postgres", timeout=120).returncode == 0
        for image in engine.images.list(name="tm351/*"):
            for tag in image.tags:
                if tag.endswith(":9.9.9"):
                    engine.images.remove(tag)
    assert rows(running) == "[('M269', 30), ('TM351', 30)]"


def test_two_course_sized_notebooks_run_side_by_side_within_jupyters_limit(running, engine):
    """Two open notebooks at their busiest (pandas, %sql, a plot) fit Jupyter's limit: no kernel is killed."""
    base = running.url("/jupyter/")
    for _ in range(2):
        session = execute(base, running.login(), COURSE_SESSION, timeout=300, keep=True)
        assert session.status == "ok", session.errors
    kernels = browser_session(base, running.login()).get(f"{base}api/kernels", timeout=30).json()
    try:
        assert len(kernels) == 2 and all(kernel["execution_state"] != "dead" for kernel in kernels), kernels
        (jupyter,) = engine.containers.list(
            filters={"label": [f"com.docker.compose.project={running.project}", "org.tm351.app=jupyter"]}
        )
        assert "restarting kernel" not in jupyter.logs().decode(errors="replace")
    finally:
        session = browser_session(base, running.login())
        for kernel in kernels:
            session.delete(f"{base}api/kernels/{kernel['id']}", timeout=30)


def test_a_read_only_app_can_neither_change_its_image_nor_fill_memory_through_its_scratch_space(running, engine):
    """Even as root inside: the root filesystem refuses writes, and a full tmpfs fails the write, not the app."""
    shelf = load_shelf()
    for container in engine.containers.list(filters={"label": f"com.docker.compose.project={running.project}"}):
        app = shelf.apps[container.labels["org.tm351.app"]]
        if app.writable is None:
            continue
        planted = container.exec_run(["sh", "-c", "echo planted > /usr/local/bin/planted"], user="root")
        assert planted.exit_code != 0 and b"Read-only file system" in planted.output, (app.name, planted.output)
        limit = app.writable["/tmp"]
        filled = container.exec_run(["sh", "-c", f"head -c {limit + 4}M /dev/zero > /tmp/fill"], user="root")
        assert filled.exit_code != 0 and b"No space left" in filled.output, (app.name, filled.output)
        container.exec_run(["rm", "-f", "/tmp/fill"], user="root")
    assert set(running.health().values()) == {"healthy"}
    assert rows(running) == "[('M269', 30), ('TM351', 30)]"


def test_rows_survive_down_and_up(running):
    assert running.cli("down").returncode == 0
    result = running.up("jupyter-postgres", timeout=120)
    assert result.returncode == 0, result.stderr
    assert rows(running) == "[('M269', 30), ('TM351', 30)]"


@pytest.fixture
def link_and_fifo(running):
    """A link and a FIFO in the student's folders, which a restore would refuse, so a backup leaves them out."""
    link, fifo = running.data_dir / "notebooks" / "etc", running.data_dir / "data" / "pipe"
    link.symlink_to("/etc")
    os.mkfifo(fifo)
    yield
    link.unlink()
    fifo.unlink()


def test_backup_purge_up_restore_gives_the_same_rows_and_files(running, tmp_path, link_and_fifo):
    (running.data_dir / "notebooks" / "work.ipynb").write_text('{"cells": []}')
    (running.data_dir / "data" / "grades.csv").write_text("code,grade\nTM351,85\n")
    archive = tmp_path / "backup.tar.gz"
    made = running.cli("backup", "--data-dir", str(running.data_dir), "-o", str(archive))
    assert made.returncode == 0, made.stderr
    assert "Left out 2 entries" in made.stderr
    with tarfile.open(archive) as opened:
        names = opened.getnames()
        files = {member.name for member in opened.getmembers() if member.isfile()}
        manifest = json.load(opened.extractfile("manifest.json"))
    assert names[-1] == "manifest.json"  # it holds the checksums of all the others
    assert "files/notebooks/work.ipynb" in names
    assert not [name for name in names if ".tm351" in name or name.endswith(("/etc", "/pipe"))]
    assert manifest["databases"] == {"postgres": "databases/postgres.dump"}
    assert manifest["images"]["postgres"].startswith("tm351/postgres:")
    assert set(manifest["files"]) == files - {"manifest.json"}
    assert manifest["left_out"] == {"notebooks/etc": "symbolic link", "data/pipe": "FIFO"}

    assert running.cli("down", "--purge", "--yes").returncode == 0
    (running.data_dir / "data" / "grades.csv").write_text("changed after the backup\n")
    assert running.up("jupyter-postgres", timeout=120).returncode == 0
    assert "does not exist" in running.run(READ_ROWS).errors[0]

    refused = running.cli("restore", str(archive), "--data-dir", str(running.data_dir))
    assert refused.returncode == 2  # nobody at a terminal to confirm the overwrite
    restored = running.cli("restore", str(archive), "--data-dir", str(running.data_dir), "--yes")
    assert restored.returncode == 0, restored.stderr
    assert rows(running) == "[('M269', 30), ('TM351', 30)]"
    assert (running.data_dir / "data" / "grades.csv").read_text() == "code,grade\nTM351,85\n"
    assert (running.data_dir / "notebooks" / "work.ipynb").read_text() == '{"cells": []}'
    assert not [path for path in running.data_dir.rglob("*") if path.name.endswith((".partial", ".restoring"))]
    assert not (running.data_dir / ".tm351-restoring").exists()


# Work in the course's other databases and in one an activity made, as a student's notebook does it.
OTHER_DATABASES_WORK = """
with connect("testuser:testpass", "testdb") as db:
    db.execute("CREATE TABLE scores (n int)")
    db.execute("INSERT INTO scores VALUES (1)")
with connect("tm351_student:tm351_pwd", "tm351_clean") as db:
    db.execute("CREATE TABLE cleaned (x text)")
    db.execute("INSERT INTO cleaned VALUES ('kept')")
with connect("tm351admin:tm351admin", "tm351") as db:
    db.execute("CREATE DATABASE own_activity")
with connect("tm351admin:tm351admin", "own_activity") as db:
    db.execute("CREATE TABLE notes AS SELECT 'mine' AS note")
print("made")
"""

OTHER_DATABASES_CHANGE = """
with connect("testuser:testpass", "testdb") as db:
    db.execute("DROP TABLE scores")
with connect("tm351_student:tm351_pwd", "tm351_clean") as db:
    db.execute("INSERT INTO cleaned VALUES ('after the backup')")
with connect("tm351admin:tm351admin", "own_activity") as db:
    db.execute("DROP TABLE notes")
print("changed")
"""

OTHER_DATABASES_READ = """
with connect("testuser:testpass", "testdb") as db:
    db.execute("INSERT INTO scores VALUES (2)")  # still the course login's own table
    print(db.execute("SELECT array_agg(n ORDER BY n) FROM scores").fetchone()[0],
          db.execute("SELECT count(*) FROM quickdemo").fetchone()[0])
    db.execute("DELETE FROM scores WHERE n = 2")
with connect("tm351_student:tm351_pwd", "tm351_clean") as db:
    print(db.execute("SELECT array_agg(x) FROM cleaned").fetchone()[0])
with connect("tm351admin:tm351admin", "own_activity") as db:
    print(db.execute("SELECT note FROM notes").fetchone()[0])
"""


# testdb without the table the backup holds, tm351_clean with the row added since.
AS_CHANGED = """
with connect("testuser:testpass", "testdb") as db:
    print(db.execute("SELECT to_regclass('scores') IS NULL").fetchone()[0])
with connect("tm351_student:tm351_pwd", "tm351_clean") as db:
    print(sorted(x for (x,) in db.execute("SELECT x FROM cleaned")))
"""


def postgres_dump_contents(archive) -> dict[str, bytes]:
    """Each member of the postgres dump in a backup (databases.tsv and one N.dump per database), by name."""
    with tarfile.open(fileobj=io.BytesIO(dump_of(archive, "postgres"))) as dump:
        return {member.name: dump.extractfile(member).read() for member in dump.getmembers()}


def test_a_backup_holds_every_database_and_restore_puts_each_back_for_its_owner(running, tmp_path):
    made = running.run(CONNECT + OTHER_DATABASES_WORK)
    assert made.status == "ok", made.errors
    archive = tmp_path / "backup.tar.gz"
    assert running.cli("backup", "--data-dir", str(running.data_dir), "-o", str(archive)).returncode == 0
    contents = postgres_dump_contents(archive)
    databases = dict(line.split("\t") for line in contents["databases.tsv"].decode().splitlines())
    course = {"testdb": "testuser", "tm351": "tm351", "tm351_clean": "tm351_student", "tm351_hospital": "tm351_student"}
    assert databases.items() >= {**course, "own_activity": "tm351admin"}.items()
    assert sorted(contents) == sorted(["databases.tsv", *(f"{n}.dump" for n in range(len(databases)))])

    changed = running.run(CONNECT + OTHER_DATABASES_CHANGE)
    assert changed.status == "ok", changed.errors
    restored = running.cli("restore", str(archive), "--data-dir", str(running.data_dir), "--yes")
    assert restored.returncode == 0, restored.stderr
    back = running.run(CONNECT + OTHER_DATABASES_READ)
    assert back.status == "ok", back.errors
    assert back.stdout.split("\n")[:3] == ["[1, 2] 2", "['kept']", "mine"]


def test_a_restore_whose_second_database_fails_changes_no_database(running, tmp_path):
    good = tmp_path / "good.tar.gz"
    assert running.cli("backup", "--data-dir", str(running.data_dir), "-o", str(good)).returncode == 0
    contents = postgres_dump_contents(good)
    listed = contents["databases.tsv"].decode()
    dumps = [contents[f"{n}.dump"] for n in range(len(contents) - 1)]
    # tm351's dump broken: it is restored after testdb and the others before it in name order.
    dumps[[line.split("\t")[0] for line in listed.splitlines()].index("tm351")] = b"not a pg_dump archive"
    crafted = rewritten(good, tmp_path / "crafted.tar.gz", {"databases/postgres.dump": postgres_dump(listed, dumps)})
    keeping_notes = OTHER_DATABASES_CHANGE.replace('    db.execute("DROP TABLE notes")\n', "    pass\n")
    changed = running.run(CONNECT + keeping_notes)
    assert changed.status == "ok", changed.errors

    result = running.cli("restore", str(crafted), "--data-dir", str(running.data_dir), "--yes")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "the database tm351 in the archive could not be restored; no database was changed" in result.stderr
    unchanged = running.run(CONNECT + AS_CHANGED)
    assert unchanged.status == "ok", unchanged.errors
    assert unchanged.stdout.split("\n")[:2] == ["True", "['after the backup', 'kept']"]
    assert running.cli("restore", str(good), "--data-dir", str(running.data_dir), "--yes").returncode == 0


def student_files(stack: Stack) -> dict[str, str]:
    found = [path for folder in ("notebooks", "data") for path in (stack.data_dir / folder).rglob("*")]
    return {str(path.relative_to(stack.data_dir)): path.read_text() for path in found if path.is_file()}


def test_a_dump_that_fails_to_restore_leaves_the_rows_and_the_files_as_they_were(running, tmp_path):
    (running.data_dir / "data" / "grades.csv").write_text("code,grade\nTM351,85\n")
    good = tmp_path / "good.tar.gz"
    assert running.cli("backup", "--data-dir", str(running.data_dir), "-o", str(good)).returncode == 0
    crafted = rewritten(good, tmp_path / "garbage.tar.gz", {"databases/postgres.dump": b"not a pg_dump archive"})
    (running.data_dir / "data" / "grades.csv").write_text("changed since the backup\n")
    (running.data_dir / "notebooks" / "new.ipynb").write_text("{}")
    rows_before, files_before = rows(running), student_files(running)

    result = running.cli("restore", str(crafted), "--data-dir", str(running.data_dir), "--yes")
    assert rows(running) == rows_before
    assert student_files(running) == files_before
    assert not (running.data_dir / ".tm351-restoring").exists()
    assert result.returncode == 1, result.stdout + result.stderr
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert "Restoring the postgres databases failed" in error and "No file or database was changed" in error
    assert "Traceback" not in result.stderr
    (running.data_dir / "notebooks" / "new.ipynb").unlink()


# A database whose restore runs a server program: a check constraint calls a function that does it for any row
# loaded into another database than the one it was made in (so making the archive runs nothing).
# Run as its data is restored: it grants whoever restores it the role that runs programs (tm351admin's CREATEROLE
# let it grant PostgreSQL's predefined roles), then runs one.
ATTACK_SQL = """
CREATE FUNCTION shell(value int) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    IF current_database() <> 'attack' THEN
        BEGIN
            EXECUTE format('GRANT pg_execute_server_program TO %I', current_user);
        EXCEPTION WHEN insufficient_privilege THEN NULL;
        END;
        EXECUTE 'COPY (SELECT 1) TO PROGRAM ''touch /tmp/run-by-a-backup''';
    END IF;
    RETURN true;
END $$;
CREATE TABLE modules (code text PRIMARY KEY, credits int CHECK (shell(credits)));
INSERT INTO modules VALUES ('EVIL', 1);
"""


def postgres_dump(databases: str, dumps: list[bytes]) -> bytes:
    """A postgres dump as backup.sh writes it: its list of databases and one pg_dump archive per line."""
    made = io.BytesIO()
    with tarfile.open(fileobj=made, mode="w") as tar:
        for name, data in [("databases.tsv", databases.encode()), *((f"{n}.dump", d) for n, d in enumerate(dumps))]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return made.getvalue()


# The attacker's dump as earlier images wrote one (a single archive, restored as tm351), in a backup that claims
# the superuser owns the database, and in one whose database name would end the SQL it is put into.
ATTACKS = {
    "earlier-format": lambda dump: dump,
    "owner-postgres": lambda dump: postgres_dump("tm351\tpostgres\n", [dump]),
    "injected-name": lambda dump: postgres_dump('tm351" OWNER TO tm351; DROP DATABASE testdb; --\ttm351\n', [dump]),
}


@pytest.mark.parametrize("attack", ATTACKS)
def test_a_backup_from_elsewhere_cannot_run_sql_as_the_superuser(running, engine, tmp_path, attack):
    before = rows(running)
    (postgres,) = engine.containers.list(
        filters={"label": [f"com.docker.compose.project={running.project}", "org.tm351.app=postgres"]}
    )
    as_superuser = ["psql", "--no-psqlrc", "-v", "ON_ERROR_STOP=1", "--host=/var/run/postgresql"]
    assert postgres.exec_run([*as_superuser, "-c", "CREATE DATABASE attack"], user="postgres").exit_code == 0
    try:
        made = postgres.exec_run([*as_superuser, "-d", "attack", "-c", ATTACK_SQL], user="postgres")
        assert made.exit_code == 0, made.output
        dumped = postgres.exec_run(["pg_dump", "--host=/var/run/postgresql", "-Fc", "attack"], user="postgres",
                                   demux=True)  # fmt: skip
        assert dumped.exit_code == 0, dumped.output[1]
    finally:
        postgres.exec_run([*as_superuser, "-c", "DROP DATABASE IF EXISTS attack"], user="postgres")
    good = tmp_path / "good.tar.gz"
    assert running.cli("backup", "--data-dir", str(running.data_dir), "-o", str(good)).returncode == 0
    crafted_dump = ATTACKS[attack](dumped.output[0])
    crafted = rewritten(good, tmp_path / "crafted.tar.gz", {"databases/postgres.dump": crafted_dump})

    result = running.cli("restore", str(crafted), "--data-dir", str(running.data_dir), "--yes")
    ran = postgres.exec_run(["test", "-e", "/tmp/run-by-a-backup"]).exit_code == 0
    assert not ran, "the archive's SQL ran a program in the database container"
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert rows(running) == before
    databases = postgres.exec_run([*as_superuser, "-tAc", "SELECT datname FROM pg_database"], user="postgres")
    assert {"testdb", "tm351"} <= set(databases.output.decode().split()), databases.output
    members = "SELECT count(*) FROM pg_auth_members WHERE roleid = 'pg_execute_server_program'::regrole"
    assert postgres.exec_run([*as_superuser, "-tAc", members], user="postgres").output.decode().strip() == "0"
    left = "SELECT count(*) FROM pg_roles WHERE rolname = 'tm351_restorer'"  # the restore's own login is gone
    assert postgres.exec_run([*as_superuser, "-tAc", left], user="postgres").output.decode().strip() == "0"
    restored = running.cli("restore", str(good), "--data-dir", str(running.data_dir), "--yes")
    assert restored.returncode == 0, restored.stderr  # the course's own backups still restore
    assert rows(running) == before


@pytest.mark.parametrize("kind", ["truncated", "bad-crc", "secrets", "foreign", "unsafe"])
def test_a_corrupt_or_foreign_archive_is_refused_and_nothing_changes(running, tmp_path, kind):
    before, password = rows(running), running.secret("password")
    archive = tmp_path / f"{kind}.tar.gz"
    good = tmp_path / "good.tar.gz"
    if kind in ("truncated", "bad-crc", "secrets"):
        assert running.cli("backup", "--data-dir", str(running.data_dir), "-o", str(good)).returncode == 0
    if kind == "truncated":
        archive.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    elif kind == "bad-crc":
        damaged = bytearray(good.read_bytes())
        damaged[-8] ^= 0xFF  # gzip's trailer, which reading the tar alone never reaches
        archive.write_bytes(bytes(damaged))
    elif kind == "secrets":
        rewritten(good, archive, {"files/.tm351/password": b"the attacker's password\n"})
    else:
        with tarfile.open(archive, "w:gz") as made:
            manifest = {"format": "tm351-backup", "format_version": 1, "created": "x", "version": "x", "recipe": None}
            content = json.dumps(manifest if kind == "unsafe" else {"hello": "world"}).encode()
            for name in ("manifest.json", "../escape.txt" if kind == "unsafe" else "other.txt"):
                info = tarfile.TarInfo(name)
                info.size = len(content)
                made.addfile(info, io.BytesIO(content))
    result = running.cli("restore", str(archive), "--data-dir", str(running.data_dir), "--yes")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "nothing was changed" in result.stderr
    assert "Traceback" not in result.stderr
    assert rows(running) == before
    assert running.secret("password") == password
    assert not (running.data_dir.parent / "escape.txt").exists()


def test_expose_db_with_its_port_taken_is_refused_before_anything_stops(running, engine):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", EXPOSED_DB_PORT))
        taken.listen()
        result = running.cli(
            "up", "jupyter-postgres", "--data-dir", str(running.data_dir), "--port", str(running.port), "--expose-db"
        )
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"Port {EXPOSED_DB_PORT} on 127.0.0.1 is already in use" in result.stderr
    assert "Nothing was started or stopped" in result.stderr and "Traceback" not in result.stderr
    containers = engine.containers.list(filters={"label": f"com.docker.compose.project={running.project}"})
    assert {container.status for container in containers} == {"running"} and len(containers) == 4
    assert running.get("/jupyter/api/status", running.login()).status_code == 200


def test_expose_db_publishes_postgres_on_loopback_only(running, engine):
    result = running.cli(
        "up", "jupyter-postgres", "--data-dir", str(running.data_dir), "--port", str(running.port), "--expose-db"
    )
    assert result.returncode == 0, result.stderr
    (postgres,) = engine.containers.list(
        filters={"label": [f"com.docker.compose.project={running.project}", "org.tm351.app=postgres"]}
    )
    bindings = postgres.attrs["HostConfig"]["PortBindings"]
    assert bindings == {"5433/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(EXPOSED_DB_PORT)}]}
    door = {"host": "127.0.0.1", "port": EXPOSED_DB_PORT, "dbname": "tm351"}
    # The install's own login, with the install's password, sees what the course's logins made.
    with psycopg.connect(**door, user="student", password=running.secret("postgres_password")) as connection:
        assert connection.execute("SELECT count(*) FROM modules").fetchone() == (2,)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(**door, user="student", password="wrong" * 4)
    # The course's logins, whose passwords anyone can read in the course's notebooks, are refused at the door.
    for user, password in COURSE_LOGINS:
        with pytest.raises(psycopg.OperationalError, match="rejects connection"):
            psycopg.connect(**door, user=user, password=password)


def test_a_notebook_exports_to_word_with_its_tables(running, tmp_path):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_markdown_cell(
            "# Modules\n\n| Module | Credits |\n| --- | --- |\n| TM351 | 30 |\n| M269 | 30 |\n"
        ),
        nbformat.v4.new_code_cell("import pandas as pd\npd.DataFrame({'name': ['alpha', 'beta'], 'score': [17, 42]})"),
    ]
    (running.data_dir / "notebooks" / "export.ipynb").write_text(nbformat.writes(notebook))
    executed = running.run(
        "import nbformat, nbclient\n"
        "nb = nbformat.read('notebooks/export.ipynb', 4)\n"
        "nbclient.NotebookClient(nb, kernel_name='python3').execute()\n"
        "nbformat.write(nb, 'notebooks/export.ipynb')\n"
    )
    assert executed.status == "ok", executed.errors
    listed = running.get("/jupyter/api/nbconvert", running.login()).json()
    assert "docx" in listed
    # JupyterLab opens the export from its own page: Jupyter checks that the request comes from there.
    from_lab = {**running.login(), "Referer": running.url("/jupyter/lab")}
    response = running.get("/jupyter/nbconvert/docx/notebooks/export.ipynb?download=true", from_lab)
    assert response.status_code == 200, response.text[:300]
    assert response.headers["Content-Type"].startswith("application/vnd.openxmlformats")
    document = docx.Document(io.BytesIO(response.content))
    tables = [[[cell.text for cell in row.cells] for row in table.rows] for table in document.tables]
    assert len(tables) == 2
    assert tables[0] == [["Module", "Credits"], ["TM351", "30"], ["M269", "30"]]
    assert tables[1] == [["", "name", "score"], ["0", "alpha", "17"], ["1", "beta", "42"]]
