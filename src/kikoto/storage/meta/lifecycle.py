"""Lifecycle policies, the metadata side: what an evaluation reads, the archive tier, previews."""

from __future__ import annotations

import dataclasses
import datetime
import json
from typing import Any

from sqlalchemy import and_, delete, select, tuple_, update

from ...domain.events import ImageChanged, StorageClassChanged
from ...domain.lifecycle import PreviewResult
from .base import SqlStore, batches
from .outbox import record_changes
from .repositories import name_of
from .schema import (
    blobs,
    lifecycle_preview_results,
    lifecycle_previews,
    manifest_refs,
    manifests,
    tags,
)


def _iso(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _result(text: str) -> PreviewResult:
    stored = json.loads(text)
    return PreviewResult(**{**stored, "tags": tuple(stored["tags"])})


class SqlLifecycleStore(SqlStore):
    # -- what an evaluation needs ---------------------------------------------------------

    async def image_relations(self, repo_id: int) -> tuple[dict[str, list[str]], dict[str, set[str]]]:
        """(child manifest -> indexes listing it, manifest -> blobs it references) for a repository."""
        query = select(manifest_refs.c.parent_digest, manifest_refs.c.child_digest, manifest_refs.c.child_kind).where(
            manifest_refs.c.repo_id == repo_id
        )
        parents: dict[str, list[str]] = {}
        blob_refs: dict[str, set[str]] = {}
        async with self._read() as conn:
            for row in await conn.execute(query):
                if row.child_kind == "manifest":
                    parents.setdefault(row.child_digest, []).append(row.parent_digest)
                else:
                    blob_refs.setdefault(row.parent_digest, set()).add(row.child_digest)
        return parents, blob_refs

    # -- the archive tier -------------------------------------------------------------------

    async def set_storage_class(self, repo_id: int, digests: list[str], storage_class: str) -> None:
        now = self._clock()
        values: dict[str, Any] = {"storage_class": storage_class}
        values.update({"archived_at": now} if storage_class == "ARCHIVE" else {"activated_at": now})
        async with self._write() as conn:
            changes: list[ImageChanged] = []
            name = await name_of(conn, repo_id) or ""
            for chunk in batches(digests):  # ECR's event names the media types; a restore its time
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
            for chunk in batches(digests):
                await conn.execute(
                    update(manifests)
                    .where(manifests.c.repo_id == repo_id, manifests.c.digest.in_(chunk))
                    .values(values)
                )

    async def blobs_to_retier(self, digests: set[str]) -> tuple[set[str], set[str]]:
        """(blobs that only archived manifests reference, in the standard tier; blobs that some
        active manifest references, in the archive tier) among `digests`."""
        to_archive, to_restore = set(), set()
        async with self._read() as conn:
            for chunk in batches(digests):
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

    # -- previews ----------------------------------------------------------------------------------

    async def save_preview(self, repo_id: int, policy: str, status: str, results: list[PreviewResult]) -> None:
        """Keep a preview: its results one row each (their fields, JSON), and the counts
        GetLifecyclePolicyPreview's summary reports for each tag-status filter."""
        summary: dict[str, dict[str, int]] = {s: {"EXPIRE": 0, "TRANSITION": 0} for s in ("ANY", "TAGGED", "UNTAGGED")}
        for result in results:
            for scope in ("ANY", "TAGGED" if result.tags else "UNTAGGED"):
                summary[scope][result.action] += 1
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
                            "digest": r.digest,
                            "pushed_at": r.pushed_at,
                            "tagged": bool(r.tags),
                            "result": json.dumps(dataclasses.asdict(r)),
                        }
                        for r in results
                    ],
                )

    async def preview(self, repo_id: int) -> tuple[str, str, dict[str, Any]] | None:
        """(policy, status, summary counts) of the repository's last preview."""
        async with self._read() as conn:
            row = (
                await conn.execute(select(lifecycle_previews).where(lifecycle_previews.c.repo_id == repo_id))
            ).first()
        return (row.policy, row.status, json.loads(row.results)) if row else None

    async def preview_page(
        self, repo_id: int, after: tuple[float, str] | None, limit: int, tag_status: str = "ANY"
    ) -> list[PreviewResult]:
        """Up to `limit` preview results after `after` (pushed_at, digest), oldest push first."""
        table = lifecycle_preview_results
        query = select(table.c.result).where(table.c.repo_id == repo_id)
        if after is not None:
            query = query.where(tuple_(table.c.pushed_at, table.c.digest) > tuple_(*after))
        if tag_status in ("TAGGED", "UNTAGGED"):
            query = query.where(table.c.tagged == (tag_status == "TAGGED"))
        query = query.order_by(table.c.pushed_at, table.c.digest).limit(limit)
        async with self._read() as conn:
            return [_result(r) for r in await conn.scalars(query)]

    async def preview_results(self, repo_id: int, digests: list[str], tag_names: list[str]) -> list[PreviewResult]:
        """The preview results of the images these digests or (current) tags name."""
        table = lifecycle_preview_results
        by_tag = select(tags.c.digest).where(tags.c.repo_id == repo_id, tags.c.name.in_(tag_names))
        query = (
            select(table.c.result)
            .where(table.c.repo_id == repo_id, table.c.digest.in_(digests) | table.c.digest.in_(by_tag))
            .order_by(table.c.pushed_at, table.c.digest)
        )
        async with self._read() as conn:
            return [_result(r) for r in await conn.scalars(query)]
