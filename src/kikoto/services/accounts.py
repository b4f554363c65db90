"""Accounts: the first (the settings' account_id, which every installation has) and those an
admin adds with `kikoto accounts create`."""

from __future__ import annotations

from ..domain.accounts import Account, check_account_id, check_alias, key_range
from ..domain.errors import DeleteConflict, EntityExists, EntityNotFound
from ..storage.meta.ports import AccountStore


class Accounts:
    def __init__(self, store: AccountStore, first: str) -> None:
        self.store, self.first = store, first

    async def all(self) -> list[Account]:
        return [Account(self.first, None, 0.0), *(a for a in await self.store.accounts() if a.id != self.first)]

    async def get(self, account_id: str) -> Account:
        found = Account(self.first, None, 0.0) if account_id == self.first else await self.store.account(account_id)
        if found is None:
            raise EntityNotFound(f"no account {account_id[:40]}")
        return found

    async def create(self, account_id: str, alias: str | None = None) -> Account:
        check_account_id(account_id)
        if alias is not None:
            check_alias(alias)
        created = None if account_id == self.first else await self.store.create_account(account_id, alias)
        if created is None:
            taken = account_id == self.first or await self.store.account(account_id) is not None
            raise EntityExists(f"account {account_id} exists" if taken else f"the alias {alias} is taken")
        return created

    async def delete(self, account_id: str) -> Account:
        """Refused for the first account and for one that still holds repositories or principals
        (deleting them is a decision to take one by one, not a side effect)."""
        if account_id == self.first:
            raise DeleteConflict(f"account {account_id} is the first account (the registry's account_id)")
        account = await self.get(account_id)
        repositories, principals = await self.store.holdings(account_id, key_range(account_id, self.first))
        if repositories or principals:
            raise DeleteConflict(
                f"account {account_id} still holds {repositories} repositories and {principals} principals: "
                "delete them first"
            )
        await self.store.delete_account(account_id)
        return account
