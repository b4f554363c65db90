"""What every metadata store shares: the engine, write transactions, the change counter."""

from __future__ import annotations

import time
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncEngine

from ..changes import ChangeCounter


class SqlStore:
    def __init__(self, engine: AsyncEngine, clock=time.time, changes: ChangeCounter | None = None):
        self.engine = engine
        self._writer = engine.execution_options(kikoto_write=True)  # SQLite: BEGIN IMMEDIATE
        self._clock = clock
        self.changes = changes

    @asynccontextmanager
    async def _write(self, changed: bool = True):
        """A write transaction; `changed` writes (what reads resolve) bump the change counter
        after commit, so every process's caches drop what they knew."""
        async with self._writer.begin() as conn:
            yield conn
        if changed and self.changes is not None:
            self.changes.bump()
