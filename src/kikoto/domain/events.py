"""Image changes: the typed events the outbox records in the transaction of each change, and
that its consumers (replication, webhooks, scanning) read back. Pure code.

Each kind is a class; what it carries beyond the image is its own fields, stored by name (the
wire shapes a consumer sends, EventBridge's or CloudEvents', are built by that consumer alone).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True, kw_only=True)
class ImageChanged:
    """Something happened to an image of a repository (a tag of it, when `tag` is set)."""

    KIND: ClassVar[str]
    repository: str
    digest: str
    tag: str | None = None
    media_type: str | None = None  # the manifest's
    artifact_media_type: str | None = None  # its config's: tells images from signatures and SBOMs
    id: int = 0  # the position in the outbox (0 until recorded)
    at: float = 0.0  # when it was recorded

    @property
    def is_image(self) -> bool:
        """An image or an index of images (not a signature, an SBOM or another artifact)."""
        if self.media_type and ("index" in self.media_type or "list" in self.media_type):
            return True
        return self.artifact_media_type in IMAGE_CONFIGS


IMAGE_CONFIGS = {
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.container.image.v1+json",
}


class ImagePushed(ImageChanged):  # no facts of its own: the base's dataclass serves
    KIND = "PUSH"


@dataclass(frozen=True, kw_only=True)
class ImageCached(ImageChanged):
    """Stored by the pull-through cache from its rule's upstream."""

    KIND = "PULL_THROUGH_CACHE"
    rule_prefix: str = ""
    upstream_url: str = ""


class ImageDeleted(ImageChanged):  # no facts of its own: the base's dataclass serves
    KIND = "DELETE"


@dataclass(frozen=True, kw_only=True)
class StorageClassChanged(ImageChanged):
    """Archived, or restored (then `activated_at` says when)."""

    KIND = "UPDATE_STORAGE_CLASS"
    storage_class: str = "STANDARD"
    activated_at: float | None = None


@dataclass(frozen=True, kw_only=True)
class ImageReplicated(ImageChanged):
    KIND = "REPLICATE"
    succeeded: bool = True
    source_account: str = ""
    source_region: str = ""
    destination_region: str = ""
    destination_registry_id: str = ""


@dataclass(frozen=True, kw_only=True)
class ImageScanned(ImageChanged):
    KIND = "SCAN"
    severity_counts: dict[str, int] = field(default_factory=dict)
    tags: tuple[str, ...] = ()


KINDS: dict[str, type[ImageChanged]] = {
    kind.KIND: kind
    for kind in (ImagePushed, ImageCached, ImageDeleted, StorageClassChanged, ImageReplicated, ImageScanned)
}
COLUMNS = ("repository", "digest", "tag", "id", "at")  # stored beside the facts, not in them


def facts(change: ImageChanged) -> dict[str, Any]:
    """What a change carries besides its columns, by field name (None and empty left out)."""
    found = {}
    for item in dataclasses.fields(change):
        value = getattr(change, item.name)
        if item.name not in COLUMNS and value not in (None, "", (), {}):
            found[item.name] = list(value) if isinstance(value, tuple) else value
    return found


def change_of(
    kind: str, repository: str, digest: str, tag: str | None, stored: dict[str, Any], id: int = 0, at: float = 0.0
) -> ImageChanged:
    """A recorded change back as its type (facts a newer version wrote and this one does not
    know are left out: a consumer reads what it understands)."""
    cls = KINDS[kind]
    known = {f.name for f in dataclasses.fields(cls)} - set(COLUMNS)
    values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in stored.items() if k in known}
    return cls(repository=repository, digest=digest, tag=tag, id=id, at=at, **values)
