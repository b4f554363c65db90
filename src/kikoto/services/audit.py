"""The audit log: the faces record each change they were asked for (one place each: the ECR
dispatcher, the /v2 manifest writes, the console's actions, the admin commands); lifecycle runs
and garbage collection record what they did. Read newest first, by key, filtered."""

from __future__ import annotations

import logging
from typing import Any

from ..domain.audit import Change
from ..storage.meta.ports import AuditStore

log = logging.getLogger("kikoto.audit")


class AuditLog:
    def __init__(self, store: AuditStore) -> None:
        self.store = store

    async def record(self, *changes: Change) -> None:
        """Kept after the change itself: a failure to record is logged, and does not undo or
        hide an answer the client already has."""
        try:
            await self.store.record([c.row() for c in changes])
        except Exception:
            log.exception("could not record %s in the audit log", [c.action for c in changes])

    async def events(self, repository: str | None, limit: int, **filters: Any) -> list[dict[str, Any]]:
        return await self.store.events(repository, limit, **filters)
