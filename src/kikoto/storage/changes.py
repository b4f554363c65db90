"""A change counter shared by every process on this host that uses the same data directory.

Writers that change what reads resolve (tags, manifests, repositories, keys, policies) bump
it after commit; readers keep small caches that are valid while the counter is unchanged.
Reading it is one memory load from a shared mapping, so the hot path needs no database
round trip to know its cache is current. Replicas on other hosts do not see this counter:
there the caches also expire after `max_age` seconds (see docs/decisions.md).
"""

from __future__ import annotations

import fcntl
import mmap
import os
import struct
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

_COUNTER = struct.Struct("<Q")


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
        self._items: dict[str, Any] = {}
        self._version = -1

    def get(self, key):
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

    def put(self, key, value, token) -> None:
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
