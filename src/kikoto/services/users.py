"""IAM users, as IAM's API manages them: a user (a principal) has up to two access keys,
inline policies by name (its identity policy is all of them together) and tags, which
Conditions read as aws:PrincipalTag/*. `kikoto keys` makes the same principals."""

from __future__ import annotations

from dataclasses import dataclass

from ..domain.errors import (
    DeleteConflict,
    EntityExists,
    EntityNotFound,
    InvalidParameter,
    LimitExceeded,
)
from ..storage.meta.ports import AccessKeyRow, AlreadyExists, PrincipalRow
from .identity import PRINCIPAL_NAME, Identities, new_key_pair
from .policies import InlinePolicies

NO_POLICY = '{"Version": "2012-10-17", "Statement": []}'  # a new IAM user may do nothing yet
MAX_KEYS = 2  # IAM's quota of access keys a user
MAX_TAGS = 50


@dataclass(frozen=True)
class NewKey:
    key_id: str
    secret: str
    created_at: float


class Users:
    def __init__(self, identities: Identities) -> None:
        self.identities, self.store = identities, identities.store

        async def holder(name: str) -> int:
            return (await self.user(name)).id

        store = self.store
        self.inline = InlinePolicies("user", holder, store.put_document, store.documents, store.delete_document)

    async def user(self, name: str) -> PrincipalRow:
        row = await self.store.principal(name)
        if row is None:
            raise EntityNotFound(f"The user with name {name} cannot be found.")
        return row

    async def create(self, name: str, tags: dict[str, str]) -> PrincipalRow:
        if not PRINCIPAL_NAME.fullmatch(name):
            raise InvalidParameter(f"The specified value for userName is invalid: {name[:64]}")
        try:
            row = await self.store.create_principal(name, NO_POLICY)
        except AlreadyExists:
            raise EntityExists(f"User with name {name} already exists.") from None
        if tags:
            await self.tag(name, tags)
        return row

    async def page(self, after: str, limit: int) -> list[PrincipalRow]:
        return await self.store.principals_page(after, limit)

    async def delete(self, name: str) -> None:
        row = await self.user(name)
        if await self.store.principal_keys(row.id) or await self.store.documents(row.id):
            raise DeleteConflict("Cannot delete entity, must delete policies and access keys first.")
        await self.store.delete_principal(row.id)

    # -- access keys --------------------------------------------------------------------------

    async def keys(self, name: str) -> list[AccessKeyRow]:
        return await self.store.principal_keys((await self.user(name)).id)

    async def create_key(self, name: str) -> NewKey:
        row = await self.user(name)
        if len(await self.store.principal_keys(row.id)) >= MAX_KEYS:
            raise LimitExceeded(f"Cannot exceed quota for AccessKeysPerUser: {MAX_KEYS}")
        key_id, secret = new_key_pair()
        await self.store.add_key(row.id, key_id, self.identities.seal(secret))
        return NewKey(key_id, secret, (await self.store.key(key_id)).created_at)  # type: ignore[union-attr]

    async def _own_key(self, name: str, key_id: str) -> None:
        if key_id not in {k.id for k in await self.keys(name)}:
            raise EntityNotFound(f"The Access Key with id {key_id} cannot be found.")

    async def set_key_status(self, name: str, key_id: str, status: str) -> None:
        await self._own_key(name, key_id)
        await self.store.set_key_status(key_id, status)

    async def delete_key(self, name: str, key_id: str) -> None:
        await self._own_key(name, key_id)
        await self.store.delete_key(key_id)

    # -- tags -------------------------------------------------------------------------------------

    async def tag(self, name: str, tags: dict[str, str]) -> None:
        row = await self.user(name)
        if len({**await self.store.principal_tags(row.id), **tags}) > MAX_TAGS:
            raise LimitExceeded(f"The number of tags has reached the maximum limit of {MAX_TAGS}.")
        await self.store.set_tags(row.id, tags)

    async def untag(self, name: str, keys: list[str]) -> None:
        await self.store.remove_tags((await self.user(name)).id, keys)

    async def tags(self, name: str) -> dict[str, str]:
        return await self.store.principal_tags((await self.user(name)).id)
