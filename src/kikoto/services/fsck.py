"""Checking that the metadata and the stored bytes agree, and repairing what does not.

Safe while the server runs: a blob's bytes are placed before its row is written and its row
goes (to the GC trash) before its bytes, so a row without bytes is a real fault; a file
without a row may be an upload finishing right now, so only files older than the GC grace
period count as orphans; every repair re-checks under the same lock a push takes.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field

from ..storage.blobs.port import BlobStore
from ..storage.meta.ports import HousekeepingStore

BATCH = 500
OTHER_TIER = {"standard": "archive", "archive": "standard"}


@dataclass
class FsckReport:
    blobs: int = 0  # blob rows checked
    files: int = 0  # stored files checked
    missing: list[str] = field(default_factory=list)  # rows whose bytes are gone
    misplaced: list[tuple[str, str]] = field(default_factory=list)  # (digest, tier the row names): bytes in the other
    wrong_size: list[tuple[str, int, int]] = field(default_factory=list)  # (digest, recorded, stored)
    wrong_digest: list[str] = field(default_factory=list)
    orphans: list[tuple[str, str, int]] = field(default_factory=list)  # (digest, tier, size) with no row
    trash: int = 0  # bytes GC has still to delete (a run was interrupted)
    broken: list[tuple[str, str, str]] = field(default_factory=list)  # (repository, manifest, missing blob)
    repaired: int = 0

    @property
    def clean(self) -> bool:
        return not (
            self.missing or self.misplaced or self.wrong_size or self.wrong_digest or self.orphans or self.broken
        )


class Fsck:
    def __init__(self, store: HousekeepingStore, blobs: BlobStore, grace: float, clock=time.time) -> None:
        self.store, self.blobs, self.grace, self._clock = store, blobs, grace, clock

    async def run(self, repair: bool = False, verify_digests: bool = False, progress=None) -> FsckReport:
        report = FsckReport()
        await self._check_rows(report, verify_digests, repair, progress)
        await self._check_files(report, repair, progress)
        report.broken = await self.store.broken_references()
        return report

    async def _check_rows(self, report: FsckReport, verify: bool, repair: bool, progress) -> None:
        after = ""
        while rows := await self.store.blob_rows_after(after, BATCH):
            after = rows[-1][0]
            for digest, size, tier in rows:
                report.blobs += 1
                stored = await self.blobs.stat(digest, tier)
                fault = None
                if stored is None and await self.blobs.stat(digest, OTHER_TIER[tier]) == size:
                    # an archive move interrupted between the bytes and the row: put them back
                    report.misplaced.append((digest, tier))
                    if repair:
                        await self.blobs.move(digest, tier)
                        report.repaired += 1
                    continue
                if stored is None:
                    fault = "missing"
                elif stored != size:
                    fault = "size"
                elif verify and not await self._digest_matches(digest, tier):
                    fault = "digest"
                if fault and not await self._still_faulty(digest, size, verify):
                    continue  # moved or collected meanwhile: not a fault
                if fault == "missing":
                    report.missing.append(digest)
                elif fault == "size":
                    report.wrong_size.append((digest, size, stored))
                elif fault == "digest":
                    report.wrong_digest.append(digest)
                if fault and repair and await self.store.forget_blob(digest, self._recheck(digest, size, fault)):
                    if fault != "missing":  # bytes that are not what the digest says are no blob at all
                        await self.blobs.remove([(digest, tier)])
                    report.repaired += 1
            if progress:
                progress("blobs", report.blobs)

    def _recheck(self, digest: str, size: int, fault: str):
        """The check repeated under the blob's lock (a stat: it never suspends on a local disk)."""

        async def still_broken(tier: str) -> bool:
            stored = await self.blobs.stat(digest, tier)
            return stored is None if fault == "missing" else stored != size if fault == "size" else True

        return still_broken

    async def _still_faulty(self, digest: str, size: int, verify: bool) -> bool:
        rows, _ = await self.store.known_digests([digest])
        if digest not in rows:
            return False
        stored = await self.blobs.stat(digest, rows[digest])
        if stored is None or stored != size:
            return True
        return verify and not await self._digest_matches(digest, rows[digest])

    async def _digest_matches(self, digest: str, tier: str) -> bool:
        algorithm, expected = digest.split(":", 1)
        hasher = hashlib.new(algorithm)
        async for chunk in self.blobs.read(digest, tier):
            hasher.update(chunk)
        return hasher.hexdigest() == expected

    async def _check_files(self, report: FsckReport, repair: bool, progress) -> None:
        cutoff = self._clock() - self.grace
        batch = []
        async for stored in self.blobs.inventory():
            report.files += 1
            batch.append(stored)
            if len(batch) == BATCH:
                await self._check_file_batch(batch, cutoff, report, repair)
                batch = []
                if progress:
                    progress("files", report.files)
        if batch:
            await self._check_file_batch(batch, cutoff, report, repair)

    async def _check_file_batch(self, batch, cutoff: float, report: FsckReport, repair: bool) -> None:
        rows, trashed = await self.store.known_digests([b.digest for b in batch])
        for stored in batch:
            if stored.digest in trashed:
                report.trash += 1
                continue
            # A copy in the other tier than the row's is an archive move under way: left alone.
            if stored.digest in rows or stored.modified >= cutoff:
                continue  # known, or young enough to be an upload finishing now
            report.orphans.append((stored.digest, stored.tier, stored.size))
            if repair and await self.store.trash_orphan(stored.digest, stored.tier, stored.size):
                report.repaired += 1
        if repair:  # through the trash, as GC does: an upload of the same content claims it first
            while await self.store.purge(self.blobs.remove, BATCH) == BATCH:
                pass
