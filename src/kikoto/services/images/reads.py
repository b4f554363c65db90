"""What a pull reads: the OCI face reads manifests, referrers and blobs through `Reads`, and a
feature may wrap it (the pull-through cache fetches what is missing from an upstream, as
Distribution's proxy blob store wraps the blob store), so no /v2 handler knows of features."""

from __future__ import annotations

from typing import Protocol

from ...storage.meta.ports import Referrer
from ..blobs.service import BlobLocation, Blobs
from .manifests import Manifests, PulledManifest


class Caller(Protocol):
    """Who is reading, as far as a wrapper needs to know: what else they may do on the
    repository (the pull-through cache imports only for callers allowed to)."""

    async def may(self, action: str) -> bool: ...


class Reads:
    """The core's reads: what is stored here, nothing else. Subclasses wrap another `Reads`."""

    def __init__(self, manifests: Manifests, blobs: Blobs) -> None:
        self.manifests, self.blobs = manifests, blobs

    async def manifest(
        self, name: str, reference: str, caller: Caller, *, with_content: bool = True, record_pull: bool = True
    ) -> PulledManifest:
        return await self.manifests.pull(name, reference, with_content, record_pull)

    async def referrers(
        self, name: str, subject: str, caller: Caller, artifact_type: str | None, limit: int, after: str | None
    ) -> list[Referrer]:
        return await self.manifests.referrers(name, subject, artifact_type, limit, after)

    async def blob(self, name: str, digest: str, caller: Caller) -> BlobLocation:
        """Where the blob's bytes are (a file, a URL, or a stream to copy)."""
        return await self.blobs.locate(name, digest)

    async def blob_size(self, name: str, digest: str, caller: Caller) -> int:
        return await self.blobs.stat(name, digest)


class Wrapper(Reads):
    """A `Reads` that passes everything it does not change on to the one it wraps."""

    def __init__(self, inner: Reads) -> None:
        super().__init__(inner.manifests, inner.blobs)
        self.inner = inner

    async def manifest(
        self, name: str, reference: str, caller: Caller, *, with_content: bool = True, record_pull: bool = True
    ) -> PulledManifest:
        return await self.inner.manifest(name, reference, caller, with_content=with_content, record_pull=record_pull)

    async def referrers(
        self, name: str, subject: str, caller: Caller, artifact_type: str | None, limit: int, after: str | None
    ) -> list[Referrer]:
        return await self.inner.referrers(name, subject, caller, artifact_type, limit, after)

    async def blob(self, name: str, digest: str, caller: Caller) -> BlobLocation:
        return await self.inner.blob(name, digest, caller)

    async def blob_size(self, name: str, digest: str, caller: Caller) -> int:
        return await self.inner.blob_size(name, digest, caller)
