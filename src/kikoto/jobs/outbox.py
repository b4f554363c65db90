"""The outbox's consumers, run in every process: replication (work items claimed one claimant
each), webhook deliveries (one process per target at a time, by lease) and scans (requested
by pushes, claimed one process each)."""

from __future__ import annotations

import asyncio
import logging

from ..services.events import Events
from ..services.replication import Replication
from ..services.scanning.scanner import Scanner

log = logging.getLogger("kikoto.jobs")


class OutboxWorker:
    def __init__(self, replication: Replication, events: Events, scanner: Scanner, interval: float = 0.5):
        self.replication, self.events, self.scanner, self.interval = replication, events, scanner, interval

    async def once(self) -> int:
        """One pass; returns how much it did (0: nothing was due)."""
        done = await self.replication.derive() + await self.replication.work() + await self.events.deliver()
        return done + await self.scanner.derive() + await self.scanner.work()

    async def run_forever(self) -> None:
        while True:
            try:
                busy = await self.once()
            except asyncio.CancelledError:
                raise
            except Exception:  # a database hiccup must not end the loop; the next pass retries
                log.exception("outbox pass failed")
                busy = 0
            await asyncio.sleep(0.01 if busy else self.interval)
