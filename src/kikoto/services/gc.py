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

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..domain.digests import key_position
from ..storage.blobs.port import BlobStore
from ..storage.meta.ports import Stores

BATCH = 1000  # blobs per transaction: large enough to amortise it, small enough to keep locks short
CHECKPOINT = "gc-checkpoint"  # the document where a run notes how far it got
CHECKPOINT_EVERY = 10  # batches: a run killed -9 leaves at most these to walk again (a few seconds)

# position (share of the digest key space walked, 0 to 1), blobs and bytes the last batch freed
Progress = Callable[[float, int, int], object]


@dataclass
class GcSummary:
    blobs: int = 0
    bytes: int = 0
    uploads: int = 0
    dry_run: bool = False
    resumed_at: float | None = None  # the position a killed run had reached, when this run went on from it


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
        self.usage, self.audit, self.documents = stores.usage, stores.audit, stores.documents
        self.grace, self.upload_ttl = grace, upload_ttl
        self._clock = clock

    async def run(
        self, dry_run: bool = False, grace: float | None = None, progress: Progress | None = None
    ) -> GcSummary:
        """Walk the blobs by digest, a batch at a time: memory stays flat at any size, and each
        batch is one locked transaction, then one purge. Every few batches the run notes the
        digest it reached (and what it freed); a run killed -9 is continued from there by the next
        one instead of walking again what it had done (a dry run neither reads nor writes it)."""
        now = self._clock()
        cutoff = now - (self.grace if grace is None else grace)
        summary = GcSummary(dry_run=dry_run)
        await self._expire_uploads(now - self.upload_ttl, dry_run, summary)
        if not dry_run:  # bytes a run that crashed had still to delete
            while await self.store.purge(self.blobs.remove, BATCH) == BATCH:
                pass
        after = "" if dry_run else await self._resume(summary)
        batches = 0
        while chunk := await self.store.gc_candidates(cutoff, after, BATCH):
            after = chunk[-1]
            if dry_run:
                freed = await self.store.reclaimable(-1, set(), set(chunk))
            else:
                freed = await self.store.collect(chunk, cutoff)
                while await self.store.purge(self.blobs.remove, BATCH) == BATCH:
                    pass
            summary.blobs += len(freed)
            summary.bytes += sum(freed.values())
            if progress:
                progress(key_position(after), len(freed), sum(freed.values()))
            batches += 1
            if not dry_run and batches % CHECKPOINT_EVERY == 0:
                await self._save(after, summary)
        if progress:
            progress(1.0, 0, 0)
        if not dry_run:
            if summary.resumed_at is not None or batches >= CHECKPOINT_EVERY:  # a note to clear
                await self.documents.put_document(CHECKPOINT, None)
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

    async def _expire_uploads(self, cutoff: float, dry_run: bool, summary: GcSummary) -> None:
        after = ""
        while stale := await self.store.stale_uploads(cutoff, after, BATCH):
            after = stale[-1]
            summary.uploads += len(stale)
            if not dry_run:
                for upload_id in stale:
                    await self.uploads.delete_upload(upload_id)
                    await self.blobs.abort_upload(upload_id)

    async def _resume(self, summary: GcSummary) -> str:
        """The digest a killed run reached ("" when the last run finished), its counts added."""
        body = await self.documents.document(CHECKPOINT)
        try:
            saved = json.loads(body or "")
            after, blobs, freed = str(saved["after"]), int(saved["blobs"]), int(saved["bytes"])
        except (ValueError, KeyError, TypeError):  # none, or unreadable: the walk starts over
            return ""
        summary.blobs, summary.bytes = blobs, freed
        summary.resumed_at = key_position(after)
        return after

    async def _save(self, after: str, summary: GcSummary) -> None:
        body = json.dumps({"after": after, "blobs": summary.blobs, "bytes": summary.bytes, "at": self._clock()})
        await self.documents.put_document(CHECKPOINT, body)
