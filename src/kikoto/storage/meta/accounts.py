"""Accounts beside the first, and what each holds (a delete is refused while it holds any)."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from ...domain.accounts import Account
from .base import SqlStore
from .schema import accounts, principals, repositories


class SqlAccountStore(SqlStore):
    async def accounts(self) -> list[Account]:
        async with self._read() as conn:
            rows = (await conn.execute(select(accounts).order_by(accounts.c.id))).all()
        return [Account(r.id, r.alias, r.created_at) for r in rows]

    async def account(self, account_id: str) -> Account | None:
        async with self._read() as conn:
            row = (await conn.execute(select(accounts).where(accounts.c.id == account_id))).first()
        return Account(row.id, row.alias, row.created_at) if row else None

    async def create_account(self, account_id: str, alias: str | None) -> Account | None:
        """The new account; None when the id or the alias is taken."""
        now = self._clock()
        try:
            async with self._write() as conn:
                await conn.execute(accounts.insert().values(id=account_id, alias=alias, created_at=now))
        except IntegrityError:
            return None
        return Account(account_id, alias, now)

    async def delete_account(self, account_id: str) -> bool:
        async with self._write() as conn:
            result = await conn.execute(delete(accounts).where(accounts.c.id == account_id))
        return bool(result.rowcount == 1)

    async def holdings(self, account_id: str, keys: tuple[str, str]) -> tuple[int, int]:
        """(repositories, principals) of an account: its repositories are the keys strictly
        between `keys` (domain/accounts.py)."""
        async with self._read() as conn:
            repos = await conn.scalar(
                select(func.count())
                .select_from(repositories)
                .where(self._bytewise(repositories.c.name) > keys[0], self._bytewise(repositories.c.name) < keys[1])
            )
            people = await conn.scalar(
                select(func.count()).select_from(principals).where(principals.c.account == account_id)
            )
        return int(repos or 0), int(people or 0)
