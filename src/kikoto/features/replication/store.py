"""The replication feature's rows: peers, work items and backfills (beside the outbox they follow)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, update

from ...storage.meta.base import batches, record
from ...storage.meta.outbox import SqlOutboxStore
from ...storage.meta.schema import outbox_cursors, peers, replication_backfills, replication_items


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


def _item(row: Any) -> Item:
    return record(Item, row)


class ReplicationStore(SqlOutboxStore):
    # -- peers --------------------------------------------------------------------------------------

    async def add_peer(self, peer: Peer) -> None:
        async with self._write(changed=False) as conn:
            await conn.execute(
                delete(peers).where(peers.c.region == peer.region, peers.c.registry_id == peer.registry_id)
            )
            await conn.execute(peers.insert().values(**peer.__dict__))

    async def peers(self) -> list[Peer]:
        async with self._read() as conn:
            rows = (await conn.execute(select(peers).order_by(peers.c.region, peers.c.registry_id))).all()
        return [record(Peer, r) for r in rows]

    async def remove_peer(self, region: str, registry_id: str) -> bool:
        async with self._write(changed=False) as conn:
            result = await conn.execute(
                delete(peers).where(peers.c.region == region, peers.c.registry_id == registry_id)
            )
        return result.rowcount == 1

    # -- replication work ---------------------------------------------------------------------------

    async def derive_items(self, consumer: str, position: int, items: list[dict[str, Any]], new_position: int) -> bool:
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

    async def add_backfill(self, backfill: Backfill, items: list[dict[str, Any]]) -> None:
        now = self._clock()
        async with self._write(changed=False) as conn:
            await conn.execute(replication_backfills.insert().values(**backfill.__dict__))
            for batch in batches(items):
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
                        for item in batch
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
        async with self._read() as conn:
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
        async with self._read() as conn:
            latest: dict[tuple[str, str], Item] = {}
            for row in await conn.execute(query):
                latest[(row.region, row.registry_id)] = _item(row)
        return list(latest.values())

    async def backfill(self, backfill_id: str) -> Backfill | None:
        async with self._read() as conn:
            row = (
                await conn.execute(select(replication_backfills).where(replication_backfills.c.id == backfill_id))
            ).first()
        return Backfill(*row) if row else None

    async def backfills(self, after: str | None, limit: int) -> list[Backfill]:
        query = select(replication_backfills).order_by(replication_backfills.c.id).limit(limit)
        if after:
            query = query.where(replication_backfills.c.id > after)
        async with self._read() as conn:
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
        async with self._read() as conn:
            return {status: count for status, count in await conn.execute(query)}

    async def backfill_items(self, backfill_id: str, status: str | None, after: int, limit: int) -> list[Item]:
        query = (
            select(replication_items)
            .where(replication_items.c.backfill_id == backfill_id, replication_items.c.id > after)
            .where(replication_items.c.status.in_([status] if status else ["COMPLETE", "FAILED"]))
            .order_by(replication_items.c.id)
            .limit(limit)
        )
        async with self._read() as conn:
            return [_item(r) for r in await conn.execute(query)]
