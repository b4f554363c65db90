"""Repository lookup and creation, and the catalog."""

from __future__ import annotations

from ..domain.errors import RegistryError
from ..domain.names import check_repository_name
from ..storage.meta.store import MetadataStore, Repository


class Repositories:
    def __init__(self, meta: MetadataStore, create_on_push: bool = True):
        self.meta = meta
        self.create_on_push = create_on_push

    async def get(self, name: str) -> Repository:
        check_repository_name(name)
        repo = await self.meta.get_repository(name)
        if repo is None:
            raise RegistryError("NAME_UNKNOWN", f"repository {name!r} not known to registry", detail={"name": name})
        return repo

    async def for_push(self, name: str) -> Repository:
        """The repository a push writes to, created on first push when that is enabled."""
        check_repository_name(name)
        if self.create_on_push:
            return await self.meta.ensure_repository(name)
        return await self.get(name)

    async def catalog(self, limit: int | None, after: str | None) -> list[str]:
        return await self.meta.list_repositories(limit, after)
