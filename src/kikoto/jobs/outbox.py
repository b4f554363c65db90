"""The outbox's consumers, run in every process: replication (work items claimed one claimant
each), webhook deliveries (one process per target at a time, by lease, each target in a task of
its own) and scans (requested by pushes, claimed one process each). Scans run in a loop of their
own: a long scan delays no replication or delivery, and a slow peer delays no scan."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from ..services.events import Events
from ..services.replication import Replication
from ..services.scanning.scanner import Scanner

log = logging.getLogger("kikoto.jobs")


class OutboxWorker:
    def __init__(self, replication: Replication, events: Events, scanner: Scanner, interval: float = 0.5):
        self.replication, self.events, self.scanner, self.interval = replication, events, scanner, interval

    async def deliveries(self) -> int:
        """One pass of replication and webhook deliveries; returns how much it did (0: nothing was due)."""
        return await self.replication.derive() + await self.replication.work() + await self.events.deliver()

    async def scans(self) -> int:
        return await self.scanner.derive() + await self.scanner.work()

    async def once(self) -> int:
        return await self.deliveries() + await self.scans()

    async def _loop(self, step: Callable[[], Awaitable[int]]) -> None:
        while True:
            try:
                busy = await step()
            except asyncio.CancelledError:
                raise
            except Exception:  # a database hiccup must not end the loop; the next pass retries
                log.exception("outbox pass failed")
                busy = 0
            await asyncio.sleep(0.01 if busy else self.interval)

    async def run_forever(self) -> None:
        try:
            await asyncio.gather(self._loop(self.deliveries), self._loop(self.scans))
        finally:
            await self.events.close()
