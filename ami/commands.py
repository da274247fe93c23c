"""What `bake` and `amis` do, between the command line and the AWS steps."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from tm351vce.ami.aws import aws_session, calling_aws
from tm351vce.ami.bake import Bake, BakeOptions
from tm351vce.ami.retention import Release, list_releases, prune, to_prune
from tm351vce.ami.waiting import Polling
from tm351vce.shelf.catalogue import Recipe, Shelf
from tm351vce.shelf.errors import UsageProblem


def bake(
    shelf: Shelf,
    recipe: Recipe,
    *,
    region: str | None,
    registry: str | None,
    registry_ca: Path | None,
    base_ami: str,
    instance_type: str,
    copy_to: list[str],
    share: list[str],
    name: str | None,
    timeout_s: float,
    interval_s: float,
    manifest: Path | None,
    dry_run: bool,
    keep_on_error: bool,
    console: Console,
) -> list[str] | dict:
    """The plan (dry run) or the manifest of the baked AMI."""
    options = BakeOptions(
        recipe=recipe,
        registry=registry,
        registry_ca=registry_ca,
        base_ami=base_ami,
        instance_type=instance_type,
        copy_to=tuple(dict.fromkeys(copy_to)),
        share=tuple(dict.fromkeys(share)),
        name=name,
        polling=Polling(interval_s=interval_s, timeout_s=timeout_s),
        manifest=manifest,
        keep_on_error=keep_on_error,
    )
    session = aws_session(region)
    job = Bake(shelf, options, session, console=console)
    if dry_run:
        # Read-only: the plan names the AMI it would start from.
        calling_aws(job.resolve_base, "looking up the base AMI")
        return job.plan()
    baked = job.run()
    return {"manifest": str(baked.manifest), "amis": baked.amis}


def releases(region: str | None) -> list[Release]:
    return calling_aws(lambda: list_releases(aws_session(region)), "listing the AMIs")


def prune_releases(region: str | None, keep: int, confirm: Callable[[list[Release]], bool]) -> list[str]:
    if keep < 1:
        raise UsageProblem("--keep must be at least 1: prune never removes every release of a recipe.")
    session = aws_session(region)
    doomed = to_prune(calling_aws(lambda: list_releases(session), "listing the AMIs"), keep)
    if not doomed or not confirm(doomed):
        return []
    removed: list[str] = []
    for release in doomed:
        removed += calling_aws(lambda release=release: prune(session, release), f"pruning {release.image_id}")
    return removed
