"""S3-compatible blob store (AWS S3, SeaweedFS, MinIO, Ceph RGW, Garage), through obstore.

Layout under the configured prefix: `blobs/<alg>/<hex>` (standard tier), `archive/<alg>/<hex>`
(archive tier), and `uploads/<id>/<offset>` — one object per request that wrote to an upload,
so any replica can continue an upload, list its size, and re-read its bytes to re-hash them.
Finishing an upload copies its single part server-side, or streams several parts into one
object (multipart, so no 5 GB limit). Downloads are presigned URLs: the registry answers 307.
"""

from __future__ import annotations

import datetime
import functools
import inspect
from collections.abc import Callable, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeVar

import obstore
from obstore.exceptions import GenericError
from obstore.store import S3Store

from ...domain.errors import StoreUnavailable
from .port import StoredBlob

if TYPE_CHECKING:  # typed dicts of the stubs only
    from obstore.store import ClientConfig, RetryConfig, S3Config

F = TypeVar("F", bound=Callable[..., Any])
# A request to the store is retried (5xx such as SlowDown, dropped connections) for at most this
# long, then the client is told to come back: obstore's default of 3 minutes outlasts any
# client's patience, and a registry request waits on it.
RETRY: RetryConfig = {
    "max_retries": 4,
    "retry_timeout": datetime.timedelta(seconds=10),
    "backoff": {"init_backoff": datetime.timedelta(milliseconds=100), "max_backoff": datetime.timedelta(seconds=2)},
}
UNAVAILABLE = "the registry's object store is unavailable; nothing was stored, try again"


def _typed(method: F) -> F:
    """The store's transient failures (unreachable, 5xx after the retries) as StoreUnavailable;
    a missing object stays FileNotFoundError, as the port says."""
    if inspect.isasyncgenfunction(method):

        @functools.wraps(method)
        async def stream(*args: Any, **kwargs: Any) -> Any:
            try:
                async for item in method(*args, **kwargs):
                    yield item
            except GenericError as exc:
                raise StoreUnavailable(UNAVAILABLE) from exc

        return stream  # type: ignore[return-value]

    @functools.wraps(method)
    async def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return await method(*args, **kwargs)
        except GenericError as exc:
            raise StoreUnavailable(UNAVAILABLE) from exc

    return call  # type: ignore[return-value]


SINGLE_COPY_LIMIT = 5 * 1024**3  # S3 CopyObject's ceiling; larger parts are streamed
# Multipart writes hold at most PART_BYTES * PARTS_IN_FLIGHT in memory (obstore's defaults,
# 10 MiB x 12, grew a worker by 138 MiB for one 256 MiB layer).
PART_BYTES = 8 * 1024 * 1024
PARTS_IN_FLIGHT = 2
PRESIGN_TTL = datetime.timedelta(hours=1)
# A whole blob sent in the request that finishes its upload, up to this size, is held in memory
# until it is committed: then it goes to its place in one PUT, instead of a part that is put,
# listed, copied and deleted (7 requests to the store per small push became 3: the store's work,
# on the machine it runs on, was half of a replicated push's cost, docs/benchmarks.md).
HELD_BYTES = 1 << 20
# What all requests of a worker may hold at once: a thousand clients each sending a 1 MiB blob
# would otherwise hold a GiB; past this, bodies go to parts as they did before.
HELD_TOTAL = 64 << 20
_holding = 0  # bytes held now by this worker's requests, written or done (one loop: no lock)
# (upload id, bytes) held by this request: a context variable, so no other request can see them
_HELD: ContextVar[tuple[str, bytes] | None] = ContextVar("kikoto_s3_held", default=None)


def _count(change: int) -> None:
    global _holding
    _holding += change


def _let_go() -> None:
    """What this request held is no longer needed (placed, aborted, or a new upload begins)."""
    held = _HELD.get()
    if held is not None:
        _count(-len(held[1]))
        _HELD.set(None)


def _held(upload_id: str, forget: bool = False) -> bytes | None:
    held = _HELD.get()
    if held is None or held[0] != upload_id:
        return None
    if forget:
        _let_go()
    return held[1]


