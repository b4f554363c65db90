"""The blob index: which content-addressed blobs exist (one row per digest, shared by the whole
registry) and which repositories can see them (links). The bytes live in the blob store."""

from __future__ import annotations

from sqlalchemy import TextClause, delete, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from .base import SqlStore
from .schema import blobs, repo_blobs, repositories

# The push path's statements, built once. Core constructs rebuilt per call (insert().values(),
# on_conflict_...) spent more CPU than SQLite itself: 57% of a worker in a small-push profile.
# Plain SQL with named parameters; SQLite (>= 3.24) and PostgreSQL share the ON CONFLICT syntax.
SQL_CLOSE_UPLOAD = text('DELETE FROM uploads WHERE id = :id AND "offset" = :offset')
SQL_ADD_BLOB = text(
    "INSERT INTO blobs (digest, size, created_at, tier) VALUES (:digest, :size, :now, 'standard') "
    "ON CONFLICT (digest) DO NOTHING"
)
SQL_UNTRASH = text("DELETE FROM blob_trash WHERE digest = :digest")
SQL_IN_TRASH = text("SELECT 1 FROM blob_trash WHERE digest = :digest")
SQL_LINK_BLOB = text(
    "INSERT INTO repo_blobs (repo_id, digest, linked_at) VALUES (:repo_id, :digest, :now) "
    "ON CONFLICT (repo_id, digest) DO UPDATE SET linked_at = excluded.linked_at"
)


async def lock_blobs(conn: AsyncConnection, digests: list[str], shared: bool = False) -> None:
    """Row locks on PostgreSQL (SQLite's write transactions are exclusive already): a push
    referencing blobs takes them shared, garbage collection exclusive, so neither misses the other."""
    if digests and conn.dialect.name == "postgresql":
        query = select(blobs.c.digest).where(blobs.c.digest.in_(digests))
        await conn.execute(query.with_for_update(read=shared))


class SqlBlobIndexStore(SqlStore):
    async def repo_blob_size(self, repo_name: str, digest: str) -> int | None:
        """Size of a blob the repository can see, or None (one query, by repository name)."""
        query = (
            select(blobs.c.size)
            .select_from(
                repo_blobs.join(blobs, repo_blobs.c.digest == blobs.c.digest).join(
                    repositories, repositories.c.id == repo_blobs.c.repo_id
                )
            )
            .where(repositories.c.name == repo_name, repo_blobs.c.digest == digest)
        )
        async with self._read() as conn:
            return await conn.scalar(query)

    async def add_blob(
        self, repo_id: int, digest: str, size: int, finished_upload: tuple[str, int] | None = None
    ) -> bool:
        """Record a blob, link it, and close the upload it came from, in one transaction.
        `finished_upload` is (upload id, the offset the final request started at); False, and
        nothing written, when another request moved that upload meanwhile."""
        now = self._clock()
        steps: list[tuple[TextClause, dict[str, object], int | None]] = []
        if finished_upload is not None:
            upload_id, offset = finished_upload
            steps.append((SQL_CLOSE_UPLOAD, {"id": upload_id, "offset": offset}, 1))
        steps.append((SQL_UNTRASH, {"digest": digest}, None))  # a blob row and a trash row never coexist
        steps.append((SQL_ADD_BLOB, {"digest": digest, "size": size, "now": now}, None))
        steps.append((SQL_LINK_BLOB, {"repo_id": repo_id, "digest": digest, "now": now}, None))
        return await self._statements(steps) is not None

    async def claim_trashed(self, digest: str) -> None:
        """Before an upload puts content in place: take it out of the GC trash, so garbage
        collection cannot delete the bytes this upload is about to place (on PostgreSQL this
        waits for a purge holding the row). Costs one read when it is not there (the usual case)."""
        if await self._statements([(SQL_IN_TRASH, {"digest": digest}, None)], write=False):
            await self._statements([(SQL_UNTRASH, {"digest": digest}, None)])

    async def repo_blob_sizes(self, repo_name: str, digests: list[str]) -> dict[str, int]:
        """Sizes of the blobs among `digests` the repository can see (one query)."""
        query = (
            select(blobs.c.digest, blobs.c.size)
            .select_from(
                repo_blobs.join(blobs, repo_blobs.c.digest == blobs.c.digest).join(
                    repositories, repositories.c.id == repo_blobs.c.repo_id
                )
            )
            .where(repositories.c.name == repo_name, repo_blobs.c.digest.in_(digests))
        )
        async with self._read() as conn:
            return {row.digest: row.size for row in await conn.execute(query)}

    async def blob_tiers(self, digests: list[str]) -> dict[str, str]:
        async with self._read() as conn:
            rows = await conn.execute(select(blobs.c.digest, blobs.c.tier).where(blobs.c.digest.in_(digests)))
            return {row.digest: row.tier for row in rows}

    async def repositories_with_blob(self, digest: str) -> list[str]:
        query = (
            select(repositories.c.name)
            .select_from(repo_blobs.join(repositories, repositories.c.id == repo_blobs.c.repo_id))
            .where(repo_blobs.c.digest == digest)
        )
        async with self._read() as conn:
            return list((await conn.scalars(query)).all())

    async def link_blob(self, repo_id: int, digest: str) -> bool:
        """Make an existing blob visible in a repository (cross-repository mount)."""
        async with self._write(changed=False) as conn:
            if await conn.scalar(select(blobs.c.size).where(blobs.c.digest == digest)) is None:
                return False
            await self._link(conn, repo_id, [digest], self._clock())
        return True

    async def _link(self, conn: AsyncConnection, repo_id: int, digests: list[str], now: float) -> None:
        """Link blobs to a repository; an existing link is refreshed, restarting GC's grace period."""
        if digests:
            rows = [{"repo_id": repo_id, "digest": d, "linked_at": now} for d in digests]
            statement = self._insert(repo_blobs).values(rows)
            await conn.execute(
                statement.on_conflict_do_update(
                    index_elements=["repo_id", "digest"], set_={"linked_at": statement.excluded.linked_at}
                )
            )

    async def unlink_blob(self, repo_id: int, digest: str) -> bool:
        async with self._write() as conn:
            result = await conn.execute(
                delete(repo_blobs).where(repo_blobs.c.repo_id == repo_id, repo_blobs.c.digest == digest)
            )
        return result.rowcount > 0
