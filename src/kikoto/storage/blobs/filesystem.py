"""Filesystem blob store: blobs/<alg>/<2 hex>/<hex>, uploads/<id>.

A blob appears only through fsync + rename of a complete, verified upload, so a crash can
never leave a file under a digest it does not match.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
from contextlib import asynccontextmanager
from pathlib import Path

from .port import UploadConflict

READ_CHUNK = 1 << 20
SMALL_WRITE = 1 << 16


class FilesystemBlobStore:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.blobs = self.root / "blobs"
        self.uploads = self.root / "uploads"
        self.blobs.mkdir(parents=True, exist_ok=True)
        self.uploads.mkdir(parents=True, exist_ok=True)

    def blob_path(self, digest: str) -> Path:
        algorithm, encoded = digest.split(":", 1)
        return self.blobs / algorithm / encoded[:2] / encoded

    def _upload_path(self, upload_id: str) -> Path:
        return self.uploads / upload_id

    async def start_upload(self, upload_id: str) -> None:
        self._upload_path(upload_id).touch(exist_ok=False)

    async def upload_size(self, upload_id: str) -> int:
        try:
            return self._upload_path(upload_id).stat().st_size
        except FileNotFoundError:
            return -1

    @asynccontextmanager
    async def open_upload(self, upload_id: str, offset: int):
        path = self._upload_path(upload_id)
        file = await asyncio.to_thread(open, path, "r+b")
        try:
            try:
                fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise UploadConflict(upload_id) from None
            file.truncate(offset)
            file.seek(offset)
            yield _FileWriter(file)
        finally:
            await asyncio.to_thread(file.close)

    async def read_upload(self, upload_id: str):
        with open(self._upload_path(upload_id), "rb") as file:
            while chunk := await asyncio.to_thread(file.read, READ_CHUNK):
                yield chunk

    async def commit_upload(self, upload_id: str, digest: str) -> None:
        await asyncio.to_thread(self._commit, self._upload_path(upload_id), self.blob_path(digest))

    @staticmethod
    def _commit(source: Path, target: Path) -> None:
        with open(source, "rb") as file:
            os.fsync(file.fileno())
        if target.exists():  # deduplicated: the same content is already stored
            source.unlink(missing_ok=True)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)
        directory = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    async def abort_upload(self, upload_id: str) -> None:
        self._upload_path(upload_id).unlink(missing_ok=True)

    async def exists(self, digest: str) -> bool:
        return self.blob_path(digest).is_file()

    async def location(self, digest: str) -> Path:
        return self.blob_path(digest)

    async def delete(self, digest: str) -> None:
        self.blob_path(digest).unlink(missing_ok=True)


class _FileWriter:
    def __init__(self, file):
        self._file = file

    async def write(self, data: bytes) -> None:
        if len(data) < SMALL_WRITE:  # into the page cache: cheaper than a thread hand-off
            self._file.write(data)
        else:
            await asyncio.to_thread(self._file.write, data)
