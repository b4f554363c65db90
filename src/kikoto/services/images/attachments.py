"""Artifacts the registry attaches to its own images as referrers (signatures, SBOMs): one
OCI 1.1 artifact manifest each (domain/manifests.artifact_manifest), written by the registry
itself and recorded as a push, so replication, events and the referrers API see it as they see
a client's."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

from ...domain.errors import ImageNotFound
from ...domain.events import ImagePushed
from ...domain.manifests import EMPTY_CONFIG, OCI_MANIFEST, Descriptor, artifact_manifest
from ..blobs.service import Blobs
from .manifests import Manifests


def _digest(content: bytes) -> str:
    return "sha256:" + hashlib.sha256(content).hexdigest()


async def _once(content: bytes) -> AsyncIterator[bytes]:
    yield content


GENERATED_BY = "io.kikoto.generated-by"  # the annotation naming what in the registry made an artifact
REPLACED_AT_MOST = 100  # earlier artifacts of one kind looked at per attach (there is one, or a few)


class Attachments:
    def __init__(self, blobs: Blobs, manifests: Manifests) -> None:
        self.blobs, self.manifests = blobs, manifests

    async def attach(
        self,
        repository: str,
        subject: str,
        artifact_type: str,
        layer_type: str,
        layer: bytes,
        annotations: dict[str, str] | None = None,
        replacing: str | None = None,
    ) -> str:
        """Attach `layer` to image `subject` of `repository`; returns the artifact's digest.
        `replacing`: what makes it (the scanner's SBOMs): the artifact is annotated so, and the
        ones of the same type it made earlier for this subject go once the new one is in (a
        rescan replaces its SBOM instead of adding one more each time)."""
        head = await self.manifests.store.find_manifest(repository, digest=subject)
        if head is None:
            raise ImageNotFound(f"manifest unknown: {subject}")
        if replacing:
            annotations = {**(annotations or {}), GENERATED_BY: replacing}
        for content in (EMPTY_CONFIG, layer):
            await self.blobs.upload_whole(repository, _digest(content), _once(content), len(content), True)
        target = Descriptor(head.media_type, subject, head.size)
        manifest = artifact_manifest(artifact_type, layer_type, layer, target, annotations)
        digest = _digest(manifest)
        await self.manifests.cache(repository, manifest, OCI_MANIFEST, digest, [], ImagePushed)
        if replacing:
            earlier = await self.manifests.store.referrers(head.repo_id, subject, artifact_type, REPLACED_AT_MOST, None)
            ours = [r.digest for r in earlier if (r.annotations or {}).get(GENERATED_BY) == replacing]
            stale = [found for found in ours if found != digest]
            if stale:  # deleted as any image is: its tags, references and a change for events and replication
                await self.manifests.store.delete_manifests(head.repo_id, stale)
        return digest
