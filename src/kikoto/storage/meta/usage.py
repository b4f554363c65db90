"""Storage use: deduplicated bytes per repository and for the registry, and their daily trend."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from .base import SqlStore
from .schema import (
    blobs,
    manifest_refs,
    manifests,
    repositories,
    storage_snapshots,
)


class SqlUsageStore(SqlStore):
    async def storage_by_repository(self) -> list[tuple[str, int, int]]:
        """(repository, images, deduplicated bytes of the blobs its manifests reference)."""
        per_repo = (
            select(manifest_refs.c.repo_id, manifest_refs.c.child_digest)
            .where(manifest_refs.c.child_kind == "blob")
            .distinct()
            .subquery()
        )
        query = (
            select(repositories.c.name, func.coalesce(func.sum(blobs.c.size), 0))
            .select_from(
                repositories.outerjoin(per_repo, per_repo.c.repo_id == repositories.c.id).outerjoin(
                    blobs, blobs.c.digest == per_repo.c.child_digest
                )
            )
            .group_by(repositories.c.name)
            .order_by(repositories.c.name)
        )
        counts = select(manifests.c.repo_id, func.count()).group_by(manifests.c.repo_id)
        async with self._read() as conn:
            sizes = {name: size for name, size in await conn.execute(query)}
            ids = {row.id: row.name for row in await conn.execute(select(repositories.c.id, repositories.c.name))}
            images = {ids[repo_id]: n for repo_id, n in await conn.execute(counts)}
        return [(name, images.get(name, 0), int(size)) for name, size in sizes.items()]

    async def stored_bytes(self) -> tuple[int, int]:
        """(blobs, bytes) held by the registry, each blob counted once."""
        async with self._read() as conn:
            row = (await conn.execute(select(func.count(), func.coalesce(func.sum(blobs.c.size), 0)))).one()
        return int(row[0]), int(row[1])

    async def repository_summaries(self, repo_ids: list[int]) -> dict[int, tuple[int, int, float | None]]:
        """repo id -> (images, deduplicated bytes its manifests reference, last push), for a page
        of repositories in two grouped queries."""
        if not repo_ids:
            return {}
        # images as a person counts them: an index's children and the referrers of an image the
        # repository holds are part of it, not images of their own (as the console lists them)
        child = select(manifest_refs.c.child_digest).where(
            manifest_refs.c.repo_id == manifests.c.repo_id,
            manifest_refs.c.child_digest == manifests.c.digest,
            manifest_refs.c.child_kind == "manifest",
        )
        subject = aliased(manifests)
        held = select(subject.c.digest).where(
            subject.c.repo_id == manifests.c.repo_id, subject.c.digest == manifests.c.subject_digest
        )
        counts = (
            select(manifests.c.repo_id, func.count(), func.max(manifests.c.pushed_at))
            .where(
                manifests.c.repo_id.in_(repo_ids),
                ~child.exists(),
                manifests.c.subject_digest.is_(None) | ~held.exists(),
            )
            .group_by(manifests.c.repo_id)
        )
        referenced = (
            select(manifest_refs.c.repo_id, manifest_refs.c.child_digest)
            .where(manifest_refs.c.repo_id.in_(repo_ids), manifest_refs.c.child_kind == "blob")
            .distinct()
            .subquery()
        )
        sizes = (
            select(referenced.c.repo_id, func.sum(blobs.c.size))
            .select_from(referenced.join(blobs, blobs.c.digest == referenced.c.child_digest))
            .group_by(referenced.c.repo_id)
        )
        async with self._read() as conn:
            found = {row[0]: (row[1], 0, row[2]) for row in await conn.execute(counts)}
            for repo_id, total in await conn.execute(sizes):
                images, _, pushed = found.get(repo_id, (0, 0, None))
                found[repo_id] = (images, int(total or 0), pushed)
        return found

    async def largest_repositories(self, limit: int) -> list[tuple[str, int]]:
        return sorted(((n, b) for n, _, b in await self.storage_by_repository()), key=lambda r: -r[1])[:limit]

    # -- storage snapshots (the console's trend) ------------------------------------------------------

    async def snapshot(self) -> None:
        blobs, stored = await self.stored_bytes()
        async with self._write(changed=False) as conn:
            await conn.execute(
                self._insert(storage_snapshots)
                .values(at=self._clock(), blobs=blobs, bytes=stored)
                .on_conflict_do_nothing()
            )

    async def snapshots(self, limit: int = 365) -> list[tuple[float, int, int]]:
        """(time, blobs, bytes), oldest first, the latest `limit`."""
        query = select(storage_snapshots).order_by(storage_snapshots.c.at.desc()).limit(limit)
        async with self._read() as conn:
            rows = (await conn.execute(query)).all()
        return [(r.at, r.blobs, r.bytes) for r in reversed(rows)]
