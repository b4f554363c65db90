"""Repositories: the one record of a repository every store returns, its settings, and the
lookups by name and id."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import delete, select, update

from .base import SqlStore
from .ports import Repository
from .schema import (
    image_scans,
    manifest_refs,
    manifests,
    repo_blobs,
    repositories,
    scan_findings,
    tags,
    upstream_checks,
)

SETTINGS_COLUMNS = (
    "tag_mutability",
    "mutability_exclusions",
    "scan_on_push",
    "encryption",
    "resource_tags",
    "repository_policy",
    "lifecycle_policy",
    "lifecycle_evaluated_at",
    "upstream",
)
JSON_COLUMNS = ("mutability_exclusions", "encryption", "resource_tags")


def repository_from_row(row: Any) -> Repository:
    def decoded(text: str | None) -> Any:
        return json.loads(text) if text else None

    return Repository(
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


class SqlRepositoryStore(SqlStore):
    async def get_repository(self, name: str) -> Repository | None:
        async with self._read() as conn:
            row = (await conn.execute(select(repositories).where(repositories.c.name == name))).first()
        return repository_from_row(row) if row else None

    async def repository_name(self, repo_id: int) -> str | None:
        async with self._read() as conn:
            return await name_of(conn, repo_id)

    async def ensure_repository(self, name: str) -> Repository:
        existing = await self.get_repository(name)
        if existing:
            return existing
        async with self._write() as conn:
            await conn.execute(self._insert_ignore(repositories, {"name": name, "created_at": self._clock()}, ["name"]))
            row = (await conn.execute(select(repositories).where(repositories.c.name == name))).one()
        return repository_from_row(row)

    async def list_repositories(self, limit: int | None, after: str | None, before: str | None = None) -> list[str]:
        below = () if before is None else (self._bytewise(repositories.c.name) < before,)
        return await self._names_after(repositories.c.name, limit, after, *below)

    async def repositories(self, names: list[str] | None = None) -> list[Repository]:
        query = select(repositories).order_by(repositories.c.name)
        if names is not None:
            query = query.where(repositories.c.name.in_(names))
        async with self._read() as conn:
            return [repository_from_row(row) for row in await conn.execute(query)]

    async def create_repository(self, name: str, settings: dict[str, Any]) -> Repository | None:
        """None when the name is taken."""
        values = {"name": name, "created_at": self._clock(), **self._encode(settings)}
        async with self._write() as conn:
            if await conn.scalar(select(repositories.c.id).where(repositories.c.name == name)) is not None:
                return None
            await conn.execute(repositories.insert().values(values))
        return await self.get_repository(name)

    async def update_repository(self, name: str, settings: dict[str, Any]) -> None:
        async with self._write() as conn:
            await conn.execute(update(repositories).where(repositories.c.name == name).values(self._encode(settings)))

    @staticmethod
    def _encode(settings: dict[str, Any]) -> dict[str, Any]:
        unknown = set(settings) - set(SETTINGS_COLUMNS)
        assert not unknown, unknown
        return {k: json.dumps(v) if k in JSON_COLUMNS and v is not None else v for k, v in settings.items()}

    async def delete_repository(self, repo_id: int) -> None:
        async with self._write() as conn:
            for table in (scan_findings, image_scans, upstream_checks, tags, manifest_refs, manifests, repo_blobs):
                await conn.execute(delete(table).where(table.c.repo_id == repo_id))
            await conn.execute(delete(repositories).where(repositories.c.id == repo_id))

    async def repository_policies(self, names: list[str]) -> dict[str, str | None]:
        """name -> repository policy text, for the named repositories that exist (one query)."""
        query = select(repositories.c.name, repositories.c.repository_policy).where(repositories.c.name.in_(names))
        async with self._read() as conn:
            return {row.name: row.repository_policy for row in await conn.execute(query)}

    async def repositories_after(self, after: str, limit: int, before: str | None = None) -> list[Repository]:
        name = self._bytewise(repositories.c.name)
        query = select(repositories).where(name > after).order_by(name).limit(limit)
        if before is not None:
            query = query.where(name < before)
        async with self._read() as conn:
            return [repository_from_row(row) for row in await conn.execute(query)]
