"""Filesystem blob store: blobs/<alg>/<2 hex>/<hex>, uploads/<id>.

A blob appears only through fsync + rename of a complete, verified upload, so a crash can
never leave a file under a digest it does not match.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import os
import shutil
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path

from .port import BlobArchived, StoredBlob, UploadConflict

READ_CHUNK = 1 << 20
_UNLINKERS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="kikoto-unlink")
SMALL_WRITE = 1 << 16
FLUSH_EVERY = 64 << 20


class FilesystemBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.blobs = self.root / "blobs"
        self.archive = self.root / "archive"  # the archive tier: another directory (or mount) of the same layout
        self.uploads = self.root / "uploads"
        for directory in (self.blobs, self.archive, self.uploads):
            directory.mkdir(parents=True, exist_ok=True)

    def blob_path(self, digest: str, tier: str = "standard") -> Path:
        algorithm, encoded = digest.split(":", 1)
        return (self.archive if tier == "archive" else self.blobs) / algorithm / encoded[:2] / encoded

    def _upload_path(self, upload_id: str) -> Path:
        return self.uploads / upload_id

    async def start_upload(self, upload_id: str) -> None:
        """Nothing to do: the file appears with the first bytes (an empty upload has none)."""

    async def upload_size(self, upload_id: str) -> int:
        try:
            return self._upload_path(upload_id).stat().st_size
        except FileNotFoundError:
            return -1

    @asynccontextmanager
    async def open_upload(self, upload_id: str, offset: int, stored: int | None = None, final: bool = False):
        # Opening and closing are quick metadata syscalls: inline, no thread hand-off.
        file = os.fdopen(os.open(self._upload_path(upload_id), os.O_RDWR | os.O_CREAT, 0o600), "r+b")
        try:
            try:
                fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise UploadConflict(upload_id) from None
            file.truncate(offset)
            file.seek(offset)
            yield _FileWriter(file)
        finally:
            file.close()

    async def read_upload(self, upload_id: str):
        path = self._upload_path(upload_id)
        if not path.exists():
            return
        with open(path, "rb") as file:
            while chunk := await asyncio.to_thread(file.read, READ_CHUNK):
                yield chunk

    async def commit_upload(self, upload_id: str, digest: str) -> bool:
        """Durably move a verified upload into place; False (upload kept) when the blob exists."""
        if self.blob_path(digest).exists():  # deduplicated: the same content is already stored
            return False
        await asyncio.to_thread(self._durable_rename, self._upload_path(upload_id), self.blob_path(digest))
        return True

    async def settle_upload(self, upload_id: str, digest: str) -> None:
        """After a deduplicated commit: drop the upload, or put it in place if the stored copy went."""
        source, target = self._upload_path(upload_id), self.blob_path(digest)
        if target.exists():
            source.unlink(missing_ok=True)
        elif source.exists():
            await asyncio.to_thread(self._durable_rename, source, target)

    @staticmethod
    def _durable_rename(source: Path, target: Path) -> None:
        with open(source, "rb") as file:
            os.fsync(file.fileno())
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
        path = self.blob_path(digest)
        if not path.exists() and self.blob_path(digest, "archive").exists():
            raise BlobArchived(digest)
        return path

    async def remove(self, blobs: Sequence[tuple[str, str]]) -> None:
        """No await inside: garbage collection calls it within a write transaction, where
        nothing may suspend on SQLite (storage/meta/inline.py). A batch is unlinked by several
        threads while this one waits: an unlink waits on the disk, not the CPU, and this disk
        unlinked twice as many files a second with four threads as with one (bench/gc.py)."""
        paths = [self.blob_path(digest, tier) for digest, tier in blobs]
        if len(paths) < 16:
            for path in paths:
                _unlink(path)
        else:
            for _ in _UNLINKERS.map(_unlink, paths, chunksize=16):
                pass

    def free_space(self) -> int:
        return shutil.disk_usage(self.uploads).free

    async def stat(self, digest: str, tier: str = "standard") -> int | None:
        try:
            return self.blob_path(digest, tier).stat().st_size
        except FileNotFoundError:
            return None

    async def read(self, digest: str, tier: str = "standard"):
        with open(self.blob_path(digest, tier), "rb") as file:
            while chunk := await asyncio.to_thread(file.read, READ_CHUNK):
                yield chunk

    def stream(self, digest: str):
        return self.read(digest)

    async def inventory(self):
        for tier, root in (("standard", self.blobs), ("archive", self.archive)):
            for algorithm in sorted(p for p in root.iterdir() if p.is_dir()):
                for prefix in sorted(p for p in algorithm.iterdir() if p.is_dir()):
                    entries = await asyncio.to_thread(_entries, prefix)
                    for entry in entries:
                        if entry.is_file() and not entry.name.endswith(".partial"):
                            info = entry.stat()
                            yield StoredBlob(f"{algorithm.name}:{entry.name}", tier, info.st_size, info.st_mtime)

    async def probe(self) -> None:
        probe = self.blobs / ".readyz"
        probe.write_bytes(b"ok")
        probe.unlink()

    async def move(self, digest: str, to_tier: str) -> None:
        source = self.blob_path(digest, "standard" if to_tier == "archive" else "archive")
        target = self.blob_path(digest, to_tier)
        if source.exists():
            await asyncio.to_thread(self._place, source, target)

    @staticmethod
    def _place(source: Path, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(source, target)
        except OSError as exc:  # the archive is another filesystem: copy, make durable, then remove
            if exc.errno != errno.EXDEV:
                raise
            partial = target.with_name(target.name + ".partial")
            shutil.copyfile(source, partial)
            with open(partial, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(partial, target)
            source.unlink()


class _FileWriter:
    """Appends to an upload file. Large uploads are flushed to disk as they arrive (every
    FLUSH_EVERY bytes, in the writer thread, while the next bytes are read), so the fsync
    that makes the finished blob durable has little left to do."""

    def __init__(self, file) -> None:
        self._file = file
        self._unflushed = 0

    async def write(self, data: bytes) -> None:
        if len(data) < SMALL_WRITE:  # into the page cache: cheaper than a thread hand-off
            self._file.write(data)
        else:
            await asyncio.to_thread(self._write_and_flush, data)

    def _write_and_flush(self, data: bytes) -> None:
        self._file.write(data)
        self._unflushed += len(data)
        if self._unflushed >= FLUSH_EVERY:
            self._file.flush()
            os.fdatasync(self._file.fileno())
            self._unflushed = 0


def _entries(directory: Path) -> list[os.DirEntry[str]]:
    """A directory's entries by name (read in a worker thread: a prefix can hold many)."""
    return sorted(os.scandir(directory), key=lambda e: e.name)


def _unlink(path: Path) -> None:
    path.unlink(missing_ok=True)
