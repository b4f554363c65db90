"""Principals and their access keys."""

from __future__ import annotations

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from .base import SqlStore
from .ports import AccessKeyRow, AlreadyExists, PrincipalRow
from .schema import access_keys, principals, revoked_sessions


class SqlIdentityStore(SqlStore):
    async def count_principals(self) -> int:
        async with self._read() as conn:
            return await conn.scalar(select(func.count()).select_from(principals))

    async def principal(self, name: str) -> PrincipalRow | None:
        async with self._read() as conn:
            row = (await conn.execute(select(principals).where(principals.c.name == name))).first()
        return PrincipalRow(row.id, row.name, row.policy) if row else None

    async def create_principal(self, name: str, policy: str) -> PrincipalRow:
        try:
            async with self._write() as conn:
                result = await conn.execute(
                    principals.insert().values(name=name, policy=policy, created_at=self._clock())
                )
        except IntegrityError:
            raise AlreadyExists(name) from None
        return PrincipalRow(result.inserted_primary_key[0], name, policy)

    async def set_policy(self, principal_id: int, policy: str) -> None:
        async with self._write() as conn:
            await conn.execute(update(principals).where(principals.c.id == principal_id).values(policy=policy))

    async def add_key(self, principal_id: int, key_id: str, encrypted_secret: str) -> None:
        try:
            async with self._write() as conn:
                await conn.execute(
                    access_keys.insert().values(
                        id=key_id,
                        principal_id=principal_id,
                        secret=encrypted_secret,
                        status="Active",
                        created_at=self._clock(),
                    )
                )
        except IntegrityError:
            raise AlreadyExists(key_id) from None

    async def key(self, key_id: str) -> AccessKeyRow | None:
        query = (
            select(access_keys, principals.c.name, principals.c.policy)
            .join(principals, principals.c.id == access_keys.c.principal_id)
            .where(access_keys.c.id == key_id)
        )
        async with self._read() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        return AccessKeyRow(
            row.id, PrincipalRow(row.principal_id, row.name, row.policy), row.secret, row.status, row.created_at
        )

    async def keys(self) -> list[AccessKeyRow]:
        query = (
            select(access_keys, principals.c.name, principals.c.policy)
            .join(principals, principals.c.id == access_keys.c.principal_id)
            .order_by(principals.c.name, access_keys.c.created_at)
        )
        async with self._read() as conn:
            rows = (await conn.execute(query)).all()
        return [
            AccessKeyRow(r.id, PrincipalRow(r.principal_id, r.name, r.policy), r.secret, r.status, r.created_at)
            for r in rows
        ]

    async def set_key_status(self, key_id: str, status: str) -> bool:
        async with self._write() as conn:
            result = await conn.execute(update(access_keys).where(access_keys.c.id == key_id).values(status=status))
        return result.rowcount == 1

    async def revoke_session(self, session_id: str, expires_at: float) -> None:
        """Remember a signed-out console session until it expires (and forget expired ones)."""
        async with self._write(changed=False) as conn:
            await conn.execute(delete(revoked_sessions).where(revoked_sessions.c.expires_at < self._clock()))
            await conn.execute(
                self._insert(revoked_sessions)
                .values(id=session_id, expires_at=expires_at)
                .on_conflict_do_nothing(index_elements=["id"])
            )

    async def session_revoked(self, session_id: str) -> bool:
        async with self._read() as conn:
            found = await conn.scalar(select(revoked_sessions.c.id).where(revoked_sessions.c.id == session_id))
        return found is not None
