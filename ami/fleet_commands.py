"""What the `fleet` commands do: read and check the roster first, then act on the whole class."""

from __future__ import annotations

from pathlib import Path

import boto3
from rich.console import Console

from tm351vce.ami.aws import aws_session, calling_aws
from tm351vce.ami.fleet import Fleet, FleetOptions, FleetResult
from tm351vce.ami.roster import RosterRow, read_roster
from tm351vce.shelf.catalogue import Recipe, Shelf
from tm351vce.shelf.errors import UsageProblem


def _fleet(
    shelf: Shelf, recipe: Recipe, region: str | None, options: FleetOptions, console: Console,
    session: boto3.Session | None = None,
) -> Fleet:  # fmt: skip
    return Fleet(shelf, recipe, session or aws_session(region), options, console)


def fleet_up(
    shelf: Shelf,
    recipe: Recipe,
    roster: Path,
    region: str | None,
    options: FleetOptions,
    credentials: Path,
    console: Console,
    session: boto3.Session | None = None,
) -> FleetResult:
    rows = read_roster(roster)  # every bad line is refused before anything is made
    fleet = _fleet(shelf, recipe, region, options, console, session)
    result = calling_aws(lambda: fleet.up(rows), "launching the class")
    fleet.write_credentials(rows, credentials)
    result.credentials = credentials
    return result


def fleet_status(shelf: Shelf, roster: Path, region: str | None, console: Console) -> list[dict]:
    rows = read_roster(roster)
    fleet = _fleet(shelf, shelf.default_recipe, region, FleetOptions(), console)
    return calling_aws(lambda: fleet.status(rows), "describing the class")


def fleet_down(
    shelf: Shelf, roster: Path, region: str | None, yes: bool, console: Console, session: boto3.Session | None = None
) -> tuple[int, int]:
    rows: list[RosterRow] = read_roster(roster)
    if not yes:
        raise UsageProblem(
            f"fleet down terminates the instances of the {len(rows)} students of {roster}: their notebooks, data "
            "and databases are lost for good. Ask them to download their work first, then run it again with --yes."
        )
    fleet = _fleet(shelf, shelf.default_recipe, region, FleetOptions(), console, session)
    return calling_aws(lambda: fleet.down(rows), "removing the class")
