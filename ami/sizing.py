"""Whether an instance type holds a recipe: its memory, from EC2, against the recipe's budget plus the host's own.

As on a local machine, what must fit is a normal session of the apps that are awake: an app that starts on demand
(OpenRefine) is asleep until opened, and the dashboard can stop another to make room for it."""

from __future__ import annotations

import botocore.exceptions

from tm351vce.ami.aws import error_text
from tm351vce.shelf.catalogue import Recipe, Shelf
from tm351vce.shelf.constants import HOST_RESERVE_MIB
from tm351vce.shelf.errors import UsageProblem

# Smallest first: the suggestion is the cheapest general-purpose type that fits.
CANDIDATE_TYPES = ("t3.micro", "t3.small", "t3.medium", "t3.large", "t3.xlarge", "t3.2xlarge")


def needed_mib(shelf: Shelf, recipe: Recipe) -> int:
    return shelf.awake_budget_mib(recipe) + HOST_RESERVE_MIB


def check_instance_type(client, shelf: Shelf, recipe: Recipe, instance_type: str) -> int:
    """The type's memory in MiB; a type too small for the recipe is refused, naming one that fits."""
    memory = _memory_of(client, [instance_type]).get(instance_type)
    if memory is None:
        raise UsageProblem(
            f"--instance-type {instance_type!r} is not an instance type of this region: give one like t3.micro."
        )
    needed = needed_mib(shelf, recipe)
    if memory < needed:
        sizes = _memory_of(client, list(CANDIDATE_TYPES))
        fitting = [name for name in CANDIDATE_TYPES if sizes.get(name, 0) >= needed]
        suggestion = f"use --instance-type {fitting[0]}" if fitting else "use a larger instance type"
        raise UsageProblem(
            f"{instance_type} has {memory} MiB; recipe {recipe.name} needs {needed} MiB "
            f"({shelf.awake_budget_mib(recipe)} for its apps that are awake, {HOST_RESERVE_MIB} for the system): "
            f"{suggestion}."
        )
    return memory


def _memory_of(client, types: list[str]) -> dict[str, int]:
    try:
        described = client.describe_instance_types(InstanceTypes=types)["InstanceTypes"]
    except botocore.exceptions.ClientError as problem:
        if "InvalidInstanceType" in error_text(problem) and len(types) == 1:
            return {}
        if "InvalidInstanceType" in error_text(problem):
            # One unknown name spoils the whole call: ask for each on its own.
            return {name: size for one in types for name, size in _memory_of(client, [one]).items()}
        raise
    return {item["InstanceType"]: item["MemoryInfo"]["SizeInMiB"] for item in described}
