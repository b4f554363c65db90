"""Artifacts the registry attaches to its own images as referrers (signatures, SBOMs): one
OCI 1.1 artifact manifest each (an empty config, one layer, the image as its subject), written
by the registry itself and recorded as a push, so replication, events and the referrers API see
it as they see a client's."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator

from ...domain.errors import ImageNotFound
from ...domain.events import ImagePushed
from ...domain.manifests import OCI_MANIFEST
from ..blobs.service import Blobs
from .manifests import Manifests

EMPTY, EMPTY_TYPE = b"{}", "application/vnd.oci.empty.v1+json"


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
        head = await self.manifests.meta.find_manifest(repository, digest=subject)
        if head is None:
            raise ImageNotFound(f"manifest unknown: {subject}")
        for content in (EMPTY, layer):
            await self.blobs.upload_whole(repository, _digest(content), _once(content), len(content), True)
        document = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": artifact_type,
            "config": {"mediaType": EMPTY_TYPE, "digest": _digest(EMPTY), "size": len(EMPTY)},
            "layers": [{"mediaType": layer_type, "digest": _digest(layer), "size": len(layer)}],
            "subject": {"mediaType": head.media_type, "digest": subject, "size": head.size},
            **({"annotations": annotations} if annotations else {}),
        }
        manifest = json.dumps(document, separators=(",", ":")).encode()
        digest = _digest(manifest)
        await self.manifests.cache(repository, manifest, OCI_MANIFEST, digest, [], ImagePushed)
        return digest
