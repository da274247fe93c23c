"""A class roster (CSV: student_id, optional email, optional allow_cidr), checked whole before anything is launched."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from tm351vce.ami.access import parse_cidr
from tm351vce.ami.student_store import STUDENT_ID
from tm351vce.shelf.errors import UsageProblem

COLUMNS = ("student_id", "email", "allow_cidr")


@dataclass(frozen=True)
class RosterRow:
    line: int
    student_id: str
    email: str = ""
    allow_cidr: str = ""  # '' means the fleet's --allow-cidr


def read_roster(path: Path) -> list[RosterRow]:
    """Every row, or one UsageProblem listing every bad line by its number."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as problem:
        raise UsageProblem(f"--roster {path}: cannot read it ({problem}); give a UTF-8 CSV file.") from None
    reader = csv.DictReader(text.splitlines())
    header = [name.strip() for name in reader.fieldnames or []]
    if "student_id" not in header:
        raise UsageProblem(
            f"--roster {path}: the first line must name the columns, with student_id (and optionally email, "
            "allow_cidr); it is " + (", ".join(header) or "empty") + "."
        )
    unknown = [name for name in header if name not in COLUMNS]
    if unknown:
        raise UsageProblem(f"--roster {path}: unknown column(s) {', '.join(unknown)}; the columns are {COLUMNS}.")
    rows, problems, first_line_of = [], [], {}
    for number, raw in enumerate(reader, start=2):
        values = {key.strip(): (value or "").strip() for key, value in raw.items() if key is not None}
        if not any(values.values()):
            continue  # a blank line
        student = values.get("student_id", "")
        email = values.get("email", "")
        cidr = values.get("allow_cidr", "")
        if not student:
            problems.append(f"line {number}: empty student_id")
        elif not STUDENT_ID.match(student):
            problems.append(f"line {number}: student_id {student!r} may hold only letters, digits, '.', '_', '-'")
        elif student in first_line_of:
            problems.append(f"line {number}: student_id {student} again (first on line {first_line_of[student]})")
        else:
            first_line_of[student] = number
        if email and "@" not in email:
            problems.append(f"line {number}: email {email!r} is not an address")
        if cidr:
            try:
                cidr = parse_cidr(cidr, "allow_cidr")
            except UsageProblem:
                problems.append(f"line {number}: allow_cidr {cidr!r} is not a network like 203.0.113.0/24")
        rows.append(RosterRow(number, student, email, cidr))
    if problems:
        refused = UsageProblem(
            f"--roster {path} has {len(problems)} bad line(s), listed above; fix them and run again "
            "(nothing was launched)."
        )
        refused.details = "\n".join(problems)  # printed before the message by the CLI
        raise refused
    if not rows:
        raise UsageProblem(f"--roster {path} lists no students.")
    return rows
