"""A change counter shared by every process on this host that uses the same data directory.

Writers that change what reads resolve (tags, manifests, repositories, keys, policies) bump
it after commit; readers keep small caches that are valid while the counter is unchanged.
Reading it is one memory load from a shared mapping, so the hot path needs no database
round trip to know its cache is current. Replicas on other hosts do not see this counter:
there the caches also expire after `max_age` seconds (see docs/decisions.md).
"""

from __future__ import annotations

import asyncio
import fcntl
import mmap
import os
import struct
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from pathlib import Path
from typing import Any, TypeVar

_COUNTER = struct.Struct("<Q")
T = TypeVar("T")


class ChangeCounter:
    def __init__(self, path: Path) -> None:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < _COUNTER.size:
                os.ftruncate(fd, _COUNTER.size)
            self._map = mmap.mmap(fd, _COUNTER.size)
        finally:
            os.close(fd)
        self._lock_path = str(path)

    def value(self) -> int:
        return _COUNTER.unpack_from(self._map, 0)[0]

    def bump(self) -> None:
        with open(self._lock_path, "rb") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                _COUNTER.pack_into(self._map, 0, self.value() + 1)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


class VersionedCache:
    """Entries valid while the change counter is unchanged and younger than `max_age`.

    `get` returns (value or None, token); pass the token back to `put`, which then stores the
    value only if nothing changed since the lookup began (so a value read from the database
    just before a write can never be cached after it)."""

    def __init__(self, changes: ChangeCounter | None, max_age: float, size: int = 10_000) -> None:
        self.changes, self.max_age, self.size = changes, max_age, size
        self._items: dict[Hashable, Any] = {}
        self._version = -1
        self._loading: dict[tuple[Any, Any], asyncio.Future[Any]] = {}

    async def fetch(self, key: Hashable, load: Callable[[], Awaitable[T]]) -> T:
        """The cached value, else `load()`'s, cached unless None (or something changed meanwhile).

        Misses of one key at once share one load. On a replica the entries expire every
        `max_age` (2 s), and then every request in flight missed together: 32 queries per
        worker per key instead of one (bench/replicated.py found 250 where 8 would do). The load
        is shielded: a client that hangs up does not cancel it for the others."""
        value, token = self.get(key)
        if value is not None:
            return value
        if token is None:  # no change counter: nothing is cached
            return await load()
        pending = self._loading.get((key, token))
        if pending is None:
            pending = asyncio.ensure_future(self._load(key, load, token))
            self._loading[(key, token)] = pending
            pending.add_done_callback(lambda _: self._loading.pop((key, token), None))
        return await asyncio.shield(pending)

    async def _load(self, key: Hashable, load: Callable[[], Awaitable[T]], token: int) -> T:
        value = await load()
        if value is not None:
            self.put(key, value, token)
        return value

    def get(self, key: Hashable) -> tuple[Any, int | None]:
        if self.changes is None:
            return None, None
        version = self.changes.value()
        if version != self._version:
            self._items.clear()
            self._version = version
            return None, version
        entry = self._items.get(key)
        if entry is None or time.monotonic() - entry[0] > self.max_age:
            return None, version
        return entry[1], version

    def put(self, key: Hashable, value: Any, token: int | None) -> None:
        if token is None or token != self._version or token != self.changes.value():
            return
        if len(self._items) >= self.size:
            self._items.clear()
        self._items[key] = (time.monotonic(), value)


class ByteCache:
    """A size-bounded LRU of immutable bytes keyed by digest (manifests, small blobs)."""

    def __init__(self, capacity: int) -> None:
        self.capacity, self.used = capacity, 0
        self._items: OrderedDict[str, bytes] = OrderedDict()

    def get(self, digest: str) -> bytes | None:
        content = self._items.get(digest)
        if content is not None:
            self._items.move_to_end(digest)
        return content

    def put(self, digest: str, content: bytes) -> None:
        if digest in self._items or len(content) > self.capacity // 8:
            return
        self._items[digest] = content
        self.used += len(content)
        while self.used > self.capacity:
            self.used -= len(self._items.popitem(last=False)[1])
