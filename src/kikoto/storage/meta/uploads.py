"""Upload sessions: a repository's blob being written, and how far (the bytes are in the blob store)."""

from __future__ import annotations

from sqlalchemy import delete, text, update

from .base import SqlStore
from .ports import Upload
from .schema import uploads

SQL_CREATE_UPLOAD = text(
    'INSERT INTO uploads (id, repo_id, "offset", algorithm, started_at, updated_at) '
    "VALUES (:id, :repo_id, 0, :algorithm, :now, :now)"
)
SQL_GET_UPLOAD = text(
    'SELECT u.id, u.repo_id, u."offset", u.algorithm FROM uploads u '
    "JOIN repositories r ON r.id = u.repo_id WHERE u.id = :id AND r.name = :repository"
)


class SqlUploadStore(SqlStore):
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
