"""A course team's datasets, carried by the images they are loaded into: checked, digested and put in the build
context of each app that loads a part of them.

The folder (`--course-data DIR`, or the shelf's `defaults.course_data`):

    postgres/NAME.sql        plain SQL (psql), run once into database NAME (made when missing) as its owner's
                             course login; psql runs in postgres/, so `\\copy ... FROM 'NAME/table.csv'` reads
                             files beside it
    mongodb/DB/COLL.json     one document per line, Extended JSON as mongoexport writes it: loaded once into DB.COLL
    files/...                copied into the student's data/ folder, never over a file that is there

Each app's part reaches its image as /usr/local/share/tm351/course-data/, and the image is labelled with the
whole folder's digest. What loads it, once, is in each image's start-up (images/postgres, images/mongodb,
images/jupyter)."""

from __future__ import annotations

import hashlib
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from tm351vce.shelf.errors import UsageProblem

# The app's part of the folder, by the app's `course_data` setting.
PARTS = ("postgres", "mongodb", "files")
CONTEXT_FOLDER = "course-data"
POSTGRES_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
MONGODB_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,62}$")
MONGODB_COLLECTION = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,119}$")
RESERVED_POSTGRES = {"postgres", "template0", "template1"}
RESERVED_MONGODB = {"admin", "config", "local"}


@dataclass(frozen=True)
class CourseData:
    folder: Path
    digest: str

    def part(self, name: str) -> Path:
        return self.folder / name


def read_course_data(folder: Path) -> CourseData:
    """The folder, checked (check_course_data), and its digest, which reads every file."""
    files = check_course_data(folder)
    digest = hashlib.sha256()
    for path in files:
        digest.update(f"{path.relative_to(folder).as_posix()}\0{path.stat().st_size}\0".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return CourseData(folder, digest.hexdigest())


def check_course_data(folder: Path) -> list[Path]:
    """The folder's files, each checked by name and kind only (nothing is read): every one is one that a loader
    takes; otherwise a UsageProblem naming the file and the fix."""
    where = f"--course-data {folder}"
    if not folder.is_dir():
        raise UsageProblem(f"{where}: no such folder; give the folder of the course's datasets.")
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or entry.name.lower().startswith("readme"):
            continue
        if entry.name not in PARTS or entry.is_symlink() or not entry.is_dir():
            raise UsageProblem(
                f"{where}: {entry.name} is not one of its folders: put datasets in {', '.join(PARTS)} (see the README)."
            )
    files = _regular_files(folder, where)
    for path in files:
        _check(path.relative_to(folder), where)
    return files


def _regular_files(folder: Path, where: str) -> list[Path]:
    found = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if relative.parts[0] not in PARTS or any(part.startswith(".") for part in relative.parts):
            continue
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            raise UsageProblem(f"{where}: {relative} is a link or a special file: replace it with the file itself.")
        if path.is_file():
            found.append(path)
    return found


def _check(relative: Path, where: str) -> None:
    part, *rest = relative.parts
    if part == "postgres" and len(rest) == 1:
        name = relative.stem
        if relative.suffix != ".sql" or not POSTGRES_NAME.match(name) or name in RESERVED_POSTGRES:
            raise UsageProblem(
                f"{where}: {relative} is not NAME.sql with NAME a database name (lower-case letters, digits and _, "
                f"not {', '.join(sorted(RESERVED_POSTGRES))}): rename it."
            )
    elif part == "mongodb":
        if len(rest) != 2 or relative.suffix != ".json":
            raise UsageProblem(f"{where}: {relative} is not mongodb/DB/COLLECTION.json: move or rename it.")
        database, collection = rest[0], Path(rest[1]).stem
        if not MONGODB_NAME.match(database) or database in RESERVED_MONGODB:
            raise UsageProblem(
                f"{where}: {relative}: {database} is not a database name this loads (letters, digits, _ and -, "
                f"not {', '.join(sorted(RESERVED_MONGODB))}): rename the folder."
            )
        if not MONGODB_COLLECTION.match(collection) or collection.startswith("system."):
            raise UsageProblem(f"{where}: {relative}: {collection} is not a collection name this loads: rename it.")


def stage_part(course_data: CourseData | None, part: str | None, context: Path) -> None:
    """Put the app's part of the course data in its build context's course-data/ (which stays empty when it has
    none, so every image's COPY of it works)."""
    target = context / CONTEXT_FOLDER
    target.mkdir(exist_ok=True)
    if course_data is None or part is None or not course_data.part(part).is_dir():
        return
    ignored = shutil.ignore_patterns(".*")
    shutil.copytree(course_data.part(part), target, ignore=ignored, dirs_exist_ok=True)
