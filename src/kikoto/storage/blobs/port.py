"""The blob store port. Blobs are content-addressed and immutable; uploads are append-only
files that become a blob only when committed under their verified digest."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


class UploadConflict(Exception):
    """Another request is writing to the same upload right now."""


class BlobArchived(Exception):
    """The blob is in the archive tier: its image must be restored before it can be pulled."""


@dataclass(frozen=True)
class StoredBlob:
    digest: str
    tier: str  # standard | archive
    size: int
    modified: float  # seconds since the epoch


class UploadWriter(Protocol):
    async def write(self, data: bytes) -> None: ...


class BlobStore(Protocol):
    async def start_upload(self, upload_id: str) -> None: ...

    async def upload_size(self, upload_id: str) -> int:
        """Bytes stored for an upload (-1 when it does not exist)."""

    def open_upload(
        self, upload_id: str, offset: int, stored: int | None = None, final: bool = False
    ) -> AbstractAsyncContextManager[UploadWriter]:
        """Async context manager yielding an UploadWriter that appends at `offset`
        (anything stored past it, from an interrupted request, is discarded). Hints a store
        may use: `stored`, the upload's stored size as the caller just read it (-1: nothing);
        `final`, this request finishes the upload (commit_upload follows in it, unless the
        digest is wrong and abort_upload does)."""

    def read_upload(self, upload_id: str) -> AsyncIterator[bytes]:
        """The stored bytes of an upload, for re-hashing when no hash state is at hand."""

    async def commit_upload(self, upload_id: str, digest: str) -> bool:
        """Durably turn a verified upload into the blob `digest`. When that blob exists already,
        keep the upload and return False; `settle_upload` then finishes."""

    async def settle_upload(self, upload_id: str, digest: str) -> None:
        """Drop a kept upload, or move it into place if the blob has disappeared meanwhile."""

    async def abort_upload(self, upload_id: str) -> None: ...

    async def exists(self, digest: str) -> bool: ...

    async def location(self, digest: str) -> Path | str | None:
        """A local path to serve with sendfile, a URL to redirect the client to, or None:
        then `stream(digest)` yields the bytes for the registry to send itself."""

    async def remove(self, blobs: Sequence[tuple[str, str]]) -> None:
        """Delete the bytes of (digest, tier) pairs, absent ones included (GC calls it inside
        its locked transaction; on SQLite the filesystem store never suspends there)."""

    async def probe(self) -> None:
        """Raise unless the store is reachable and writable (readiness)."""

    async def move(self, digest: str, to_tier: str) -> None:
        """Move a blob between the standard and the archive tier (a directory, or a storage class)."""

    async def stat(self, digest: str, tier: str = "standard") -> int | None:
        """The stored size of a blob's bytes in `tier`, None when they are absent."""

    def stream(self, digest: str) -> AsyncIterator[bytes]:
        """A standard-tier blob's bytes, for the registry to send itself (`location` gave None)."""

    def read(self, digest: str, tier: str = "standard") -> AsyncIterator[bytes]:
        """A blob's bytes (for verifying its digest)."""

    def inventory(self) -> AsyncIterator[StoredBlob]:
        """Every blob whose bytes are stored, in both tiers (what fsck holds the metadata against)."""

    def free_space(self) -> int | None:
        """Bytes free where new blobs go, None when the store has no such limit (S3)."""