class S3BlobStore:
    def __init__(self, url: str, endpoint_url: str | None = None, proxy_downloads: bool = False) -> None:
        self.proxy_downloads = proxy_downloads
        client: ClientConfig = {"connect_timeout": datetime.timedelta(seconds=2)}
        if endpoint_url and endpoint_url.startswith("http://"):
            client["allow_http"] = True
        # Credentials come from the standard AWS environment variables (or the instance role).
        config: S3Config = {"endpoint": endpoint_url} if endpoint_url else {}
        self.store = S3Store.from_url(url, config=config, client_options=client, retry_config=RETRY)

    @staticmethod
    def _blob(digest: str, tier: str = "standard") -> str:
        algorithm, encoded = digest.split(":", 1)
        return f"{'archive' if tier == 'archive' else 'blobs'}/{algorithm}/{encoded}"

    @_typed
    async def _parts(self, upload_id: str) -> list[tuple[int, str, int]]:
        listed = await obstore.list(self.store, prefix=f"uploads/{upload_id}/").collect_async()
        parts = [(int(m["path"].rsplit("/", 1)[1]), m["path"], m["size"]) for m in listed]
        return sorted(parts)

    async def start_upload(self, upload_id: str) -> None:
        """Nothing to do: parts appear with the bytes."""

    @_typed
    async def upload_size(self, upload_id: str) -> int:
        parts = await self._parts(upload_id)
        return sum(size for _, _, size in parts) if parts else -1

    @asynccontextmanager
    async def open_upload(self, upload_id: str, offset: int, stored: int | None = None, final: bool = False):
        _let_go()  # whatever an earlier request on this connection held is not this one's
        if stored != (-1 if offset == 0 else offset):  # unknown, or parts past the offset to drop
            await self._truncate(upload_id, offset)
        path = f"uploads/{upload_id}/{offset:016d}"
        writer = _HeldWriter(self.store, path) if final and offset == 0 else _PartWriter(self.store, path)
        try:
            yield writer
        except BaseException:
            if isinstance(writer, _HeldWriter):
                writer.drop()  # never acknowledged: nothing to keep
            raise
        finally:
            await writer.close()
        if isinstance(writer, _HeldWriter) and writer.held is not None:
            _HELD.set((upload_id, bytes(writer.held)))  # counted while it was written

    @_typed
    async def _truncate(self, upload_id: str, offset: int) -> None:
        for start, path, size in await self._parts(upload_id):
            if start >= offset:
                await obstore.delete_async(self.store, path)  # written past the acknowledged offset
            elif start + size > offset:
                head = await obstore.get_range_async(self.store, path, start=0, end=offset - start)
                await obstore.put_async(self.store, path, bytes(head))

    @_typed
    async def read_upload(self, upload_id: str):
        held = _held(upload_id)
        if held is not None:
            yield held
            return
        for _, path, _ in await self._parts(upload_id):
            async for chunk in await obstore.get_async(self.store, path):
                yield bytes(chunk)

    async def _assemble(self, upload_id: str, target: str) -> None:
        """Make the upload's parts one object at `target`, then drop the parts (listed once)."""
        parts = await self._parts(upload_id)
        if len(parts) == 1:
            await self._copy(parts[0][1], target, parts[0][2])
        else:
            writer = _writer(self.store, target)
            for _, path, _ in parts:
                async for chunk in await obstore.get_async(self.store, path):
                    await writer.write(bytes(chunk))
            await writer.close()
        await self._delete_parts(parts)

    async def _delete_parts(self, parts) -> None:
        for _, path, _ in parts:
            await obstore.delete_async(self.store, path)

    @_typed
    async def commit_upload(self, upload_id: str, digest: str) -> bool:
        if await self.exists(digest):
            return False
        await self._place(upload_id, digest)
        return True

    async def _place(self, upload_id: str, digest: str) -> None:
        held = _held(upload_id, forget=True)
        if held is not None:  # verified already: one PUT, atomic in S3, no parts were written
            await obstore.put_async(self.store, self._blob(digest), held)
        else:
            await self._assemble(upload_id, self._blob(digest))

    @_typed
    async def settle_upload(self, upload_id: str, digest: str) -> None:
        if await self.exists(digest):
            await self.abort_upload(upload_id)
        else:
            await self._place(upload_id, digest)

    @_typed
    async def abort_upload(self, upload_id: str) -> None:
        if _held(upload_id, forget=True) is not None:
            return  # its bytes were only in memory: no part was written
        await self._delete_parts(await self._parts(upload_id))

    async def _present(self, path: str) -> bool:
        try:
            await obstore.head_async(self.store, path)
            return True
        except FileNotFoundError:
            return False

    @_typed
    async def exists(self, digest: str) -> bool:
        return await self._present(self._blob(digest))

    async def location(self, digest: str) -> str | None:
        """A presigned URL, computed locally: no request to the store on the pull path (the
        metadata already said the blob exists; an archived image is refused at its manifest).
        None when downloads are proxied: the registry then streams the bytes itself."""
        if self.proxy_downloads:
            return None
        return await obstore.sign_async(self.store, "GET", self._blob(digest), PRESIGN_TTL)

    @_typed
    async def remove(self, blobs: Sequence[tuple[str, str]]) -> None:
        """One DeleteObjects request per thousand blobs (S3 answers success for absent keys)."""
        try:
            await obstore.delete_async(self.store, [self._blob(digest, tier) for digest, tier in blobs])
        except FileNotFoundError:
            pass

    @_typed
    async def probe(self) -> None:
        await obstore.put_async(self.store, "readyz", b"ok")
        await obstore.delete_async(self.store, "readyz")

    @_typed
    async def move(self, digest: str, to_tier: str) -> None:
        source = self._blob(digest, "standard" if to_tier == "archive" else "archive")
        try:
            size = (await obstore.head_async(self.store, source))["size"]
        except FileNotFoundError:
            return
        await self._copy(source, self._blob(digest, to_tier), size)
        await obstore.delete_async(self.store, source)

    async def _copy(self, source: str, target: str, size: int) -> None:
        """Server-side when S3 allows it (≤ 5 GB), streamed as multipart beyond."""
        if size <= SINGLE_COPY_LIMIT:
            await obstore.copy_async(self.store, source, target)
            return
        writer = _writer(self.store, target)
        async for chunk in await obstore.get_async(self.store, source):
            await writer.write(bytes(chunk))
        await writer.close()

    def free_space(self) -> None:
        return None  # a bucket has no floor to keep

    @_typed
    async def stat(self, digest: str, tier: str = "standard") -> int | None:
        try:
            return (await obstore.head_async(self.store, self._blob(digest, tier)))["size"]
        except FileNotFoundError:
            return None

    @_typed
    async def read(self, digest: str, tier: str = "standard"):
        async for chunk in await obstore.get_async(self.store, self._blob(digest, tier)):
            yield bytes(chunk)

    @_typed
    async def inventory(self):
        for tier, prefix in (("standard", "blobs/"), ("archive", "archive/")):
            async for batch in obstore.list(self.store, prefix=prefix):
                for meta in batch:
                    _, algorithm, encoded = meta["path"].rsplit("/", 2)
                    yield StoredBlob(f"{algorithm}:{encoded}", tier, meta["size"], meta["last_modified"].timestamp())

    @_typed
    async def stream(self, digest: str):
        """The blob's bytes through the registry (when downloads are proxied, not redirected)."""
        async for chunk in await obstore.get_async(self.store, self._blob(digest)):
            yield bytes(chunk)


