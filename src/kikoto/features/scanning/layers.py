"""Reading an image's layers for its inventory: each layer streamed once, in order, from the
blob store (gzip, zstd or uncompressed, recognised by their magic bytes), never unpacked to
disk; whiteouts in a layer remove what lower layers put at the paths they name. Memory is
bounded whatever the layer size: only the files the inventory needs are read, each within a
limit (a Go binary is searched for its build info in 1 MiB steps), and the tar reader forgets
each member once read. What an image can make a scan spend is bounded as a whole (`Budget`):
decompressed bytes per layer, package files inspected, packages found, time; a scan past any
bound stops with `ScanLimitExceeded`, which says which."""

from __future__ import annotations

import asyncio
import gzip
import io
import os
import posixpath
import sqlite3
import tarfile
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import zstandard

from .inventory import (
    GO_MAGIC,
    MAX_ARCHIVE,
    OsRelease,
    Package,
    parse_file,
    parse_go_buildinfo,
    parse_os_release,
    parse_rpm_header,
    wanted,
)

MAX_TEXT = 64 << 20  # a package database larger than this is not read
MAX_FILES = 50_000  # package files (package.json, METADATA, ...) inspected per image
MAX_PACKAGES = 50_000  # packages found per image
MAX_RPM_ROWS = 50_000  # rows read from an image's rpmdb
MAX_RPMDB = 512 << 20
STEP = 1 << 20
BUILDINFO_WINDOW = 256 << 10


class ChunkReader(io.RawIOBase):
    """A blocking file over an async iterator of chunks, for a worker thread: each read asks
    the event loop for the next chunk (so nothing beyond a chunk is ever buffered)."""

    def __init__(self, chunks: AsyncIterator[bytes], loop: asyncio.AbstractEventLoop) -> None:
        self._chunks, self._loop = chunks.__aiter__(), loop
        self._buffer, self._done = b"", False

    def readable(self) -> bool:
        return True

    async def _next(self) -> bytes:
        return await self._chunks.__anext__()

    def readinto(self, target) -> int:
        while not self._buffer and not self._done:
            try:
                self._buffer = asyncio.run_coroutine_threadsafe(self._next(), self._loop).result()
            except StopAsyncIteration:
                self._done = True
        count = min(len(target), len(self._buffer))
        target[:count] = self._buffer[:count]
        self._buffer = self._buffer[count:]
        return count


class ScanLimitExceeded(Exception):
    """The image asked more of the scan than its budget allows; the message says which bound."""


@dataclass
class Budget:
    """What one scan may spend, shared by its layers and (for an index) its images."""

    deadline: float  # time.monotonic() by which the scan must be done
    layer_bytes: int  # decompressed bytes per layer
    files: int = MAX_FILES
    packages: int = MAX_PACKAGES

    @classmethod
    def starting_now(cls, seconds: float, layer_bytes: int) -> Budget:
        return cls(time.monotonic() + seconds, layer_bytes)

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise ScanLimitExceeded("the scan took longer than its time limit (scan_timeout)")

    def spend_file(self) -> None:
        self.files -= 1
        if self.files < 0:
            raise ScanLimitExceeded(f"the image has more than {MAX_FILES} package files to inspect")

    def spend_packages(self, count: int) -> None:
        self.packages -= count
        if self.packages < 0:
            raise ScanLimitExceeded(f"the image lists more than {MAX_PACKAGES} packages")


class Metered(io.RawIOBase):
    """A layer's decompressed bytes, counted against the budget as the tar reader takes them:
    a decompression bomb stops at the per-layer limit or the deadline, whichever comes first."""

    def __init__(self, stream, budget: Budget) -> None:
        self._stream, self._budget, self._left = stream, budget, budget.layer_bytes

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size if size is not None and size >= 0 else STEP)
        self._left -= len(data)
        if self._left < 0:
            raise ScanLimitExceeded(
                f"a layer decompresses to more than {self._budget.layer_bytes} bytes (scan_max_layer_bytes)"
            )
        self._budget.check_time()
        return data


def decompressed(raw: io.BufferedReader):
    head = raw.peek(4)[:4]
    if head[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=raw)
    if head == b"\x28\xb5\x2f\xfd":
        return zstandard.ZstdDecompressor().stream_reader(raw, read_size=STEP)
    return raw


@dataclass
class Inventory:
    os: OsRelease | None = None
    files: dict[str, list[Package]] = field(default_factory=dict)  # path -> what it holds
    layers: dict[str, str] = field(default_factory=dict)  # path -> the layer digest it came from

    def packages(self) -> list[Package]:
        return [package for found in self.files.values() for package in found]


def _normal(name: str) -> str:
    return posixpath.normpath("/" + name).lstrip("/")


