"""Repository lookup and creation, and the catalog."""

from __future__ import annotations

from ...domain.accounts import MARK
from ...domain.errors import PullThroughPushRefused, RepositoryNotFound
from ...domain.names import check_repository_key
from ...storage.changes import VersionedCache
from ...storage.meta.ports import Repository, RepositoryStore


class Repositories:
    def __init__(
        self,
        store: RepositoryStore,
        create_on_push: bool = False,
        from_template=None,
        cache: VersionedCache | None = None,
    ) -> None:
        self.store = store
        self._known = cache or VersionedCache(None, 0)  # name -> Repository, until something changes
        self.create_on_push = create_on_push  # operator override: create any repository on first push
        self.from_template = from_template  # async (name) -> created record or None (ECR's CREATE_ON_PUSH)

    async def find(self, name: str) -> Repository | None:
        """The repository, or None (cached until anything changes)."""
        return await self._known.fetch(name, lambda: self.store.get_repository(name))

    async def get(self, name: str) -> Repository:
        check_repository_key(name)
        repo = await self.find(name)
        if repo is None:
            raise RepositoryNotFound(name)
        return repo

    async def for_push(self, name: str) -> Repository:
        """The repository a push writes to. A missing one is created only by a CREATE_ON_PUSH
        template (as on ECR) or when the operator enabled create_on_push."""
        check_repository_key(name)
        repo = await self.find(name)
        if repo is not None:
            if repo.upstream is not None:
                raise PullThroughPushRefused(
                    f"repository {name!r} is a pull-through cache (rule {repo.upstream!r}): "
                    f"its images come from the upstream registry and cannot be pushed"
                )
            return repo
        if self.create_on_push:
            return await self.store.ensure_repository(name)
        if self.from_template is not None and await self.from_template(name) is not None:
            return await self.get(name)
        raise RepositoryNotFound(
            name,
            f"repository {name!r} not known to registry; create it first "
            f"(aws ecr create-repository) or add a CREATE_ON_PUSH creation template",
        )

    async def catalog(self, limit: int | None, after: str | None, within: tuple[str, str] = ("", MARK)) -> list[str]:
        """Repository keys in byte order after `after`, within one account's range (domain/accounts.py)."""
        return await self.store.list_repositories(limit, max(after or "", within[0]) or None, within[1])
