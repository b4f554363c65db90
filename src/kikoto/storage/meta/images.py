"""Image records: a repository's manifests with their tags and details, paged by digest for the
listings (ListImages, DescribeImages) and whole for lifecycle evaluation."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, literal, select, text, tuple_
from sqlalchemy.orm import aliased

from .base import SqlStore
from .ports import ImageRecord
from .schema import manifest_refs, manifests, tags

# ListImages' page as one statement: the page of digests by the primary key, then their tags.
_IMAGE_IDS = (
    "SELECT m.digest, t.name FROM (SELECT digest FROM manifests WHERE repo_id = :repo_id AND digest {op} :after "
    "ORDER BY digest LIMIT :limit) AS m LEFT JOIN tags AS t ON t.repo_id = :repo_id AND t.digest = m.digest "
    "ORDER BY m.digest, t.name"
)
SQL_IMAGE_IDS = text(_IMAGE_IDS.format(op=">"))
SQL_IMAGE_IDS_FROM = text(_IMAGE_IDS.format(op=">="))


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


class SqlImageStore(SqlStore):
    async def image_count(self, repo_id: int) -> int:
        async with self._read() as conn:
            return len(
                (await conn.scalars(select(manifests.c.digest).where(manifests.c.repo_id == repo_id).limit(1))).all()
            )

    # -- images -----------------------------------------------------------------------------

    def _image_columns(self) -> Select[Any]:
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
        async with self._read() as conn:
            return await self._with_tags(conn, repo_id, (await conn.execute(query)).all())

    async def browse(
        self, repo_id: int, order: str, descending: bool, after: tuple[float, str] | None, limit: int
    ) -> list[ImageRecord]:
        column = manifests.c.image_size if order == "size" else manifests.c.pushed_at
        child = select(manifest_refs.c.child_digest).where(
            manifest_refs.c.repo_id == repo_id,
            manifest_refs.c.child_digest == manifests.c.digest,
            manifest_refs.c.child_kind == "manifest",
        )
        subject = aliased(manifests)
        held_subject = select(subject.c.digest).where(
            subject.c.repo_id == repo_id, subject.c.digest == manifests.c.subject_digest
        )
        query = self._image_columns().where(
            manifests.c.repo_id == repo_id,
            ~child.exists(),
            manifests.c.subject_digest.is_(None) | ~held_subject.exists(),
        )
        if after is not None:
            key, position = tuple_(column, manifests.c.digest), tuple_(literal(after[0]), literal(after[1]))
            query = query.where(key < position if descending else key > position)
        ordered = (column.desc(), manifests.c.digest.desc()) if descending else (column, manifests.c.digest)
        async with self._read() as conn:
            rows = (await conn.execute(query.order_by(*ordered).limit(limit))).all()
            return await self._with_tags(conn, repo_id, rows)

    async def referrers_of(self, repo_id: int, subjects: list[str]) -> list[ImageRecord]:
        if not subjects:
            return []
        query = self._image_columns().where(manifests.c.repo_id == repo_id, manifests.c.subject_digest.in_(subjects))
        async with self._read() as conn:  # sorted here: an ORDER BY digest steers the planner to the primary key
            rows = sorted((await conn.execute(query)).all(), key=lambda r: r.digest)
            return await self._with_tags(conn, repo_id, rows)

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
        async with self._read() as conn:
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
        async with self._read() as conn:
            return await self._with_tags(conn, repo_id, (await conn.execute(query)).all())

    async def images(self, repo_id: int) -> list[ImageRecord]:
        """Every image (manifest) of a repository with its tags, oldest push first (lifecycle
        evaluation needs them all; listings page with `images_page`)."""
        query = (
            self._image_columns()
            .where(manifests.c.repo_id == repo_id)
            .order_by(manifests.c.pushed_at, manifests.c.digest)
        )
        tag_query = select(tags.c.name, tags.c.digest).where(tags.c.repo_id == repo_id).order_by(tags.c.name)
        async with self._read() as conn:
            rows = (await conn.execute(query)).all()
            return _image_records(rows, (await conn.execute(tag_query)).all())

    async def parents(self, repo_id: int, digest: str) -> list[str]:
        """Indexes in the repository that list `digest` as a child."""
        query = select(manifest_refs.c.parent_digest).where(
            manifest_refs.c.repo_id == repo_id,
            manifest_refs.c.child_digest == digest,
            manifest_refs.c.child_kind == "manifest",
        )
        async with self._read() as conn:
            return list((await conn.scalars(query)).all())

    async def blob_is_referenced(self, repo_id: int, digest: str) -> bool:
        query = (
            select(manifest_refs.c.parent_digest)
            .where(manifest_refs.c.repo_id == repo_id, manifest_refs.c.child_digest == digest)
            .limit(1)
        )
        async with self._read() as conn:
            return (await conn.scalar(query)) is not None
