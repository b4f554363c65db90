"""What the ECR API reads and writes beyond the registry core: repository settings, image
details, registry documents and repository creation templates."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, text, update

from ...domain.templates import CreationTemplate
from .repositories import Repository, RepositoryRows
from .schema import (
    creation_templates,
    image_scans,
    manifest_refs,
    manifests,
    registry_documents,
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


# ListImages' page as one statement: the page of digests by the primary key, then their tags.
_IMAGE_IDS = (
    "SELECT m.digest, t.name FROM (SELECT digest FROM manifests WHERE repo_id = :repo_id AND digest {op} :after "
    "ORDER BY digest LIMIT :limit) AS m LEFT JOIN tags AS t ON t.repo_id = :repo_id AND t.digest = m.digest "
    "ORDER BY m.digest, t.name"
)
SQL_IMAGE_IDS = text(_IMAGE_IDS.format(op=">"))
SQL_IMAGE_IDS_FROM = text(_IMAGE_IDS.format(op=">="))


@dataclass(frozen=True)
class ImageRecord:
    digest: str
    tags: tuple[str, ...]
    media_type: str
    config_media_type: str | None
    artifact_type: str | None
    subject_digest: str | None
    size: int
    pushed_at: float
    last_pulled_at: float | None
    storage_class: str = "STANDARD"
    archived_at: float | None = None
    activated_at: float | None = None


def _image_records(rows, tag_rows) -> list[ImageRecord]:
    """Image records from manifest rows and the (name, digest) rows of their tags."""
    by_digest: dict[str, list[str]] = {}
    for tag in sorted(tag_rows, key=lambda t: t.name):  # sorted here: an ORDER BY would steer the
        by_digest.setdefault(tag.digest, []).append(tag.name)  # planner off the (repo, digest) index
    return [
        ImageRecord(
            r.digest,
            tuple(by_digest.get(r.digest, ())),
            r.media_type,
            r.config_media_type,
            r.artifact_type,
            r.subject_digest,
            r.image_size if r.image_size is not None else r.size,
            r.pushed_at,
            r.last_pulled_at,
            r.storage_class,
            r.archived_at,
            r.activated_at,
        )
        for r in rows
    ]


class EcrStore(RepositoryRows):
    # -- repositories -----------------------------------------------------------------------

    async def repositories(self, names: list[str] | None = None) -> list[Repository]:
        query = select(repositories).order_by(repositories.c.name)
        if names is not None:
            query = query.where(repositories.c.name.in_(names))
        async with self.engine.connect() as conn:
            return [Repository.from_row(row) for row in await conn.execute(query)]

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

    async def image_count(self, repo_id: int) -> int:
        async with self.engine.connect() as conn:
            return len(
                (await conn.scalars(select(manifests.c.digest).where(manifests.c.repo_id == repo_id).limit(1))).all()
            )

    # -- images -----------------------------------------------------------------------------

    def _image_columns(self):
        return select(
            manifests.c.digest,
            manifests.c.media_type,
            manifests.c.config_media_type,
            manifests.c.artifact_type,
            manifests.c.subject_digest,
            manifests.c.image_size,
            manifests.c.size,
            manifests.c.pushed_at,
            manifests.c.last_pulled_at,
            manifests.c.storage_class,
            manifests.c.archived_at,
            manifests.c.activated_at,
        )

    async def _with_tags(self, conn, repo_id: int, rows) -> list[ImageRecord]:
        digests = [r.digest for r in rows]
        tag_query = select(tags.c.name, tags.c.digest).where(tags.c.repo_id == repo_id, tags.c.digest.in_(digests))
        return _image_records(rows, (await conn.execute(tag_query)).all() if digests else [])

    def _page_query(
        self, columns, repo_id: int, after: str, limit: int, tag_status: str, image_status: str, inclusive: bool
    ):
        """The query behind a page of images after digest `after` (or from it, `inclusive`), by
        digest, with ListImages' and DescribeImages' filters: an index range scan, whatever the
        size of the repository. None when no image can match (ACTIVATING)."""
        tagged = select(tags.c.name).where(tags.c.repo_id == repo_id, tags.c.digest == manifests.c.digest).exists()
        query = columns.where(
            manifests.c.repo_id == repo_id, manifests.c.digest >= after if inclusive else manifests.c.digest > after
        )
        if tag_status == "TAGGED":
            query = query.where(tagged)
        elif tag_status == "UNTAGGED":
            query = query.where(~tagged)
        if image_status in ("ACTIVE", "ARCHIVED"):
            query = query.where(manifests.c.storage_class == ("STANDARD" if image_status == "ACTIVE" else "ARCHIVE"))
        elif image_status == "ACTIVATING":
            return None  # restores are immediate here: nothing is ever activating
        return query.order_by(manifests.c.digest).limit(limit)

    async def images_page(
        self,
        repo_id: int,
        after: str,
        limit: int,
        tag_status: str = "ANY",
        image_status: str = "ANY",
        inclusive: bool = False,
    ) -> list[ImageRecord]:
        """Up to `limit` images (whole records) after digest `after`: DescribeImages' page."""
        query = self._page_query(self._image_columns(), repo_id, after, limit, tag_status, image_status, inclusive)
        if query is None:
            return []
        async with self.engine.connect() as conn:
            return await self._with_tags(conn, repo_id, (await conn.execute(query)).all())

    async def image_ids_page(
        self, repo_id: int, after: str, limit: int, tag_status: str, image_status: str, inclusive: bool
    ) -> list[tuple[str, tuple[str, ...]]]:
        """(digest, its tags in order) of up to `limit` images after `after`: ListImages' page,
        from the primary key's index alone."""
        if tag_status == "ANY" and image_status == "ANY":  # the common page: one plain statement
            params = {"repo_id": repo_id, "after": after, "limit": limit}
            rows = await self._statements(
                [(SQL_IMAGE_IDS_FROM if inclusive else SQL_IMAGE_IDS, params, None)], write=False
            )
            found: dict[str, list[str]] = {}
            for digest, tag in rows or []:
                names = found.setdefault(digest, [])
                if tag is not None:
                    names.append(tag)
            return [(d, tuple(names)) for d, names in found.items()]
        query = self._page_query(select(manifests.c.digest), repo_id, after, limit, tag_status, image_status, inclusive)
        if query is None:
            return []
        async with self.engine.connect() as conn:
            digests = list((await conn.scalars(query)).all())
            by_digest: dict[str, list[str]] = {d: [] for d in digests}
            if digests:
                tagged = await conn.execute(
                    select(tags.c.name, tags.c.digest).where(tags.c.repo_id == repo_id, tags.c.digest.in_(digests))
                )
                for name, digest in sorted(tagged, key=lambda r: r.name):
                    by_digest[digest].append(name)
        return [(d, tuple(names)) for d, names in by_digest.items()]

    async def find_images(self, repo_id: int, digests: list[str], tag_names: list[str]) -> list[ImageRecord]:
        """The images with these digests or carrying these tags (with all their tags)."""
        tagged = select(tags.c.digest).where(tags.c.repo_id == repo_id, tags.c.name.in_(tag_names))
        query = self._image_columns().where(
            manifests.c.repo_id == repo_id, manifests.c.digest.in_(digests) | manifests.c.digest.in_(tagged)
        )
        async with self.engine.connect() as conn:
            return await self._with_tags(conn, repo_id, (await conn.execute(query)).all())

    async def repository_policies(self, names: list[str]) -> dict[str, str | None]:
        """name -> repository policy text, for the named repositories that exist (one query)."""
        query = select(repositories.c.name, repositories.c.repository_policy).where(repositories.c.name.in_(names))
        async with self.engine.connect() as conn:
            return {row.name: row.repository_policy for row in await conn.execute(query)}

    async def repositories_after(self, after: str, limit: int) -> list[Repository]:
        query = select(repositories).where(repositories.c.name > after).order_by(repositories.c.name).limit(limit)
        async with self.engine.connect() as conn:
            return [Repository.from_row(row) for row in await conn.execute(query)]

    async def images(self, repo_id: int) -> list[ImageRecord]:
        """Every image (manifest) of a repository with its tags, oldest push first (lifecycle
        evaluation needs them all; listings page with `images_page`)."""
        query = (
            self._image_columns()
            .where(manifests.c.repo_id == repo_id)
            .order_by(manifests.c.pushed_at, manifests.c.digest)
        )
        tag_query = select(tags.c.name, tags.c.digest).where(tags.c.repo_id == repo_id).order_by(tags.c.name)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
            return _image_records(rows, (await conn.execute(tag_query)).all())

    async def parents(self, repo_id: int, digest: str) -> list[str]:
        """Indexes in the repository that list `digest` as a child."""
        query = select(manifest_refs.c.parent_digest).where(
            manifest_refs.c.repo_id == repo_id,
            manifest_refs.c.child_digest == digest,
            manifest_refs.c.child_kind == "manifest",
        )
        async with self.engine.connect() as conn:
            return list((await conn.scalars(query)).all())

    async def blob_is_referenced(self, repo_id: int, digest: str) -> bool:
        query = (
            select(manifest_refs.c.parent_digest)
            .where(manifest_refs.c.repo_id == repo_id, manifest_refs.c.child_digest == digest)
            .limit(1)
        )
        async with self.engine.connect() as conn:
            return (await conn.scalar(query)) is not None

    # -- registry documents and templates ---------------------------------------------------

    async def document(self, name: str) -> str | None:
        async with self.engine.connect() as conn:
            return await conn.scalar(select(registry_documents.c.body).where(registry_documents.c.name == name))

    async def put_document(self, name: str, body: str | None) -> None:
        async with self._write() as conn:
            await conn.execute(delete(registry_documents).where(registry_documents.c.name == name))
            if body is not None:
                await conn.execute(registry_documents.insert().values(name=name, body=body, updated_at=self._clock()))

    async def templates(self) -> list[CreationTemplate]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(creation_templates).order_by(creation_templates.c.prefix))).all()
        return [_template(r.prefix, r.body, r.created_at, r.updated_at) for r in rows]

    async def put_template(self, template: CreationTemplate, create: bool) -> CreationTemplate | None:
        """Create (None if it exists) or update (None if it does not) a template."""
        now, body = self._clock(), _template_body(template)
        async with self._write() as conn:
            existing = (
                await conn.execute(select(creation_templates).where(creation_templates.c.prefix == template.prefix))
            ).first()
            if (existing is None) != create:
                return None
            if create:
                await conn.execute(
                    creation_templates.insert().values(
                        prefix=template.prefix, body=body, created_at=now, updated_at=now
                    )
                )
                created = now
            else:
                await conn.execute(
                    update(creation_templates)
                    .where(creation_templates.c.prefix == template.prefix)
                    .values(body=body, updated_at=now)
                )
                created = existing.created_at
        return dataclasses.replace(template, created_at=created, updated_at=now)

    async def delete_template(self, prefix: str) -> CreationTemplate | None:
        async with self._write() as conn:
            row = (await conn.execute(select(creation_templates).where(creation_templates.c.prefix == prefix))).first()
            if row is None:
                return None
            await conn.execute(delete(creation_templates).where(creation_templates.c.prefix == prefix))
        return _template(row.prefix, row.body, row.created_at, row.updated_at)


def _template_body(template: CreationTemplate) -> str:
    """A template's settings by field name (the prefix and the times are columns)."""
    stored = dataclasses.asdict(template)
    for column in ("prefix", "created_at", "updated_at"):
        del stored[column]
    return json.dumps({k: v for k, v in stored.items() if v not in (None, [], ())})


def _template(prefix: str, body: str, created_at: float, updated_at: float) -> CreationTemplate:
    stored = json.loads(body)
    stored["applied_for"] = tuple(stored.get("applied_for", ()))
    return CreationTemplate(prefix=prefix, created_at=created_at, updated_at=updated_at, **stored)
