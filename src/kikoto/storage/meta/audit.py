"""The audit log: every change from every face, and what lifecycle runs and garbage collection did, newest first."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from ...domain.audit import Change
from .base import SqlStore
from .schema import (
    audit_events,
)


def audit_row(change: Change | dict[str, Any], now: float) -> dict[str, Any]:
    """The row of an audit entry (a typed change, or the dict lifecycle and GC record)."""
    entry = change.row() if isinstance(change, Change) else change
    return {
        "at": now,
        "detail": json.dumps(entry.get("detail") or {}),
        **{k: entry.get(k) for k in ("actor", "action", "repository", "digest", "source", "outcome", "tag")},
    }


class SqlAuditStore(SqlStore):
    # -- audit ---------------------------------------------------------------------------------------

    async def record(self, events: list[dict[str, Any]]) -> None:
        if not events:
            return
        now = self._clock()
        rows = [audit_row(e, now) for e in events]
        async with self._write(changed=False) as conn:
            await conn.execute(audit_events.insert(), rows)

    async def events(
        self,
        repository: str | None,
        limit: int = 100,
        since: float | None = None,
        before: int | None = None,
        action: str | None = None,
        actor: str | None = None,
        outcome: str | None = None,
        tag: str | None = None,
    ) -> list[dict[str, Any]]:
        """Newest first; `before` (an event id) continues a listing by key."""
        query = select(audit_events).order_by(audit_events.c.id.desc()).limit(limit)
        for column, wanted in (("actor", actor), ("tag", tag)):
            if wanted is not None:
                query = query.where(audit_events.c[column] == wanted)
        if outcome is not None:  # "ok", or any refusal
            ok = audit_events.c.outcome.is_(None) | (audit_events.c.outcome == "ok")
            query = query.where(ok if outcome == "ok" else ~ok)
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
                "source": r.source or "",
                "outcome": r.outcome or "ok",
                "tag": r.tag,
                "detail": json.loads(r.detail or "{}"),
            }
            for r in rows
        ]
