"""Lifecycle, archive, garbage collection, audit and job leases: the metadata side."""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import and_, delete, exists, func, or_, select, tuple_, update
from sqlalchemy.exc import IntegrityError

from ...domain.events import ImageChanged, StorageClassChanged
from .base import SqlStore
from .outbox import record_changes, repository_name
from .schema import (
    audit_events,
    blob_trash,
    blobs,
    leases,
    lifecycle_preview_results,
    lifecycle_previews,
    manifest_refs,
    manifests,
    repo_blobs,
    repositories,
    storage_snapshots,
    tags,
    uploads,
)
from .store import MetadataStore

CHUNK = 500  # digests per IN (...) list


def _iso(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _chunks(items: Iterable[str]):
    items = list(items)
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


class LifecycleStore(SqlStore):
    def __init__(self, meta: MetadataStore, clock=time.time) -> None:
        super().__init__(meta.engine, clock, meta.changes)
        self.meta = meta

    # -- what an evaluation needs ---------------------------------------------------------

    async def image_relations(self, repo_id: int) -> tuple[dict[str, list[str]], dict[str, set[str]]]:
        """(child manifest -> indexes listing it, manifest -> blobs it references) for a repository."""
        query = select(manifest_refs.c.parent_digest, manifest_refs.c.child_digest, manifest_refs.c.child_kind).where(
            manifest_refs.c.repo_id == repo_id
        )
        parents: dict[str, list[str]] = {}
        blob_refs: dict[str, set[str]] = {}
        async with self.engine.connect() as conn:
            for row in await conn.execute(query):
                if row.child_kind == "manifest":
                    parents.setdefault(row.child_digest, []).append(row.parent_digest)
                else:
                    blob_refs.setdefault(row.parent_digest, set()).add(row.child_digest)
        return parents, blob_refs

    async def reclaimable(self, repo_id: int, leaving: set[str], candidates: set[str]) -> dict[str, int]:
        """Of `candidates` (blobs of the manifests `leaving` the repository), those no other
        manifest anywhere references, with their sizes: the bytes GC would then free."""
        shared: set[str] = set()
        sizes: dict[str, int] = {}
        async with self.engine.connect() as conn:
            for chunk in _chunks(candidates):
                query = select(manifest_refs.c.child_digest).where(
                    manifest_refs.c.child_digest.in_(chunk),
                    or_(manifest_refs.c.repo_id != repo_id, manifest_refs.c.parent_digest.not_in(leaving or {""})),
                )
                shared |= set((await conn.scalars(query)).all())
                for row in await conn.execute(select(blobs.c.digest, blobs.c.size).where(blobs.c.digest.in_(chunk))):
                    sizes[row.digest] = row.size
        return {d: sizes.get(d, 0) for d in candidates - shared}

    # -- the archive tier -------------------------------------------------------------------

    async def set_storage_class(self, repo_id: int, digests: list[str], storage_class: str) -> None:
        now = self._clock()
        values: dict[str, Any] = {"storage_class": storage_class}
        values.update({"archived_at": now} if storage_class == "ARCHIVE" else {"activated_at": now})
        async with self._write() as conn:
            changes: list[ImageChanged] = []
            name = await repository_name(conn, repo_id) or ""
            for chunk in _chunks(digests):  # ECR's event names the media types; a restore its time
                query = select(manifests.c.digest, manifests.c.media_type, manifests.c.config_media_type).where(
                    manifests.c.repo_id == repo_id, manifests.c.digest.in_(chunk)
                )
                changes += [
                    StorageClassChanged(
                        repository=name,
                        digest=row.digest,
                        media_type=row.media_type,
                        artifact_media_type=row.config_media_type,
                        storage_class=storage_class,
                        activated_at=now if storage_class == "STANDARD" else None,
                    )
                    for row in await conn.execute(query)
                ]
            await record_changes(conn, changes if name else [], now)
            for chunk in _chunks(digests):
                await conn.execute(
                    update(manifests)
                    .where(manifests.c.repo_id == repo_id, manifests.c.digest.in_(chunk))
                    .values(values)
                )

    async def blobs_to_retier(self, digests: set[str]) -> tuple[set[str], set[str]]:
        """(blobs that only archived manifests reference, in the standard tier; blobs that some
        active manifest references, in the archive tier) among `digests`."""
        to_archive, to_restore = set(), set()
        async with self.engine.connect() as conn:
            for chunk in _chunks(digests):
                active = set(
                    (
                        await conn.scalars(
                            select(manifest_refs.c.child_digest)
                            .join(
                                manifests,
                                and_(
                                    manifests.c.repo_id == manifest_refs.c.repo_id,
                                    manifests.c.digest == manifest_refs.c.parent_digest,
                                ),
                            )
                            .where(manifest_refs.c.child_digest.in_(chunk), manifests.c.storage_class == "STANDARD")
                        )
                    ).all()
                )
                for row in await conn.execute(select(blobs.c.digest, blobs.c.tier).where(blobs.c.digest.in_(chunk))):
                    if row.digest in active and row.tier == "archive":
                        to_restore.add(row.digest)
                    elif row.digest not in active and row.tier == "standard":
                        to_archive.add(row.digest)
        return to_archive, to_restore

    async def set_tier(self, digest: str, tier: str) -> None:
        async with self._write(changed=False) as conn:
            await conn.execute(update(blobs).where(blobs.c.digest == digest).values(tier=tier))

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
        async with self.engine.connect() as conn:
            return list((await conn.scalars(query)).all())

    async def collect(self, digests: list[str], cutoff: float) -> dict[str, int]:
        """Forget the still-unreferenced blobs among `digests`: their rows move to the trash in
        one locked transaction (re-checked under the lock a manifest push takes). Their bytes
        are deleted afterwards by `purge`. Returns digest -> size forgotten."""
        async with self._write() as conn:  # blobs vanish from repositories: caches must drop them
            await self.meta.lock_blobs(conn, digests)
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
            for row in rows:
                await remove(row.digest, row.tier)
            if rows:
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
        async with self.engine.connect() as conn:
            return [tuple(row) for row in await conn.execute(query)]

    async def known_digests(self, digests: list[str]) -> tuple[dict[str, str], set[str]]:
        """Of `digests`: those with a blob row (-> tier) and those in the GC trash."""
        async with self.engine.connect() as conn:
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
            await self.meta.lock_blobs(conn, [digest])
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
        async with self.engine.connect() as conn:
            return [tuple(row) for row in await conn.execute(query)]

    async def stale_uploads(self, cutoff: float) -> list[str]:
        async with self.engine.connect() as conn:
            return list((await conn.scalars(select(uploads.c.id).where(uploads.c.updated_at < cutoff))).all())

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
        async with self.engine.connect() as conn:
            sizes = {name: size for name, size in await conn.execute(query)}
            ids = {row.id: row.name for row in await conn.execute(select(repositories.c.id, repositories.c.name))}
            images = {ids[repo_id]: n for repo_id, n in await conn.execute(counts)}
        return [(name, images.get(name, 0), int(size)) for name, size in sizes.items()]

    async def stored_bytes(self) -> tuple[int, int]:
        """(blobs, bytes) held by the registry, each blob counted once."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(func.count(), func.coalesce(func.sum(blobs.c.size), 0)))).one()
        return int(row[0]), int(row[1])

    # -- previews ----------------------------------------------------------------------------------

    async def save_preview(self, repo_id: int, policy: str, status: str, results: list[dict[str, Any]]) -> None:
        """Keep a preview: its results one row each (ECR's previewResult structure), and the
        counts GetLifecyclePolicyPreview's summary reports for each tag-status filter."""
        summary: dict[str, dict[str, int]] = {s: {"EXPIRE": 0, "TRANSITION": 0} for s in ("ANY", "TAGGED", "UNTAGGED")}
        for result in results:
            for scope in ("ANY", "TAGGED" if result["imageTags"] else "UNTAGGED"):
                summary[scope][result["action"]["type"]] += 1
        async with self._write(changed=False) as conn:
            await conn.execute(delete(lifecycle_previews).where(lifecycle_previews.c.repo_id == repo_id))
            await conn.execute(delete(lifecycle_preview_results).where(lifecycle_preview_results.c.repo_id == repo_id))
            await conn.execute(
                lifecycle_previews.insert().values(
                    repo_id=repo_id, policy=policy, status=status, results=json.dumps(summary), created_at=self._clock()
                )
            )
            if results:
                await conn.execute(
                    lifecycle_preview_results.insert(),
                    [
                        {
                            "repo_id": repo_id,
                            "digest": r["imageDigest"],
                            "pushed_at": r["imagePushedAt"],
                            "tagged": bool(r["imageTags"]),
                            "result": json.dumps(r),
                        }
                        for r in results
                    ],
                )

    async def preview(self, repo_id: int) -> tuple[str, str, dict[str, Any]] | None:
        """(policy, status, summary counts) of the repository's last preview."""
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(select(lifecycle_previews).where(lifecycle_previews.c.repo_id == repo_id))
            ).first()
        return (row.policy, row.status, json.loads(row.results)) if row else None

    async def preview_page(
        self, repo_id: int, after: tuple[float, str] | None, limit: int, tag_status: str = "ANY"
    ) -> list[dict[str, Any]]:
        """Up to `limit` preview results after `after` (pushed_at, digest), oldest push first."""
        table = lifecycle_preview_results
        query = select(table.c.result).where(table.c.repo_id == repo_id)
        if after is not None:
            query = query.where(tuple_(table.c.pushed_at, table.c.digest) > tuple_(*after))
        if tag_status in ("TAGGED", "UNTAGGED"):
            query = query.where(table.c.tagged == (tag_status == "TAGGED"))
        query = query.order_by(table.c.pushed_at, table.c.digest).limit(limit)
        async with self.engine.connect() as conn:
            return [json.loads(r) for r in await conn.scalars(query)]

    async def preview_results(self, repo_id: int, digests: list[str], tag_names: list[str]) -> list[dict[str, Any]]:
        """The preview results of the images these digests or (current) tags name."""
        table = lifecycle_preview_results
        by_tag = select(tags.c.digest).where(tags.c.repo_id == repo_id, tags.c.name.in_(tag_names))
        query = (
            select(table.c.result)
            .where(table.c.repo_id == repo_id, table.c.digest.in_(digests) | table.c.digest.in_(by_tag))
            .order_by(table.c.pushed_at, table.c.digest)
        )
        async with self.engine.connect() as conn:
            return [json.loads(r) for r in await conn.scalars(query)]

    async def repository_summaries(self, repo_ids: list[int]) -> dict[int, tuple[int, int, float | None]]:
        """repo id -> (images, deduplicated bytes its manifests reference, last push), for a page
        of repositories in two grouped queries."""
        if not repo_ids:
            return {}
        counts = (
            select(manifests.c.repo_id, func.count(), func.max(manifests.c.pushed_at))
            .where(manifests.c.repo_id.in_(repo_ids))
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
        async with self.engine.connect() as conn:
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
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [(r.at, r.blobs, r.bytes) for r in reversed(rows)]

    # -- audit ---------------------------------------------------------------------------------------

    async def record(self, events: list[dict[str, Any]]) -> None:
        if not events:
            return
        now = self._clock()
        rows = [
            {
                "at": now,
                "detail": json.dumps(e.get("detail") or {}),
                **{k: e.get(k) for k in ("actor", "action", "repository", "digest")},
            }
            for e in events
        ]
        async with self._write(changed=False) as conn:
            await conn.execute(audit_events.insert(), rows)

    async def events(
        self,
        repository: str | None,
        limit: int = 100,
        since: float | None = None,
        before: int | None = None,
        action: str | None = None,
    ) -> list[dict[str, Any]]:
        """Newest first; `before` (an event id) continues a listing by key."""
        query = select(audit_events).order_by(audit_events.c.id.desc()).limit(limit)
        if before is not None:
            query = query.where(audit_events.c.id < before)
        if repository:
            query = query.where(audit_events.c.repository == repository)
        if since is not None:
            query = query.where(audit_events.c.at >= since)
        if action is not None:
            query = query.where(audit_events.c.action == action)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            {
                "id": r.id,
                "at": r.at,
                "actor": r.actor,
                "action": r.action,
                "repository": r.repository,
                "digest": r.digest,
                "detail": json.loads(r.detail or "{}"),
            }
            for r in rows
        ]

    # -- leases: one holder of a background job at a time --------------------------------------------

    async def acquire(self, name: str, holder: str, ttl: float) -> bool:
        try:
            return await self._acquire(name, holder, ttl)
        except IntegrityError:  # another holder inserted the lease first
            return False

    async def _acquire(self, name: str, holder: str, ttl: float) -> bool:
        now = self._clock()
        async with self._write(changed=False) as conn:
            row = (await conn.execute(select(leases).where(leases.c.name == name).with_for_update())).first()
            if row is None:
                await conn.execute(leases.insert().values(name=name, holder=holder, expires_at=now + ttl))
                return True
            if row.expires_at > now:  # held (or, for periodic jobs, not yet due again)
                return False
            await conn.execute(update(leases).where(leases.c.name == name).values(holder=holder, expires_at=now + ttl))
            return True

    async def hold(self, name: str, holder: str, ttl: float) -> None:
        """Extend a lease this holder has (after a run: until the job is due again)."""
        async with self._write(changed=False) as conn:
            await conn.execute(
                update(leases)
                .where(leases.c.name == name, leases.c.holder == holder)
                .values(expires_at=self._clock() + ttl)
            )

    async def release(self, name: str, holder: str) -> None:
        async with self._write(changed=False) as conn:
            await conn.execute(delete(leases).where(leases.c.name == name, leases.c.holder == holder))
