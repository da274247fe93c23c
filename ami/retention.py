"""Baked AMIs over time: list them, and prune old ones with their snapshots in every region they were copied to."""

from __future__ import annotations

from dataclasses import dataclass

import boto3

from tm351vce.ami.aws import BAKE_TAG, RECIPE_TAG, REGIONS_TAG, ROLE_TAG, VERSION_TAG, delete_image, ec2, tags_of


@dataclass(frozen=True)
class Release:
    image_id: str
    name: str
    recipe: str
    version: str
    created: str
    bake_id: str
    regions: tuple[str, ...]  # where this bake's copies live, its own region first
    public: bool

    def as_dict(self) -> dict:
        return {
            "image_id": self.image_id,
            "name": self.name,
            "recipe": self.recipe,
            "version": self.version,
            "created": self.created,
            "regions": list(self.regions),
            "public": self.public,
        }


def list_releases(session: boto3.Session) -> list[Release]:
    """This account's baked AMIs in the session's region, newest first."""
    region = session.region_name
    images = ec2(session).describe_images(
        Owners=["self"], Filters=[{"Name": f"tag:{ROLE_TAG}", "Values": ["release"]}]
    )["Images"]
    releases = []
    for image in images:
        tags = tags_of(image)
        copies = [name for name in tags.get(REGIONS_TAG, region).split(",") if name]
        releases.append(
            Release(
                image_id=image["ImageId"],
                name=image.get("Name", ""),
                recipe=tags.get(RECIPE_TAG, "?"),
                version=tags.get(VERSION_TAG, "?"),
                created=image.get("CreationDate", ""),
                bake_id=tags.get(BAKE_TAG, ""),
                regions=(region, *(name for name in copies if name != region)),
                public=bool(image.get("Public")),
            )
        )
    return sorted(releases, key=lambda release: (release.created, release.name), reverse=True)


def to_prune(releases: list[Release], keep: int) -> list[Release]:
    """All but the newest `keep` of each recipe."""
    kept: dict[str, int] = {}
    doomed = []
    for release in releases:  # newest first
        kept[release.recipe] = kept.get(release.recipe, 0) + 1
        if kept[release.recipe] > keep:
            doomed.append(release)
    return doomed


def prune(session: boto3.Session, release: Release) -> list[str]:
    """Deregister the release and its copies, deleting their snapshots; returns what was removed."""
    removed = []
    for region in release.regions:
        client = ec2(session, region)
        if region == session.region_name:
            image_ids = [release.image_id]
        else:
            mine = [{"Name": f"tag:{BAKE_TAG}", "Values": [release.bake_id]}]
            image_ids = [image["ImageId"] for image in client.describe_images(Owners=["self"], Filters=mine)["Images"]]
        for image_id in image_ids:
            snapshots = delete_image(client, image_id)
            removed.append(f"{region}: {image_id}" + (f" ({', '.join(snapshots)})" if snapshots else ""))
    return removed
