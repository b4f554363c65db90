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
    ) -> str:
        """Attach `layer` to image `subject` of `repository`; returns the artifact's digest."""
        head = await self.manifests.store.find_manifest(repository, digest=subject)
        if head is None:
            raise ImageNotFound(f"manifest unknown: {subject}")
        for content in (EMPTY_CONFIG, layer):
            await self.blobs.upload_whole(repository, _digest(content), _once(content), len(content), True)
        target = Descriptor(head.media_type, subject, head.size)
        manifest = artifact_manifest(artifact_type, layer_type, layer, target, annotations)
        digest = _digest(manifest)
        await self.manifests.cache(repository, manifest, OCI_MANIFEST, digest, [], ImagePushed)
        return digest
