"""Leases: one holder of a piece of background work at a time, across processes and replicas
(a row per lease, taken when free or expired)."""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from .base import SqlStore
from .schema import (
    leases,
)


class SqlLeaseStore(SqlStore):
    # -- leases: one holder of a background job at a time --------------------------------------------

    async def acquire(self, name: str, holder: str, ttl: float) -> bool:
        try:
            return await self._acquire(name, holder, ttl)
        except IntegrityError:  # another holder inserted the lease first
            return False

    async def _acquire(self, name: str, holder: str, ttl: float) -> bool:
        now = self._clock()
        async with self._write(changed=False) as conn:
            row = (await conn.execute(select(leases).where(leases.c.name == name).with_for_update())).first()
            if row is None:
                await conn.execute(leases.insert().values(name=name, holder=holder, expires_at=now + ttl))
                return True
            if row.expires_at > now:  # held (or, for periodic jobs, not yet due again)
                return False
            await conn.execute(update(leases).where(leases.c.name == name).values(holder=holder, expires_at=now + ttl))
            return True

    async def hold(self, name: str, holder: str, ttl: float) -> None:
        """Extend a lease this holder has (after a run: until the job is due again)."""
        async with self._write(changed=False) as conn:
            await conn.execute(
                update(leases)
                .where(leases.c.name == name, leases.c.holder == holder)
                .values(expires_at=self._clock() + ttl)
            )

    async def release(self, name: str, holder: str) -> None:
        async with self._write(changed=False) as conn:
            await conn.execute(delete(leases).where(leases.c.name == name, leases.c.holder == holder))
