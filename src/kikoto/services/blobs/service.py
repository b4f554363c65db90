"""Blob use cases: read, delete, mount, and resumable uploads (monolithic, streamed, chunked)."""

from __future__ import annotations

import errno
import logging
import re
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from ...domain.digests import Digest, check_algorithm, new_hasher, parse_digest
from ...domain.errors import (
    BlobNotFound,
    DigestInvalid,
    ImageArchived,
    SizeInvalid,
    UploadBusy,
    UploadInvalid,
    UploadNotFound,
    UploadOutOfOrder,
    storage_full,
)
from ...storage.blobs.port import BlobArchived, BlobStore, UploadConflict
from ...storage.changes import ByteCache, VersionedCache
from ...storage.meta.ports import BlobIndexStore, Upload, UploadStore
from ..repositories.lookup import Repositories
from .streams import hashing_sink, pump

log = logging.getLogger("kikoto.blobs")
CONTENT_RANGE = re.compile(r"(?:bytes[ =])?(\d+)-(\d+)(?:/(?:\d+|\*))?")
HASH_STATES = 1024  # in-flight uploads whose hash state we keep between requests
SMALL_BLOB = 64 * 1024  # blobs up to this size are served from memory
SMALL_CACHE_BYTES = 32 << 20


@dataclass(frozen=True)
class UploadState:
    id: str
    repository: str
    offset: int


@dataclass(frozen=True)
class BlobLocation:
    digest: str
    size: int
    target: Path | str | None  # a path to sendfile, a URL to redirect to, or None: stream it
    stream: AsyncIterator[bytes] | None = None  # with target None: these bytes (else the store's)


