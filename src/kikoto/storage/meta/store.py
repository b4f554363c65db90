"""The metadata store: repositories, blobs, manifests, tags, uploads.

One SQLAlchemy Core adapter serves SQLite and PostgreSQL; the few dialect differences
(upsert syntax, byte-order collation) are resolved once in __init__.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import TextClause, and_, delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ...domain.errors import ManifestInvalid, ReferencedBlobUnknown, ReferencedImageUnknown, TagImmutable
from ...domain.events import ImageChanged, ImageDeleted, ImagePushed
from ...domain.manifests import Manifest
from .inline import InlineEngine
from .outbox import record_changes
from .repositories import Repository, RepositoryRows, name_of
from .schema import (
    blobs,
    image_scans,
    manifest_refs,
    manifests,
    repo_blobs,
    repositories,
    scan_findings,
    tags,
    uploads,
)

# The push path's statements, built once. Core constructs rebuilt per call (insert().values(),
# on_conflict_...) spent more CPU than SQLite itself: 57% of a worker in a small-push profile.
# Plain SQL with named parameters; SQLite (>= 3.24) and PostgreSQL share the ON CONFLICT syntax.
SQL_CREATE_UPLOAD = text(
    'INSERT INTO uploads (id, repo_id, "offset", algorithm, started_at, updated_at) '
    "VALUES (:id, :repo_id, 0, :algorithm, :now, :now)"
)
SQL_GET_UPLOAD = text(
    'SELECT u.id, u.repo_id, u."offset", u.algorithm FROM uploads u '
    "JOIN repositories r ON r.id = u.repo_id WHERE u.id = :id AND r.name = :repository"
)
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


@dataclass(frozen=True)
class ManifestHead:
    repo_id: int
    digest: str
    media_type: str
    size: int
    last_pulled_at: float | None
    storage_class: str = "STANDARD"


@dataclass(frozen=True)
class Upload:
    id: str
    repo_id: int
    offset: int
    algorithm: str


@dataclass(frozen=True)
class Referrer:
    digest: str
    media_type: str
    size: int
    artifact_type: str | None
    annotations: dict[str, str] | None


class MetadataStore(RepositoryRows):
    def __init__(self, engine: AsyncEngine | InlineEngine, clock=time.time, changes=None) -> None:
        super().__init__(engine, clock, changes)
        dialect = engine.dialect.name
        # Lexical (byte) order for tag and catalog listings, whatever the database locale is.
        self._bytewise = (lambda column: column.collate("C")) if dialect == "postgresql" else (lambda column: column)

    async def close(self) -> None:
        await self.engine.dispose()

    def _insert_ignore(self, table, rows, keys: Iterable[str]):
        return self._insert(table).values(rows).on_conflict_do_nothing(index_elements=list(keys))

    # -- repositories ---------------------------------------------------------------------

    async def ensure_repository(self, name: str) -> Repository:
        existing = await self.get_repository(name)
        if existing:
            return existing
        async with self._write() as conn:
            await conn.execute(self._insert_ignore(repositories, {"name": name, "created_at": self._clock()}, ["name"]))
            row = (await conn.execute(select(repositories).where(repositories.c.name == name))).one()
        return Repository.from_row(row)

    async def _names_after(self, column, limit: int | None, after: str | None, *where) -> list[str]:
        """Names in byte order after `after`: the one query behind tag lists and the catalog."""
        name = self._bytewise(column)
        query = select(column).where(*where).order_by(name)
        if after:
            query = query.where(name > after)
        if limit is not None:
            query = query.limit(limit)
        async with self.engine.connect() as conn:
            return list((await conn.scalars(query)).all())

    async def list_repositories(self, limit: int | None, after: str | None) -> list[str]:
        return await self._names_after(repositories.c.name, limit, after)

    # -- blobs ----------------------------------------------------------------------------

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
        async with self.engine.connect() as conn:
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

    async def lock_blobs(self, conn: AsyncConnection, digests: list[str], shared: bool = False) -> None:
        """Row locks on PostgreSQL (SQLite's write transactions are exclusive already)."""
        if digests and self.engine.dialect.name == "postgresql":
            query = select(blobs.c.digest).where(blobs.c.digest.in_(digests))
            await conn.execute(query.with_for_update(read=shared))

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
        async with self.engine.connect() as conn:
            return {row.digest: row.size for row in await conn.execute(query)}

    async def blob_tiers(self, digests: list[str]) -> dict[str, str]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(blobs.c.digest, blobs.c.tier).where(blobs.c.digest.in_(digests)))
            return {row.digest: row.tier for row in rows}

    async def repositories_with_blob(self, digest: str) -> list[str]:
        query = (
            select(repositories.c.name)
            .select_from(repo_blobs.join(repositories, repositories.c.id == repo_blobs.c.repo_id))
            .where(repo_blobs.c.digest == digest)
        )
        async with self.engine.connect() as conn:
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

    # -- uploads --------------------------------------------------------------------------

    async def create_upload(self, upload_id: str, repo_id: int, algorithm: str) -> Upload:
        await self._statements(
            [
                (
                    SQL_CREATE_UPLOAD,
                    {"id": upload_id, "repo_id": repo_id, "algorithm": algorithm, "now": self._clock()},
                    None,
                )
            ]
        )
        return Upload(upload_id, repo_id, 0, algorithm)

    async def get_upload(self, upload_id: str, repository: str) -> Upload | None:
        """An upload session of this repository (one query)."""
        rows = await self._statements(
            [(SQL_GET_UPLOAD, {"id": upload_id, "repository": repository}, None)], write=False
        )
        return Upload(*rows[0]) if rows else None

    async def advance_upload(self, upload_id: str, old_offset: int, new_offset: int) -> bool:
        """Compare-and-set the offset, so two writers racing on one upload cannot both win."""
        async with self._write(changed=False) as conn:
            result = await conn.execute(
                update(uploads)
                .where(uploads.c.id == upload_id, uploads.c.offset == old_offset)
                .values(offset=new_offset, updated_at=self._clock())
            )
        return result.rowcount == 1

    async def delete_upload(self, upload_id: str) -> bool:
        async with self._write(changed=False) as conn:
            result = await conn.execute(delete(uploads).where(uploads.c.id == upload_id))
        return result.rowcount > 0

    # -- manifests and tags ---------------------------------------------------------------

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
            await self.lock_blobs(conn, list(set(blob_digests)), shared=True)  # GC waits for this push
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
        async with self.engine.connect() as conn:
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
        async with self.engine.connect() as conn:
            return {row.digest: row.content for row in await conn.execute(query)}

    async def manifest_content(self, repo_name: str, digest: str) -> bytes | None:
        query = (
            select(manifests.c.content)
            .select_from(manifests.join(repositories, repositories.c.id == manifests.c.repo_id))
            .where(repositories.c.name == repo_name, manifests.c.digest == digest)
        )
        async with self.engine.connect() as conn:
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
        async with self._write() as conn:
            await self._deleted(conn, repo_id, [digest], tag)
            for table in (tags, image_scans, scan_findings):  # a deleted image's scan goes with it
                await conn.execute(delete(table).where(table.c.repo_id == repo_id, table.c.digest == digest))
            await conn.execute(
                delete(manifest_refs).where(manifest_refs.c.repo_id == repo_id, manifest_refs.c.parent_digest == digest)
            )
            result = await conn.execute(
                delete(manifests).where(manifests.c.repo_id == repo_id, manifests.c.digest == digest)
            )
        return result.rowcount > 0

    async def delete_manifests(self, repo_id: int, digests: list[str]) -> int:
        """Delete many manifests (and their tags and references) in one transaction."""
        async with self._write() as conn:
            await self._deleted(conn, repo_id, digests)
            for table in (tags, image_scans, scan_findings):
                await conn.execute(delete(table).where(table.c.repo_id == repo_id, table.c.digest.in_(digests)))
            await conn.execute(
                delete(manifest_refs).where(
                    manifest_refs.c.repo_id == repo_id, manifest_refs.c.parent_digest.in_(digests)
                )
            )
            result = await conn.execute(
                delete(manifests).where(manifests.c.repo_id == repo_id, manifests.c.digest.in_(digests))
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
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            Referrer(
                r.digest, r.media_type, r.size, r.artifact_type, json.loads(r.annotations) if r.annotations else None
            )
            for r in rows
        ]
