"""The outbox (image changes, recorded in the transaction that makes them) and its consumers:
cursors, webhook targets and deliveries, peers, replication work items and backfills."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from ...domain.events import OutboxEvent
from .base import SqlStore
from .schema import (
    deliveries,
    event_targets,
    outbox,
    outbox_cursors,
    peers,
    replication_backfills,
    replication_items,
    repositories,
)


async def record_changes(conn, repository: str | int, changes: list[dict], now: float) -> None:
    """Append image changes to the outbox inside the caller's transaction: the change and the
    record of it commit together or not at all. `repository`: its name, or its id."""
    if not changes:
        return
    if isinstance(repository, int):
        repository = await conn.scalar(select(repositories.c.name).where(repositories.c.id == repository))
        if repository is None:
            return
    rows = [
        {
            "at": now,
            "action": c["action"],
            "repository": repository,
            "digest": c["digest"],
            "tag": c.get("tag"),
            "detail": json.dumps(c["detail"]) if c.get("detail") else None,
        }
        for c in changes
    ]
    await conn.execute(outbox.insert(), rows)


def _event(row) -> OutboxEvent:
    return OutboxEvent(
        row.id, row.at, row.action, row.repository, row.digest, row.tag, json.loads(row.detail) if row.detail else {}
    )


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


@dataclass(frozen=True)
class Peer:
    region: str
    registry_id: str
    url: str
    kind: str
    access_key_id: str
    secret: str  # encrypted
    created_at: float


@dataclass(frozen=True)
class Item:
    id: int
    event_id: int | None
    backfill_id: str | None
    region: str
    registry_id: str
    action: str
    repository: str
    digest: str
    status: str
    attempts: int
    failure: str | None


@dataclass(frozen=True)
class Backfill:
    id: str
    region: str
    registry_id: str
    status: str
    started_at: float
    ended_at: float | None
    failure_code: str | None


def _item(row) -> Item:
    return Item(
        row.id,
        row.event_id,
        row.backfill_id,
        row.region,
        row.registry_id,
        row.action,
        row.repository,
        row.digest,
        row.status,
        row.attempts,
        row.failure,
    )


class OutboxStore(SqlStore):
    # -- the outbox and its cursors ---------------------------------------------------------------

    async def record(self, repository: str, changes: list[dict]) -> None:
        """Changes that have no other transaction (a replication's outcome)."""
        async with self._write(changed=False) as conn:
            await record_changes(conn, repository, changes, self._clock())

    async def events_after(self, position: int, limit: int) -> list[OutboxEvent]:
        query = select(outbox).where(outbox.c.id > position).order_by(outbox.c.id).limit(limit)
        async with self.engine.connect() as conn:
            return [_event(r) for r in await conn.execute(query)]

    async def event(self, event_id: int) -> OutboxEvent | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(outbox).where(outbox.c.id == event_id))).first()
        return _event(row) if row else None

    async def last_event_id(self) -> int:
        async with self.engine.connect() as conn:
            return await conn.scalar(select(func.max(outbox.c.id))) or 0

    async def cursor(self, consumer: str, start: int = 0) -> int:
        """A consumer's position; a new consumer starts at `start` (then saved)."""
        async with self.engine.connect() as conn:
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

    # -- webhook targets and deliveries --------------------------------------------------------------

    async def add_target(self, target: Target) -> bool:
        return await self._insert_new(event_targets, dataclasses.asdict(target), changed=False)

    async def targets(self) -> list[Target]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(event_targets).order_by(event_targets.c.name))).all()
        return [Target(r.name, r.url, r.pattern, r.secret, bool(r.cloudevents), r.created_at) for r in rows]

    async def remove_target(self, name: str) -> bool:
        async with self._write(changed=False) as conn:
            result = await conn.execute(delete(event_targets).where(event_targets.c.name == name))
            await conn.execute(delete(deliveries).where(deliveries.c.target == name))
        return result.rowcount == 1

    async def delivery(self, target: str, event_id: int) -> Delivery | None:
        query = select(deliveries).where(deliveries.c.target == target, deliveries.c.event_id == event_id)
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return Delivery(*row) if row else None

    async def delivery_by_id(self, delivery_id: int) -> Delivery | None:
        async with self.engine.connect() as conn:
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
        async with self.engine.connect() as conn:
            return [Delivery(*r) for r in await conn.execute(query)]

    # -- peers --------------------------------------------------------------------------------------

    async def add_peer(self, peer: Peer) -> None:
        async with self._write(changed=False) as conn:
            await conn.execute(
                delete(peers).where(peers.c.region == peer.region, peers.c.registry_id == peer.registry_id)
            )
            await conn.execute(peers.insert().values(**peer.__dict__))

    async def peers(self) -> list[Peer]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(peers).order_by(peers.c.region, peers.c.registry_id))).all()
        return [Peer(r.region, r.registry_id, r.url, r.kind, r.access_key_id, r.secret, r.created_at) for r in rows]

    async def remove_peer(self, region: str, registry_id: str) -> bool:
        async with self._write(changed=False) as conn:
            result = await conn.execute(
                delete(peers).where(peers.c.region == region, peers.c.registry_id == registry_id)
            )
        return result.rowcount == 1

    # -- replication work ---------------------------------------------------------------------------

    async def derive_items(self, consumer: str, position: int, items: list[dict], new_position: int) -> bool:
        """Insert the work items the events up to `new_position` call for and move the consumer's
        cursor, in one transaction; False when another process moved it first."""
        now = self._clock()
        async with self._write(changed=False) as conn:
            moved = await conn.execute(
                update(outbox_cursors)
                .where(outbox_cursors.c.consumer == consumer, outbox_cursors.c.position == position)
                .values(position=new_position)
            )
            if moved.rowcount != 1:
                return False
            if items:
                await conn.execute(
                    replication_items.insert(),
                    [
                        {"status": "IN_PROGRESS", "attempts": 0, "next_at": now, "updated_at": now, **item}
                        for item in items
                    ],
                )
        return True

    async def add_backfill(self, backfill: Backfill, items: list[dict]) -> None:
        now = self._clock()
        async with self._write(changed=False) as conn:
            await conn.execute(replication_backfills.insert().values(**backfill.__dict__))
            for start in range(0, len(items), 500):
                await conn.execute(
                    replication_items.insert(),
                    [
                        {
                            "status": "IN_PROGRESS",
                            "attempts": 0,
                            "next_at": now,
                            "updated_at": now,
                            "backfill_id": backfill.id,
                            "event_id": None,
                            **item,
                        }
                        for item in items[start : start + 500]
                    ],
                )

    async def claim(self, holder: str, lease: float, limit: int) -> list[Item]:
        """Due items this holder now owns (one claimant each: compare-and-set on the claim)."""
        now = self._clock()
        due = (
            select(replication_items.c.id)
            .where(replication_items.c.status == "IN_PROGRESS", replication_items.c.next_at <= now)
            .where((replication_items.c.claimed_until.is_(None)) | (replication_items.c.claimed_until < now))
            .order_by(replication_items.c.id)
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            candidates = list((await conn.scalars(due)).all())
        claimed = []
        for item_id in candidates:
            async with self._write(changed=False) as conn:
                result = await conn.execute(
                    update(replication_items)
                    .where(replication_items.c.id == item_id, replication_items.c.status == "IN_PROGRESS")
                    .where((replication_items.c.claimed_until.is_(None)) | (replication_items.c.claimed_until < now))
                    .values(claimed_by=holder, claimed_until=now + lease)
                )
                if result.rowcount == 1:
                    row = (await conn.execute(select(replication_items).where(replication_items.c.id == item_id))).one()
                    claimed.append(_item(row))
        return claimed

    async def finish_item(
        self, item_id: int, holder: str, status: str, failure: str | None = None, retry_at: float | None = None
    ) -> None:
        """Record an attempt's outcome: done (COMPLETE/FAILED), or to be retried at `retry_at`."""
        values = {
            "status": status,
            "failure": failure,
            "claimed_by": None,
            "claimed_until": None,
            "attempts": replication_items.c.attempts + 1,
            "updated_at": self._clock(),
        }
        if retry_at is not None:
            values["next_at"] = retry_at
        async with self._write(changed=False) as conn:
            await conn.execute(
                update(replication_items)
                .where(replication_items.c.id == item_id, replication_items.c.claimed_by == holder)
                .values(**values)
            )

    async def statuses(self, repository: str, digest: str) -> list[Item]:
        """The latest work item per destination for an image."""
        query = (
            select(replication_items)
            .where(replication_items.c.repository == repository, replication_items.c.digest == digest)
            .order_by(replication_items.c.id)
        )
        async with self.engine.connect() as conn:
            latest: dict[tuple[str, str], Item] = {}
            for row in await conn.execute(query):
                latest[(row.region, row.registry_id)] = _item(row)
        return list(latest.values())

    async def backfill(self, backfill_id: str) -> Backfill | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(select(replication_backfills).where(replication_backfills.c.id == backfill_id))
            ).first()
        return Backfill(*row) if row else None

    async def backfills(self, after: str | None, limit: int) -> list[Backfill]:
        query = select(replication_backfills).order_by(replication_backfills.c.id).limit(limit)
        if after:
            query = query.where(replication_backfills.c.id > after)
        async with self.engine.connect() as conn:
            return [Backfill(*r) for r in await conn.execute(query)]

    async def set_backfill(self, backfill_id: str, status: str, ended_at: float | None) -> None:
        async with self._write(changed=False) as conn:
            await conn.execute(
                update(replication_backfills)
                .where(replication_backfills.c.id == backfill_id)
                .values(status=status, ended_at=ended_at)
            )

    async def stop_items(self, backfill_id: str) -> None:
        async with self._write(changed=False) as conn:
            await conn.execute(
                update(replication_items)
                .where(replication_items.c.backfill_id == backfill_id, replication_items.c.status == "IN_PROGRESS")
                .values(status="STOPPED", updated_at=self._clock())
            )

    async def backfill_counts(self, backfill_id: str) -> dict[str, int]:
        query = (
            select(replication_items.c.status, func.count())
            .where(replication_items.c.backfill_id == backfill_id)
            .group_by(replication_items.c.status)
        )
        async with self.engine.connect() as conn:
            return {status: count for status, count in await conn.execute(query)}

    async def backfill_items(self, backfill_id: str, status: str | None, after: int, limit: int) -> list[Item]:
        query = (
            select(replication_items)
            .where(replication_items.c.backfill_id == backfill_id, replication_items.c.id > after)
            .where(replication_items.c.status.in_([status] if status else ["COMPLETE", "FAILED"]))
            .order_by(replication_items.c.id)
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            return [_item(r) for r in await conn.execute(query)]