class Blobs:
    def __init__(
        self,
        index: BlobIndexStore,
        uploads: UploadStore,
        store: BlobStore,
        repositories: Repositories,
        cache: VersionedCache | None = None,
        min_free_space: int = 0,
    ) -> None:
        self.index, self.uploads = index, uploads
        self.min_free_space = min_free_space
        self.store = store
        self.repositories = repositories
        self._sizes = cache or VersionedCache(None, 0)  # (repository, digest) -> size, until something changes
        self._small = ByteCache(SMALL_CACHE_BYTES)  # bytes of small blobs by digest: immutable content
        # (repository, digest) -> True once its small standard-tier bytes were served, until any
        # change (an archive, a delete): the next GET needs no query, no stat and no path
        self._servable = VersionedCache(self._sizes.changes, self._sizes.max_age)
        # upload id -> (offset, hasher): lets a chunked upload hash each byte once. Lost on
        # restart or when a chunk lands on another process; then the stored prefix is re-hashed.
        self._hashers: OrderedDict[str, tuple[int, object]] = OrderedDict()

    # -- reading --------------------------------------------------------------------------

    async def stat(self, repository: str, digest: str) -> int:
        size, token = self._sizes.get((repository, digest))
        if size is None:
            parse_digest(digest)
            size = await self.index.repo_blob_size(repository, digest)
            if size is not None:
                self._sizes.put((repository, digest), size, token)
        if size is None:
            raise BlobNotFound(digest)
        return size

    async def locate(self, repository: str, digest: str) -> BlobLocation:
        size = await self.stat(repository, digest)
        try:
            return BlobLocation(digest, size, await self.store.location(digest))
        except BlobArchived:
            raise ImageArchived(
                f"blob {digest} belongs to an archived image; restore the image first "
                f"(aws ecr update-image-storage-class --target-storage-class STANDARD)"
            ) from None

    def served(self, repository: str, digest: str) -> tuple[bytes | None, int | None]:
        """(the bytes of a small blob served before, if nothing changed since; a token for
        `remember`)."""
        known, token = self._servable.get((repository, digest))
        return (self._small.get(digest) if known else None), token

    def remember(self, repository: str, digest: str, token: int | None) -> None:
        self._servable.put((repository, digest), True, token)

    def small_content(self, location: BlobLocation) -> bytes | None:
        """The bytes of a small blob, from memory after the first read: answering a 4 KiB GET
        from memory beats the stat, open and sendfile set-up of a file response."""
        if location.size > SMALL_BLOB or not isinstance(location.target, Path):
            return None
        content = self._small.get(location.digest)
        if content is None:
            try:
                content = location.target.read_bytes()
            except FileNotFoundError:
                return None
            if len(content) != location.size:
                return None
            self._small.put(location.digest, content)
        return content

    def stream(self, digest: str):
        """The bytes of a blob the store cannot hand out itself (proxied S3 downloads)."""
        return self.store.stream(digest)

    async def delete(self, repository: str, digest: str) -> None:
        """Unlink the blob from this repository; its bytes go when nothing references them (GC)."""
        parse_digest(digest)
        repo = await self.repositories.get(repository)
        if not await self.index.unlink_blob(repo.id, digest):
            raise BlobNotFound(digest)

    # -- mounting -------------------------------------------------------------------------

    async def mount(
        self, repository: str, digest: str, source: str | None, readable: Callable[[str], Awaitable[bool]]
    ) -> bool:
        """Link an existing blob into `repository` from `source` (or, without one, from any
        repository the caller may read). False means: fall back to a normal upload."""
        parse_digest(digest)
        if source is not None:
            candidates = (
                [source]
                if await self.index.repo_blob_size(source, digest) is not None and await readable(source)
                else []
            )
        else:
            candidates = [name for name in await self.index.repositories_with_blob(digest) if await readable(name)]
        if not candidates:
            return False
        repo = await self.repositories.for_push(repository)
        return await self.index.link_blob(repo.id, digest)

    # -- uploads --------------------------------------------------------------------------

    async def start_upload(self, repository: str, algorithm: str = "sha256", cache: bool = False) -> UploadState:
        """A new upload; `cache`: written by the pull-through cache, not pushed by a client."""
        check_algorithm(algorithm)
        repo = await (self.repositories.get(repository) if cache else self.repositories.for_push(repository))
        free = self.store.free_space()
        if free is not None and free < self.min_free_space:  # refuse early, not half-way through a layer
            raise storage_full(f"{free} bytes free, below the min_free_space floor of {self.min_free_space}")
        upload_id = str(uuid.uuid4())
        await self.store.start_upload(upload_id)
        await self.uploads.create_upload(upload_id, repo.id, algorithm)
        return UploadState(upload_id, repository, 0)

    async def _upload(self, repository: str, upload_id: str) -> Upload:
        upload = None
        try:
            uuid.UUID(upload_id)
        except ValueError:
            pass
        else:
            upload = await self.uploads.get_upload(upload_id, repository)
        if upload is None:
            raise UploadNotFound(detail={"upload": upload_id})
        return upload

    async def status(self, repository: str, upload_id: str) -> UploadState:
        upload = await self._upload(repository, upload_id)
        return UploadState(upload_id, repository, await self._durable_offset(upload))

    async def _durable_offset(self, upload: Upload) -> int:
        # The database records an offset only after its bytes were written; the file can be
        # longer (a request died after writing) but is never shorter unless the disk lost data.
        stored = await self.store.upload_size(upload.id)
        return max(0, min(upload.offset, stored))

    async def append(
        self,
        repository: str,
        upload_id: str,
        body: AsyncIterator[bytes],
        content_range: str | None,
        content_length: int | None,
    ) -> UploadState:
        """PATCH: append a chunk (Content-Range given) or a stream (no Content-Range)."""
        upload = await self._upload(repository, upload_id)
        offset = await self._durable_offset(upload)
        expected = self._check_range(content_range, content_length, offset, repository, upload_id)
        new_offset = await self._write(upload, offset, body, expected)
        return UploadState(upload_id, repository, new_offset)

    async def finish(
        self,
        repository: str,
        upload_id: str,
        digest: str,
        body: AsyncIterator[bytes],
        content_range: str | None,
        content_length: int | None,
        fresh: bool = False,
    ) -> str:
        """PUT: append the final chunk if any, verify the digest, commit the blob. `fresh`: the
        upload was started by this request, so nothing of it is stored yet."""
        wanted = _digest_param(digest)
        upload = await self._upload(repository, upload_id)
        stored = -1 if fresh else await self.store.upload_size(upload.id)
        if 0 < upload.offset and stored < upload.offset:  # bytes acknowledged are gone: see _lost
            raise await self._lost(upload)
        offset = max(0, min(upload.offset, stored))  # as _durable_offset, from the size read above
        expected = self._check_range(content_range, content_length, offset, repository, upload_id)
        size = await self._write(upload, offset, body, expected, stored=stored)  # add_blob closes the upload
        actual = await self._final_digest(upload, size, wanted.algorithm)
        if str(actual) != str(wanted):
            await self._discard(upload)
            raise DigestInvalid(
                f"digest {wanted} does not match the uploaded content ({actual})",
                detail={"expected": str(wanted), "actual": str(actual)},
            )
        # Bytes first, then the row: a blob row never exists before its file. When the content was
        # already stored, the upload is kept until the row is written, in case garbage
        # collection removed the old copy meanwhile (it never touches a freshly linked blob).
        await self.index.claim_trashed(str(actual))
        placed = await self.store.commit_upload(upload.id, str(actual))
        if not await self.index.add_blob(upload.repo_id, str(actual), size, finished_upload=(upload.id, offset)):
            raise UploadBusy("the upload was changed by another request")
        if not placed:
            await self.store.settle_upload(upload.id, str(actual))
        return str(actual)

    async def _lost(self, upload: Upload) -> UploadNotFound:
        """The upload's row says bytes were written that its store no longer has: a request that
        finished it placed them as a blob and was cut off before recording it (a replica killed in
        between), or the disk lost them. Its digest was never checked against what this request
        names, so the session ends here and the client starts the blob again (which then finds the
        placed bytes and links them)."""
        await self._discard(upload)
        return UploadNotFound(
            "the upload's bytes are no longer stored (the request that finished it was cut off); "
            "start the blob upload again"
        )

    async def upload_whole(
        self, repository: str, digest: str, body: AsyncIterator[bytes], length: int | None, cache: bool = False
    ) -> str:
        """POST ?digest=: a monolithic upload in one request (`cache`: written by the registry
        itself, as start_upload says)."""
        wanted = _digest_param(digest)
        state = await self.start_upload(repository, wanted.algorithm, cache)
        return await self.finish(repository, state.id, digest, body, None, length, fresh=True)

    async def cancel(self, repository: str, upload_id: str) -> None:
        await self._discard(await self._upload(repository, upload_id))

    async def _discard(self, upload: Upload) -> None:
        self._hashers.pop(upload.id, None)
        await self.uploads.delete_upload(upload.id)
        await self.store.abort_upload(upload.id)

    def _check_range(self, content_range, content_length, offset, repository, upload_id) -> int | None:
        """Validate Content-Range/Content-Length; returns the byte count the body must have."""
        if content_range is None:
            return content_length
        match = CONTENT_RANGE.fullmatch(content_range.strip())
        if not match:
            raise UploadInvalid(f"malformed Content-Range {content_range!r}")
        start, end = int(match.group(1)), int(match.group(2))
        if end < start:
            raise UploadOutOfOrder(f"malformed Content-Range {content_range!r}", repository, upload_id, offset)
        if start != offset:
            raise UploadOutOfOrder(
                f"chunk starts at {start} but the upload has {offset} bytes", repository, upload_id, offset
            )
        length = end - start + 1
        if content_length is not None and content_length != length:
            raise SizeInvalid(f"Content-Length {content_length} does not match Content-Range {content_range}")
        return length

    async def _write(
        self,
        upload: Upload,
        offset: int,
        body: AsyncIterator[bytes],
        expected: int | None,
        stored: int | None = None,
    ) -> int:
        """Append the body at `offset`. `stored` (the stored size just read) is given only when
        this request finishes the upload: the offset is then not recorded (add_blob closes it)."""
        record = stored is None
        hasher = await self._hasher_at(upload, offset)
        try:
            async with self.store.open_upload(upload.id, offset, stored, final=not record) as writer:
                written = await pump(body, hashing_sink(hasher, writer))
        except UploadConflict:
            raise UploadBusy("another request is writing to this upload") from None
        except OSError as exc:
            self._hashers.pop(upload.id, None)
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):  # the upload keeps its acknowledged bytes only
                log.error("out of storage space writing upload %s: %s", upload.id, exc)
                raise storage_full() from None
            raise
        except BaseException:
            self._hashers.pop(upload.id, None)  # the hash state now covers bytes that will be discarded
            raise
        if expected is not None and written != expected:
            self._hashers.pop(upload.id, None)
            raise SizeInvalid(f"expected {expected} bytes, received {written}")
        new_offset = offset + written
        if record and written and not await self.uploads.advance_upload(upload.id, offset, new_offset):
            self._hashers.pop(upload.id, None)
            raise UploadBusy("the upload was changed by another request")
        self._remember(upload.id, new_offset, hasher)
        return new_offset

    async def _hasher_at(self, upload: Upload, offset: int):
        cached = self._hashers.pop(upload.id, None)
        if cached and cached[0] == offset:
            return cached[1]
        hasher = new_hasher(upload.algorithm)
        if offset:
            await self._rehash(upload.id, hasher, offset)
        return hasher

    async def _rehash(self, upload_id: str, hasher, limit: int) -> None:
        seen = 0
        async for chunk in self.store.read_upload(upload_id):
            chunk = chunk[: limit - seen]
            hasher.update(chunk)
            seen += len(chunk)
            if seen >= limit:
                break

    def _remember(self, upload_id: str, offset: int, hasher) -> None:
        self._hashers[upload_id] = (offset, hasher)
        while len(self._hashers) > HASH_STATES:
            self._hashers.popitem(last=False)

    async def _final_digest(self, upload: Upload, size: int, algorithm: str) -> Digest:
        if algorithm == upload.algorithm:
            hasher = await self._hasher_at(upload, size)
        else:  # the client announced one algorithm and finished with another: hash again
            hasher = new_hasher(algorithm)
            await self._rehash(upload.id, hasher, size)
        self._hashers.pop(upload.id, None)
        return Digest(algorithm, hasher.hexdigest())


def _digest_param(digest: str | None) -> Digest:
    if not digest:
        raise DigestInvalid("the digest query parameter is required to finish an upload")
    return parse_digest(digest)
