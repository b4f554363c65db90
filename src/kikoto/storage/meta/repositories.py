"""A repository: the one record of it every store returns, and the one lookup by name."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from .base import SqlStore
from .schema import repositories


@dataclass(frozen=True)
class Repository:
    id: int
    name: str
    created_at: float
    tag_mutability: str = "MUTABLE"
    mutability_exclusions: tuple[dict[str, Any], ...] = ()
    upstream: str | None = None  # a pull-through cache: images are pulled into it, never pushed
    scan_on_push: bool = False
    encryption: dict[str, Any] | None = None
    resource_tags: list[dict[str, str]] | None = None
    repository_policy: str | None = None
    lifecycle_policy: str | None = None
    lifecycle_evaluated_at: float | None = None

    @classmethod
    def from_row(cls, row: Any) -> Repository:
        def decoded(text: str | None) -> Any:
            return json.loads(text) if text else None

        return cls(
            id=row.id,
            name=row.name,
            created_at=row.created_at,
            tag_mutability=row.tag_mutability,
            mutability_exclusions=tuple(decoded(row.mutability_exclusions) or ()),
            upstream=row.upstream,
            scan_on_push=bool(row.scan_on_push),
            encryption=decoded(row.encryption),
            resource_tags=decoded(row.resource_tags),
            repository_policy=row.repository_policy,
            lifecycle_policy=row.lifecycle_policy,
            lifecycle_evaluated_at=row.lifecycle_evaluated_at,
        )


async def name_of(conn: Any, repo_id: int) -> str | None:
    """A repository's name by id, inside the caller's connection or transaction."""
    return await conn.scalar(select(repositories.c.name).where(repositories.c.id == repo_id))


class RepositoryRows(SqlStore):
    """The lookups of a repository row, shared by the stores whose rows hang off one."""

    async def get_repository(self, name: str) -> Repository | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(repositories).where(repositories.c.name == name))).first()
        return Repository.from_row(row) if row else None

    async def repository_name(self, repo_id: int) -> str | None:
        async with self.engine.connect() as conn:
            return await name_of(conn, repo_id)
