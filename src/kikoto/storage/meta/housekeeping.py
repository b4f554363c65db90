"""Blob rows against stored bytes: garbage collection (what nothing references goes to the
trash, then its bytes) and the consistency checks of fsck."""

from __future__ import annotations

from sqlalchemy import delete, exists, or_, select

from .base import SqlStore, batches
from .blobs import lock_blobs
from .schema import (
    blob_trash,
    blobs,
    manifest_refs,
    repo_blobs,
    repositories,
    uploads,
)


class SqlHousekeepingStore(SqlStore):
    async def reclaimable(self, repo_id: int, leaving: set[str], candidates: set[str]) -> dict[str, int]:
        """Of `candidates` (blobs of the manifests `leaving` the repository), those no other
        manifest anywhere references, with their sizes: the bytes GC would then free."""
        shared: set[str] = set()
        sizes: dict[str, int] = {}
        async with self._read() as conn:
            for chunk in batches(candidates):
                query = select(manifest_refs.c.child_digest).where(
                    manifest_refs.c.child_digest.in_(chunk),
                    or_(manifest_refs.c.repo_id != repo_id, manifest_refs.c.parent_digest.not_in(leaving or {""})),
                )
                shared |= set((await conn.scalars(query)).all())
                for row in await conn.execute(select(blobs.c.digest, blobs.c.size).where(blobs.c.digest.in_(chunk))):
                    sizes[row.digest] = row.size
        return {d: sizes.get(d, 0) for d in candidates - shared}

    # -- garbage collection -------------------------------------------------------------------

    async def gc_candidates(self, cutoff: float, after: str = "", limit: int | None = None) -> list[str]:
        """Blobs with no manifest referencing them whose every repository link is older than the
        cutoff, by digest after `after` (a batch of `limit`: memory stays flat however many)."""
        referenced = exists().where(manifest_refs.c.child_digest == blobs.c.digest)
        fresh_link = exists().where(repo_blobs.c.digest == blobs.c.digest, repo_blobs.c.linked_at >= cutoff)
        query = (
            select(blobs.c.digest)
            .where(blobs.c.digest > after, blobs.c.created_at < cutoff, ~referenced, ~fresh_link)
            .order_by(blobs.c.digest)
            .limit(limit)
        )
        async with self._read() as conn:
            return list((await conn.scalars(query)).all())

    async def collect(self, digests: list[str], cutoff: float) -> dict[str, int]:
        """Forget the still-unreferenced blobs among `digests`: their rows move to the trash in
        one locked transaction (re-checked under the lock a manifest push takes). Their bytes
        are deleted afterwards by `purge`. Returns digest -> size forgotten."""
        async with self._write() as conn:  # blobs vanish from repositories: caches must drop them
            await lock_blobs(conn, digests)
            rows = (
                await conn.execute(
                    select(blobs.c.digest, blobs.c.size, blobs.c.tier).where(
                        blobs.c.digest.in_(digests),
                        blobs.c.created_at < cutoff,
                        ~exists().where(manifest_refs.c.child_digest == blobs.c.digest),
                        ~exists().where(repo_blobs.c.digest == blobs.c.digest, repo_blobs.c.linked_at >= cutoff),
                    )
                )
            ).all()
            gone = [r.digest for r in rows]
            if gone:
                await conn.execute(delete(repo_blobs).where(repo_blobs.c.digest.in_(gone)))
                await conn.execute(delete(blobs).where(blobs.c.digest.in_(gone)))
                now = self._clock()
                await conn.execute(
                    blob_trash.insert(),
                    [{"digest": r.digest, "tier": r.tier, "size": r.size, "trashed_at": now} for r in rows],
                )
        return {r.digest: r.size for r in rows}

    async def purge(self, remove, limit: int) -> int:
        """Delete the bytes of up to `limit` trashed blobs, then their trash rows, in one
        transaction holding those rows (an upload of the same content claims its trash row
        first, so it waits for this, or this skips the blob). A crash in between leaves trash
        rows for the next run: metadata never claims the bytes. Returns the blobs purged."""
        async with self._write(changed=False) as conn:
            query = select(blob_trash.c.digest, blob_trash.c.tier).order_by(blob_trash.c.digest).limit(limit)
            if self.engine.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = (await conn.execute(query)).all()
            if rows:
                await remove([(row.digest, row.tier) for row in rows])
                await conn.execute(delete(blob_trash).where(blob_trash.c.digest.in_([r.digest for r in rows])))
        return len(rows)

    # -- consistency checks (fsck) ----------------------------------------------------------------

    async def blob_rows_after(self, after: str, limit: int) -> list[tuple[str, int, str]]:
        """(digest, size, tier) of up to `limit` blobs after `after`, by key."""
        query = (
            select(blobs.c.digest, blobs.c.size, blobs.c.tier)
            .where(blobs.c.digest > after)
            .order_by(blobs.c.digest)
            .limit(limit)
        )
        async with self._read() as conn:
            return [tuple(row) for row in await conn.execute(query)]

    async def known_digests(self, digests: list[str]) -> tuple[dict[str, str], set[str]]:
        """Of `digests`: those with a blob row (-> tier) and those in the GC trash."""
        async with self._read() as conn:
            rows = {
                r.digest: r.tier
                for r in await conn.execute(select(blobs.c.digest, blobs.c.tier).where(blobs.c.digest.in_(digests)))
            }
            trashed = set(await conn.scalars(select(blob_trash.c.digest).where(blob_trash.c.digest.in_(digests))))
        return rows, set(trashed)

    async def forget_blob(self, digest: str, still_broken) -> bool:
        """Delete a blob's row and links when `still_broken(tier)` (checked under the row's lock)
        says its bytes are missing or wrong: the registry then tells the truth (HEAD 404), and
        a client pushing an image with it uploads it again."""
        async with self._write() as conn:
            await lock_blobs(conn, [digest])
            tier = await conn.scalar(select(blobs.c.tier).where(blobs.c.digest == digest))
            if tier is None or not await still_broken(tier):
                return False
            await conn.execute(delete(repo_blobs).where(repo_blobs.c.digest == digest))
            await conn.execute(delete(blobs).where(blobs.c.digest == digest))
        return True

    async def trash_orphan(self, digest: str, tier: str, size: int) -> bool:
        """Put stored bytes that no blob row claims into the GC trash (False if a row appeared)."""
        async with self._write(changed=False) as conn:
            if await conn.scalar(select(blobs.c.digest).where(blobs.c.digest == digest)) is not None:
                return False
            if await conn.scalar(select(blob_trash.c.digest).where(blob_trash.c.digest == digest)) is None:
                await conn.execute(
                    blob_trash.insert().values(digest=digest, tier=tier, size=size, trashed_at=self._clock())
                )
        return True

    async def broken_references(self) -> list[tuple[str, str, str]]:
        """(repository, manifest digest, missing blob) for every manifest that references a
        blob the registry no longer has (pull-through cache repositories fetch theirs on demand)."""
        query = (
            select(repositories.c.name, manifest_refs.c.parent_digest, manifest_refs.c.child_digest)
            .select_from(
                manifest_refs.join(repositories, repositories.c.id == manifest_refs.c.repo_id).outerjoin(
                    blobs, blobs.c.digest == manifest_refs.c.child_digest
                )
            )
            .where(manifest_refs.c.child_kind == "blob", blobs.c.digest.is_(None), repositories.c.upstream.is_(None))
            .order_by(repositories.c.name, manifest_refs.c.parent_digest)
        )
        async with self._read() as conn:
            return [tuple(row) for row in await conn.execute(query)]

    async def stale_uploads(self, cutoff: float, after: str = "", limit: int | None = None) -> list[str]:
        """Upload sessions untouched since the cutoff, by id after `after` (a batch of `limit`)."""
        query = select(uploads.c.id).where(uploads.c.updated_at < cutoff, uploads.c.id > after).order_by(uploads.c.id)
        async with self._read() as conn:
            return list((await conn.scalars(query.limit(limit))).all())
