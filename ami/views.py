"""Tables for people about students' instances; `--json` prints the same data for programs."""

from __future__ import annotations

from rich.table import Table

from tm351vce.ami.fleet import FleetResult
from tm351vce.ami.student_commands import CloudStatus


def cloud_status_table(status: CloudStatus) -> Table:
    table = Table(title=f"{status.student}'s instance in {status.region}", show_header=False)
    table.add_column("what")
    table.add_column("value")
    rows = [
        ("instance", f"{status.instance_id} ({status.instance_type})"),
        ("state", status.state),
        ("recipe", status.recipe),
        ("URL", status.url or "-"),
        ("certificate SHA-256", status.fingerprint or "not reported yet"),
        ("allowed from", ", ".join(status.allowed) or "nobody"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


def fleet_summary_table(result: FleetResult) -> Table:
    table = Table(title=f"The class: {len(result.outcomes)} students")
    table.add_column("outcome")
    table.add_column("students", justify="right")
    meaning = {
        "launched": "launched now",
        "started": "started (was stopped)",
        "running": "already running",
        "failed": "failed",
    }
    for action, count in sorted(result.counts.items()):
        table.add_row(meaning.get(action, action), str(count))
    return table


def fleet_failures_table(result: FleetResult) -> Table:
    table = Table(title="Failed")
    table.add_column("student")
    table.add_column("why")
    for outcome in result.failures:
        table.add_row(outcome.student, outcome.error)
    return table


def fleet_status_table(rows: list[dict]) -> Table:
    table = Table(title=f"{len(rows)} students")
    for column in ("student", "instance", "state", "URL", "certificate SHA-256"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["student_id"], row["instance_id"] or "-", row["state"], row["url"] or "-", row["fingerprint"] or "-"
        )
    return table