def read_layer(
    stream,
    inventory: Inventory,
    layer: str,
    progress: Callable[[int], None] | None = None,
    budget: Budget | None = None,
) -> None:
    """Fold one layer (a tar stream) into `inventory` (runs in a worker thread)."""
    budget = budget or Budget.starting_now(float("inf"), 1 << 62)
    deleted: list[str] = []
    opaque: list[str] = []
    found: dict[str, list[Package]] = {}
    os_release = None
    with tarfile.open(fileobj=Metered(stream, budget), mode="r|") as tar:
        while (member := tar.next()) is not None:
            tar.members.clear()  # type: ignore[attr-defined]  # the reader would keep every member it saw: 200k files, 500 MiB
            path = _normal(member.name)
            directory, base = posixpath.split(path)
            if base == ".wh..wh..opq":
                opaque.append(directory)
                continue
            if base.startswith(".wh."):
                deleted.append(posixpath.join(directory, base[4:]))
                continue
            if not member.isfile():
                continue
            kind = wanted(path, bool(member.mode & 0o111))
            if kind is None:
                continue
            file = tar.extractfile(member)
            if file is None:
                continue
            budget.spend_file()
            if kind == "binary":
                packages = _go_binary(file, path)
            elif kind == "rpm":
                packages = _rpm_database(file, path, budget) if member.size <= MAX_RPMDB else []
            elif kind == "os-release":
                os_release = parse_os_release(file.read(1 << 16).decode("utf-8", "replace"))
                continue
            elif member.size <= (MAX_ARCHIVE if kind == "java" else MAX_TEXT):
                packages = parse_file(kind, file.read(), path)
            else:
                continue
            if packages:
                budget.spend_packages(len(packages))
                found[path] = packages
            if progress:
                progress(member.size)

    # whiteouts remove what lower layers put there; then this layer's files land on top
    def removed(path: str) -> bool:
        return any(path == d or path.startswith(d + "/") for d in deleted) or any(
            path.startswith(d + "/") for d in opaque
        )

    if deleted or opaque:
        for path in [p for p in inventory.files if removed(p)]:
            del inventory.files[path]
            inventory.layers.pop(path, None)
    inventory.files.update(found)
    inventory.layers.update({path: layer for path in found})
    if os_release is not None:
        inventory.os = os_release


def _go_binary(file, path: str) -> list[Package]:
    """The build info of a Go binary, found by its magic in 1 MiB steps."""
    first = file.read(STEP)
    if not first.startswith(b"\x7fELF") and not first.startswith((b"MZ", b"\xcf\xfa\xed\xfe")):
        return []
    window, tail = first, b""
    while window:
        data = tail + window
        at = data.find(GO_MAGIC)
        if at >= 0:
            info = data[at:]
            while len(info) < BUILDINFO_WINDOW and (more := file.read(STEP)):
                info += more
            return parse_go_buildinfo(info[:BUILDINFO_WINDOW], path)
        tail = data[-len(GO_MAGIC) :]
        window = file.read(STEP)
    return []


def _rpm_database(file, path: str, budget: Budget) -> list[Package]:
    """Packages from the sqlite rpmdb (copied to a private temporary file: sqlite reads files).
    The file is the image's, so it is not trusted as a program: read-only, untrusted schema, and
    `Packages` must be a plain table of rpm's two columns (a view or a generated column would
    run the image's SQL); the query is cut off by a row limit and the scan's deadline."""
    with tempfile.NamedTemporaryFile(prefix="kikoto-rpmdb-", suffix=".sqlite") as copy:
        os.fchmod(copy.fileno(), 0o600)
        while chunk := file.read(STEP):
            copy.write(chunk)
        copy.flush()
        try:
            database = sqlite3.connect(f"file:{copy.name}?mode=ro", uri=True)
            try:
                return _rpm_packages(database, path, budget)
            finally:
                database.close()
        except sqlite3.Error:  # not a database, or interrupted at the deadline (then the scan says so)
            budget.check_time()
            return []


RPM_COLUMNS = [("hnum", 0), ("blob", 0)]  # (name, hidden): rpm's own schema, nothing computed


def _rpm_packages(database: sqlite3.Connection, path: str, budget: Budget) -> list[Package]:
    database.execute("PRAGMA trusted_schema = OFF")
    database.execute("PRAGMA query_only = ON")
    database.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_TEXT)
    kind = database.execute("SELECT type FROM sqlite_master WHERE name = 'Packages'").fetchone()
    if kind is None or kind[0] != "table":
        return []  # a view (or nothing) where rpm keeps a table: not an rpmdb
    columns = [(row[1], row[6]) for row in database.execute("PRAGMA table_xinfo(Packages)")]
    if columns != RPM_COLUMNS:
        return []

    def interrupt() -> int:
        return 1 if time.monotonic() > budget.deadline else 0

    database.set_progress_handler(interrupt, 10_000)
    packages = []
    cursor = database.execute("SELECT blob FROM Packages")
    for count, (blob,) in enumerate(cursor):
        if count >= MAX_RPM_ROWS:
            raise ScanLimitExceeded(f"the image's rpm database has more than {MAX_RPM_ROWS} rows")
        if isinstance(blob, bytes) and (package := parse_rpm_header(blob, path)) is not None:
            packages.append(package)
    return packages


async def inventory_of(
    layers: list[tuple[str, Callable[[], AsyncIterator[bytes]]]],
    progress: Callable[[int], None] | None = None,
    budget: Budget | None = None,
) -> Inventory:
    """The inventory of an image from its layers, in order: (digest, a function opening its
    bytes). The tar parsing runs in a worker thread; the bytes come from the event loop."""
    loop = asyncio.get_running_loop()
    inventory = Inventory()
    for digest, open_bytes in layers:
        raw = io.BufferedReader(ChunkReader(open_bytes(), loop), STEP)

        def fold(raw=raw, digest=digest) -> None:
            read_layer(decompressed(raw), inventory, digest, progress, budget)

        try:
            await asyncio.to_thread(fold)
        except (tarfile.TarError, OSError, EOFError, zstandard.ZstdError):
            continue  # a layer that is not a tar stream (an artifact's blob) holds no packages
    return inventory
