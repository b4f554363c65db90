"""Manifests and tags: what a push stores and a pull reads, each change recorded in the outbox in
its own transaction. One SQLAlchemy Core adapter serves SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace

from sqlalchemy import and_, delete, func, select, update

from ...domain.audit import Change
from ...domain.errors import ManifestInvalid, ReferencedBlobUnknown, ReferencedImageUnknown, TagImmutable
from ...domain.events import ImageChanged, ImageDeleted, ImagePushed
from ...domain.manifests import Manifest
from .audit import audit_row
from .base import SqlStore
from .blobs import lock_blobs
from .outbox import record_changes
from .ports import ManifestHead, Referrer, Repository
from .repositories import name_of
from .schema import (
    audit_events,
    blobs,
    image_scans,
    manifest_refs,
    manifests,
    repo_blobs,
    repositories,
    scan_findings,
    tags,
)


class SqlManifestStore(SqlStore):
    async def put_manifest(
        self,
        repo: Repository,
        manifest: Manifest,
        content: bytes,
        tag_names: list[str],
        allow_sparse_index: bool,
        immutable: Callable[[str], bool] = lambda tag: False,
        lazy: bool = False,
        change: Callable[..., ImageChanged] = ImagePushed,
        recorded: Change | None = None,
    ) -> None:
        """Store a manifest, its references and its tags in one transaction, after checking
        that everything it references is present (unless `lazy`: a pull-through cache fetches
        what a manifest references when a client asks for it) and that no immutable tag would move.
        `change`: the kind of change the outbox records (a push; a pull-through cache's import)."""
        repo_id, now = repo.id, self._clock()
        blob_digests = [d.digest for d in manifest.blobs if not d.is_foreign]
        child_digests = [d.digest for d in manifest.manifests]
        async with self._write() as conn:
            if not lazy:
                await self._check_references(conn, repo_id, manifest, blob_digests, child_digests, allow_sparse_index)
            await self._check_immutable(conn, repo, manifest.digest, tag_names, immutable)
            image_size = sum(d.size for d in manifest.blobs)
            if child_digests:
                image_size = (
                    await conn.scalar(
                        select(func.max(manifests.c.image_size)).where(
                            manifests.c.repo_id == repo_id, manifests.c.digest.in_(set(child_digests))
                        )
                    )
                    or 0
                )
            await conn.execute(
                self._insert_ignore(
                    manifests,
                    {
                        "repo_id": repo_id,
                        "digest": manifest.digest,
                        "media_type": manifest.media_type,
                        "artifact_type": manifest.referrer_artifact_type,
                        "subject_digest": manifest.subject.digest if manifest.subject else None,
                        "size": manifest.size,
                        "content": content,
                        "annotations": json.dumps(manifest.annotations) if manifest.annotations else None,
                        "pushed_at": now,
                        "config_media_type": manifest.config_media_type,
                        "image_size": image_size,
                    },
                    ["repo_id", "digest"],
                )
            )
            refs = [(d, "blob") for d in dict.fromkeys(blob_digests)] + [
                (d, "manifest") for d in dict.fromkeys(child_digests)
            ]
            if refs:
                rows = [
                    {"repo_id": repo_id, "parent_digest": manifest.digest, "child_digest": d, "child_kind": k}
                    for d, k in refs
                ]
                await conn.execute(
                    self._insert_ignore(manifest_refs, rows, ["repo_id", "parent_digest", "child_digest"])
                )
            changes = [
                change(
                    repository=repo.name,
                    digest=manifest.digest,
                    tag=t,
                    media_type=manifest.media_type,
                    artifact_media_type=manifest.config_media_type,
                )
                for t in ([*tag_names] if tag_names else [None])
            ]
            await record_changes(conn, changes, now)
            if recorded is not None:  # the audit entry commits with the change: both or neither
                touched: list[str | None] = [*tag_names] or [None]
                entries = [replace(recorded, digest=manifest.digest, tag=t) for t in touched]
                await conn.execute(audit_events.insert(), [audit_row(e, now) for e in entries])
            for name in tag_names:
                statement = self._insert(tags).values(
                    repo_id=repo_id, name=name, digest=manifest.digest, updated_at=now
                )
                await conn.execute(
                    statement.on_conflict_do_update(
                        index_elements=["repo_id", "name"], set_={"digest": manifest.digest, "updated_at": now}
                    )
                )

    async def _check_immutable(self, conn, repo: Repository, digest: str, tag_names: list[str], immutable) -> None:
        if not tag_names:
            return
        query = select(tags.c.name, tags.c.digest).where(tags.c.repo_id == repo.id, tags.c.name.in_(tag_names))
        for row in await conn.execute(query):
            if row.digest != digest and immutable(row.name):
                raise TagImmutable(
                    f"The image tag '{row.name}' already exists in the '{repo.name}' repository and cannot be "
                    f"overwritten because the tag is immutable.",
                    detail={"tag": row.name},
                )

    async def _check_references(self, conn, repo_id, manifest, blob_digests, child_digests, allow_sparse_index):
        if blob_digests:
            await lock_blobs(conn, list(set(blob_digests)), shared=True)  # GC waits for this push
            query = (
                select(blobs.c.digest, blobs.c.size)
                .select_from(repo_blobs.join(blobs, repo_blobs.c.digest == blobs.c.digest))
                .where(repo_blobs.c.repo_id == repo_id, repo_blobs.c.digest.in_(set(blob_digests)))
            )
            sizes = {row.digest: row.size for row in await conn.execute(query)}
            for descriptor in manifest.blobs:
                if descriptor.is_foreign:
                    continue
                if descriptor.digest not in sizes:
                    raise ReferencedBlobUnknown(descriptor.digest)
                if sizes[descriptor.digest] != descriptor.size:
                    raise ManifestInvalid(
                        f"descriptor size {descriptor.size} does not match blob {descriptor.digest} "
                        f"of {sizes[descriptor.digest]} bytes",
                    )
        if child_digests and not allow_sparse_index:
            query = select(manifests.c.digest).where(
                manifests.c.repo_id == repo_id, manifests.c.digest.in_(set(child_digests))
            )
            present = set((await conn.scalars(query)).all())
            for digest in child_digests:
                if digest not in present:
                    raise ReferencedImageUnknown(digest)

    async def find_manifest(self, repo_name: str, *, tag: str | None = None, digest: str | None = None):
        """(digest, media type, size) of a manifest by tag or digest in one indexed query;
        None when the repository, tag or manifest is missing."""
        query = select(
            manifests.c.repo_id,
            manifests.c.digest,
            manifests.c.media_type,
            manifests.c.size,
            manifests.c.last_pulled_at,
            manifests.c.storage_class,
        ).select_from(manifests.join(repositories, repositories.c.id == manifests.c.repo_id))
        if tag is not None:
            query = query.join(tags, and_(tags.c.repo_id == manifests.c.repo_id, tags.c.digest == manifests.c.digest))
            query = query.where(repositories.c.name == repo_name, tags.c.name == tag)
        else:
            query = query.where(repositories.c.name == repo_name, manifests.c.digest == digest)
        async with self._read() as conn:
            row = (await conn.execute(query)).first()
        return ManifestHead(*row) if row else None

    async def manifest_contents(self, repo_name: str, digests: list[str]) -> dict[str, bytes]:
        if not digests:
            return {}
        query = (
            select(manifests.c.digest, manifests.c.content)
            .select_from(manifests.join(repositories, repositories.c.id == manifests.c.repo_id))
            .where(repositories.c.name == repo_name, manifests.c.digest.in_(digests))
        )
        async with self._read() as conn:
            return {row.digest: row.content for row in await conn.execute(query)}

    async def manifest_content(self, repo_name: str, digest: str) -> bytes | None:
        query = (
            select(manifests.c.content)
            .select_from(manifests.join(repositories, repositories.c.id == manifests.c.repo_id))
            .where(repositories.c.name == repo_name, manifests.c.digest == digest)
        )
        async with self._read() as conn:
            return await conn.scalar(query)

    async def record_pull(self, repo_id: int, digest: str, when: float) -> None:
        async with self._write(changed=False) as conn:
            await conn.execute(
                update(manifests)
                .where(manifests.c.repo_id == repo_id, manifests.c.digest == digest)
                .values(last_pulled_at=when)
            )

    async def _deleted(self, conn, repo_id: int, digests: list[str], tag: str | None = None) -> None:
        name = await name_of(conn, repo_id)
        if name is not None:
            changes = [ImageDeleted(repository=name, digest=d, tag=tag) for d in digests]
            await record_changes(conn, changes, self._clock())

    async def delete_manifest(self, repo_id: int, digest: str, tag: str | None = None) -> bool:
        """Delete a manifest with its tags and references (`tag`: the tag the deletion was asked
        by, for the event)."""
        return await self.delete_manifests(repo_id, [digest], tag) > 0

    async def delete_manifests(self, repo_id: int, digests: list[str], tag: str | None = None) -> int:
        """Delete manifests (with their tags, references and scans) in one transaction; a change
        is recorded for each that existed, none for the others."""
        async with self._write() as conn:
            query = select(manifests.c.digest).where(manifests.c.repo_id == repo_id, manifests.c.digest.in_(digests))
            present = set((await conn.scalars(query)).all())
            gone = [d for d in dict.fromkeys(digests) if d in present]
            if not gone:
                return 0
            await self._deleted(conn, repo_id, gone, tag)
            for table in (tags, image_scans, scan_findings):  # a deleted image's scan goes with it
                await conn.execute(delete(table).where(table.c.repo_id == repo_id, table.c.digest.in_(gone)))
            await conn.execute(
                delete(manifest_refs).where(manifest_refs.c.repo_id == repo_id, manifest_refs.c.parent_digest.in_(gone))
            )
            result = await conn.execute(
                delete(manifests).where(manifests.c.repo_id == repo_id, manifests.c.digest.in_(gone))
            )
        return result.rowcount

    async def delete_tag(self, repo_id: int, tag: str) -> bool:
        async with self._write() as conn:
            digest = await conn.scalar(select(tags.c.digest).where(tags.c.repo_id == repo_id, tags.c.name == tag))
            if digest is None:
                return False
            await self._deleted(conn, repo_id, [digest], tag)
            result = await conn.execute(delete(tags).where(tags.c.repo_id == repo_id, tags.c.name == tag))
        return result.rowcount > 0

    async def list_tags(self, repo_id: int, limit: int | None, after: str | None) -> list[str]:
        return await self._names_after(tags.c.name, limit, after, tags.c.repo_id == repo_id)

    async def referrers(self, repo_id: int, subject: str, artifact_type: str | None, limit: int, after: str | None):
        query = (
            select(
                manifests.c.digest,
                manifests.c.media_type,
                manifests.c.size,
                manifests.c.artifact_type,
                manifests.c.annotations,
            )
            .where(manifests.c.repo_id == repo_id, manifests.c.subject_digest == subject)
            .order_by(manifests.c.digest)
            .limit(limit)
        )
        if artifact_type:
            query = query.where(manifests.c.artifact_type == artifact_type)
        if after:
            query = query.where(manifests.c.digest > after)
        async with self._read() as conn:
            rows = (await conn.execute(query)).all()
        return [
            Referrer(
                r.digest, r.media_type, r.size, r.artifact_type, json.loads(r.annotations) if r.annotations else None
            )
            for r in rows
        ]
