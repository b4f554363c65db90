"""Runs lifecycle and garbage collection periodically in every worker; a lease in the
database makes exactly one process (of one replica) do each job per interval."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Sequence

from ..http.metrics import GC_BLOBS, GC_BYTES, GC_POSITION, LIFECYCLE_ACTIONS
from ..services.gc import GarbageCollector
from ..services.lifecycle import Lifecycle
from ..storage.meta.ports import LeaseStore

log = logging.getLogger("kikoto.jobs")
TICK = 60.0  # how often a worker checks whether a job is due
CLAIM = 900.0  # a running job's lease: if its replica dies, another takes the job over after this


class Scheduler:
    def __init__(
        self,
        store: LeaseStore,
        lifecycle: Lifecycle,
        gc: GarbageCollector,
        lifecycle_interval: float,
        gc_interval: float,
        claim: float = CLAIM,
        periodic: Sequence[tuple[str, float, Callable[[], Awaitable[object]]]] = (),
    ) -> None:
        self.store, self.lifecycle, self.gc = store, lifecycle, gc
        self.claim = claim
        self.jobs: dict[str, tuple[float, Callable[[], Awaitable[object]]]] = {
            "lifecycle": (lifecycle_interval, self.run_lifecycle),
            "gc": (gc_interval, self.run_gc),
        }
        for name, interval, job in periodic:  # the features' (signing: images whose process died)
            self.jobs[name] = (interval, job)
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    async def run_lifecycle(self) -> None:
        for name in await self.lifecycle.repositories_with_policies():
            try:
                plan = await self.lifecycle.plan(name)
                await self.lifecycle.apply(plan)
                LIFECYCLE_ACTIONS.labels("expire").inc(len(plan.acting("expire")))
                LIFECYCLE_ACTIONS.labels("transition").inc(len(plan.acting("transition")))
                log.info(
                    "lifecycle %s: expired %d, archived %d, %d bytes to reclaim",
                    name,
                    len(plan.acting("expire")),
                    len(plan.acting("transition")),
                    plan.bytes_freed,
                )
            except Exception:  # one repository's failure must not stop the others
                log.exception("lifecycle run failed for %s", name)

    async def run_gc(self) -> None:
        def advance(position: float, blobs: int, freed: int) -> None:  # scraped while the run goes on
            GC_POSITION.set(position)
            GC_BLOBS.inc(blobs)
            GC_BYTES.inc(freed)

        GC_POSITION.set(0)
        summary = await self.gc.run(progress=advance)
        if summary.blobs or summary.uploads:
            log.info("gc: %d blobs (%d bytes), %d abandoned uploads", summary.blobs, summary.bytes, summary.uploads)

    async def tick(self) -> list[str]:
        """Run every job whose lease this process wins. While running, the lease lasts `claim`
        seconds (a replica that dies mid-run hands the job over when it expires); after a run it
        lasts the interval, so the next run is due then, wherever it happens."""
        ran = []
        for name, (interval, job) in self.jobs.items():
            if interval > 0 and await self.store.acquire(f"job:{name}", self.holder, min(self.claim, interval)):
                holding = asyncio.ensure_future(self._renew(f"job:{name}", min(self.claim, interval)))
                try:
                    await job()
                    ran.append(name)
                except Exception:
                    log.exception("job %s failed", name)
                finally:
                    holding.cancel()
                await self.store.hold(f"job:{name}", self.holder, interval)
        return ran

    async def _renew(self, lease: str, ttl: float) -> None:
        """Keep a running job's lease while it runs: a GC of a large store outlasts one claim, and
        another replica must not start the same walk beside it (while one that died hands over)."""
        while True:
            await asyncio.sleep(ttl / 3)
            try:
                await self.store.hold(lease, self.holder, ttl)
            except Exception:  # the database is away: the job itself will fail or go on
                log.warning("could not renew the lease %s", lease, exc_info=True)

    async def run_forever(self) -> None:
        await asyncio.sleep(5)  # let the server finish starting
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("scheduler tick failed")
            await asyncio.sleep(TICK)
