"""The events feature's rows: webhook targets and their deliveries (beside the outbox they follow)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from sqlalchemy import delete, select, update

from ...storage.meta.outbox import SqlOutboxStore
from ...storage.meta.schema import deliveries, event_targets


@dataclass(frozen=True)
class Target:
    name: str
    url: str
    pattern: str | None
    secret: str | None  # encrypted
    cloudevents: bool
    created_at: float


@dataclass(frozen=True)
class Delivery:
    id: int
    target: str
    event_id: int
    status: str
    attempts: int
    next_at: float
    last_error: str | None
    updated_at: float


class EventStore(SqlOutboxStore):
    # -- webhook targets and deliveries --------------------------------------------------------------

    async def add_target(self, target: Target) -> bool:
        return await self._insert_new(event_targets, dataclasses.asdict(target), changed=False)

    async def targets(self) -> list[Target]:
        async with self._read() as conn:
            rows = (await conn.execute(select(event_targets).order_by(event_targets.c.name))).all()
        return [Target(r.name, r.url, r.pattern, r.secret, bool(r.cloudevents), r.created_at) for r in rows]

    async def remove_target(self, name: str) -> bool:
        async with self._write(changed=False) as conn:
            result = await conn.execute(delete(event_targets).where(event_targets.c.name == name))
            await conn.execute(delete(deliveries).where(deliveries.c.target == name))
        return result.rowcount == 1

    async def delivery(self, target: str, event_id: int) -> Delivery | None:
        query = select(deliveries).where(deliveries.c.target == target, deliveries.c.event_id == event_id)
        async with self._read() as conn:
            row = (await conn.execute(query)).first()
        return Delivery(*row) if row else None

    async def delivery_by_id(self, delivery_id: int) -> Delivery | None:
        async with self._read() as conn:
            row = (await conn.execute(select(deliveries).where(deliveries.c.id == delivery_id))).first()
        return Delivery(*row) if row else None

    async def save_delivery(
        self, target: str, event_id: int, status: str, attempts: int, next_at: float, error: str | None
    ) -> None:
        values = {"status": status, "attempts": attempts, "next_at": next_at, "last_error": error}
        async with self._write(changed=False) as conn:
            result = await conn.execute(
                update(deliveries)
                .where(deliveries.c.target == target, deliveries.c.event_id == event_id)
                .values(**values, updated_at=self._clock())
            )
            if result.rowcount == 0:
                await conn.execute(
                    deliveries.insert().values(target=target, event_id=event_id, updated_at=self._clock(), **values)
                )

    async def deliveries(self, target: str | None, failed_only: bool, limit: int) -> list[Delivery]:
        query = select(deliveries).order_by(deliveries.c.id.desc()).limit(limit)
        if target:
            query = query.where(deliveries.c.target == target)
        if failed_only:
            query = query.where(deliveries.c.status == "failed")
        async with self._read() as conn:
            return [Delivery(*r) for r in await conn.execute(query)]
