"""The outbox: image changes, recorded in the transaction that makes them, and each consumer's
cursor over them (a feature's store extends this one with what it keeps)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from ...domain.events import ImageChanged, change_of, facts
from .base import SqlStore
from .schema import (
    outbox,
    outbox_cursors,
)


async def record_changes(conn, changes: Sequence[ImageChanged], now: float) -> None:
    """Append image changes to the outbox inside the caller's transaction: the change and the
    record of it commit together or not at all."""
    if not changes:
        return
    rows = [
        {
            "at": now,
            "action": c.KIND,
            "repository": c.repository,
            "digest": c.digest,
            "tag": c.tag,
            "detail": json.dumps(stored) if (stored := facts(c)) else None,
        }
        for c in changes
    ]
    await conn.execute(outbox.insert(), rows)


def _change(row) -> ImageChanged:
    return change_of(
        row.action, row.repository, row.digest, row.tag, json.loads(row.detail) if row.detail else {}, row.id, row.at
    )


class SqlOutboxStore(SqlStore):
    # -- the outbox and its cursors ---------------------------------------------------------------

    async def record(self, changes: Sequence[ImageChanged]) -> None:
        """Changes that have no other transaction (a replication's outcome, a scan's)."""
        async with self._write(changed=False) as conn:
            await record_changes(conn, changes, self._clock())

    async def events_after(self, position: int, limit: int) -> list[ImageChanged]:
        query = select(outbox).where(outbox.c.id > position).order_by(outbox.c.id).limit(limit)
        async with self._read() as conn:
            return [_change(r) for r in await conn.execute(query)]

    async def event(self, event_id: int) -> ImageChanged | None:
        async with self._read() as conn:
            row = (await conn.execute(select(outbox).where(outbox.c.id == event_id))).first()
        return _change(row) if row else None

    async def changes_for(self, consumer: str, limit: int) -> tuple[int, list[ImageChanged]]:
        """(a consumer's position, up to `limit` changes after it): every consumer reads the
        outbox this way. A new consumer starts after the newest change (it follows from now)."""
        position = await self.follow(consumer)
        return position, await self.events_after(position, limit)

    async def follow(self, consumer: str) -> int:
        """A consumer's position; a new consumer's is the newest change's (it follows from now)."""
        return await self.cursor(consumer, start=await self.last_event_id())

    async def last_event_id(self) -> int:
        async with self._read() as conn:
            return await conn.scalar(select(func.max(outbox.c.id))) or 0

    async def cursor(self, consumer: str, start: int = 0) -> int:
        """A consumer's position; a new consumer starts at `start` (then saved)."""
        async with self._read() as conn:
            position = await conn.scalar(select(outbox_cursors.c.position).where(outbox_cursors.c.consumer == consumer))
        if position is not None:
            return position
        try:
            async with self._write(changed=False) as conn:
                await conn.execute(outbox_cursors.insert().values(consumer=consumer, position=start))
        except IntegrityError:
            return await self.cursor(consumer, start)
        return start

    async def advance(self, consumer: str, position: int) -> None:
        async with self._write(changed=False) as conn:
            await conn.execute(
                update(outbox_cursors)
                .where(outbox_cursors.c.consumer == consumer, outbox_cursors.c.position < position)
                .values(position=position)
            )

    async def forget_cursor(self, consumer: str) -> None:
        async with self._write(changed=False) as conn:
            await conn.execute(delete(outbox_cursors).where(outbox_cursors.c.consumer == consumer))
