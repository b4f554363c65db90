"""The outbox's consumers, run in every process: each feature that follows image changes
(replication, webhook deliveries, scans) passes over its work in a loop of its own, so a long
scan delays no replication or delivery, and a slow peer delays no scan."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

log = logging.getLogger("kikoto.jobs")


class OutboxWorker:
    def __init__(self, passes: Sequence[Callable[[], Awaitable[int]]], interval: float = 0.5) -> None:
        """`passes`: one pass each over a consumer's work, returning how much it did (0: nothing due)."""
        self.passes, self.interval = list(passes), interval

    async def once(self) -> int:
        return sum([await one_pass() for one_pass in self.passes])

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
        await asyncio.gather(*(self._loop(one_pass) for one_pass in self.passes))
