"""Online garbage collection: blobs no manifest references go, while pushes keep running.

A blob is collected only when no manifest in any repository references it and every
repository link to it is older than the grace period; the final check happens with the blob's
row locked, the same lock a manifest push takes on the blobs it references, so a push either
sees the blob or is refused (and re-uploads) — never a manifest pointing at deleted bytes.
Collection is two steps so that a crash at any instant leaves the metadata truthful: the row
moves to the trash (the blob is forgotten), then the bytes and the trash row go. Abandoned
upload sessions expire too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..storage.blobs.port import BlobStore
from ..storage.meta.ports import Stores

BATCH = 1000  # blobs per transaction: large enough to amortise it, small enough to keep locks short


@dataclass
class GcSummary:
    blobs: int = 0
    bytes: int = 0
    uploads: int = 0
    dry_run: bool = False


class GarbageCollector:
    def __init__(
        self,
        stores: Stores,
        blobs: BlobStore,
        grace: float,
        upload_ttl: float,
        clock=time.time,
    ) -> None:
        self.uploads, self.store, self.blobs = stores.uploads, stores.housekeeping, blobs
        self.usage, self.audit = stores.usage, stores.audit
        self.grace, self.upload_ttl = grace, upload_ttl
        self._clock = clock

    async def run(self, dry_run: bool = False, grace: float | None = None, progress=None) -> GcSummary:
        now = self._clock()
        cutoff = now - (self.grace if grace is None else grace)
        summary = GcSummary(dry_run=dry_run)
        for upload_id in await self.store.stale_uploads(now - self.upload_ttl):
            summary.uploads += 1
            if not dry_run:
                await self.uploads.delete_upload(upload_id)
                await self.blobs.abort_upload(upload_id)
        if not dry_run:  # bytes a run that crashed had still to delete
            while await self.store.purge(self.blobs.remove, BATCH) == BATCH:
                pass
        # Batches by key: memory stays flat, and each batch is one locked transaction, then one purge.
        after, seen = "", 0
        while chunk := await self.store.gc_candidates(cutoff, after, BATCH):
            after = chunk[-1]
            if dry_run:
                sizes = await self.store.reclaimable(-1, set(), set(chunk))
                summary.blobs += len(sizes)
                summary.bytes += sum(sizes.values())
            else:
                freed = await self.store.collect(chunk, cutoff)
                while await self.store.purge(self.blobs.remove, BATCH) == BATCH:
                    pass
                summary.blobs += len(freed)
                summary.bytes += sum(freed.values())
            seen += len(chunk)
            if progress:
                progress(seen, None)
        if not dry_run:
            await self.usage.snapshot()
        if not dry_run and (summary.blobs or summary.uploads):
            await self.audit.record(
                [
                    {
                        "actor": "gc",
                        "action": "GC",
                        "detail": {"blobs": summary.blobs, "bytes": summary.bytes, "uploads": summary.uploads},
                    }
                ]
            )
        return summary