def _writer(store, path: str):
    return obstore.open_writer_async(store, path, buffer_size=PART_BYTES, max_concurrency=PARTS_IN_FLIGHT)


class _HeldWriter:
    """The bytes of a request that finishes an upload from its start, kept in memory while they
    fit in HELD_BYTES (committed by one PUT); beyond that, a part as _PartWriter writes it."""

    def __init__(self, store: S3Store, path: str) -> None:
        self.held: bytearray | None = bytearray()
        self._part = _PartWriter(store, path)

    async def write(self, data: bytes) -> None:
        if self.held is not None:
            if len(self.held) + len(data) <= HELD_BYTES and _holding + len(data) <= HELD_TOTAL:
                self.held += data
                _count(len(data))
                return
            held, self.held = self.held, None  # too large to hold: the part begins with what was held
            _count(-len(held))
            await self._part.write(bytes(held))
        await self._part.write(data)

    def drop(self) -> None:
        if self.held is not None:
            _count(-len(self.held))
            self.held = None

    async def close(self) -> None:
        await self._part.close()


class _PartWriter:
    """One request's bytes as one object, streamed with multipart (no size held in memory)."""

    def __init__(self, store: S3Store, path: str) -> None:
        self._store, self._path, self._file = store, path, None

    @_typed
    async def write(self, data: bytes) -> None:
        if self._file is None:
            self._file = _writer(self._store, self._path)
        await self._file.write(data)

    @_typed
    async def close(self) -> None:
        if self._file is not None:
            await self._file.close()
