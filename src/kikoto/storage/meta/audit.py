"""The audit log: what lifecycle runs, garbage collection and administrators did, newest first."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from .base import SqlStore
from .schema import (
    audit_events,
)


class SqlAuditStore(SqlStore):
    # -- audit ---------------------------------------------------------------------------------------

    async def record(self, events: list[dict[str, Any]]) -> None:
        if not events:
            return
        now = self._clock()
        rows = [
            {
                "at": now,
                "detail": json.dumps(e.get("detail") or {}),
                **{k: e.get(k) for k in ("actor", "action", "repository", "digest")},
            }
            for e in events
        ]
        async with self._write(changed=False) as conn:
            await conn.execute(audit_events.insert(), rows)

    async def events(
        self,
        repository: str | None,
        limit: int = 100,
        since: float | None = None,
        before: int | None = None,
        action: str | None = None,
    ) -> list[dict[str, Any]]:
        """Newest first; `before` (an event id) continues a listing by key."""
        query = select(audit_events).order_by(audit_events.c.id.desc()).limit(limit)
        if before is not None:
            query = query.where(audit_events.c.id < before)
        if repository:
            query = query.where(audit_events.c.repository == repository)
        if since is not None:
            query = query.where(audit_events.c.at >= since)
        if action is not None:
            query = query.where(audit_events.c.action == action)
        async with self._read() as conn:
            rows = (await conn.execute(query)).all()
        return [
            {
                "id": r.id,
                "at": r.at,
                "actor": r.actor,
                "action": r.action,
                "repository": r.repository,
                "digest": r.digest,
                "detail": json.loads(r.detail or "{}"),
            }
            for r in rows
        ]
