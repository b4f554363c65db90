"""SQLite on the event loop: the async engine interface our stores use, over a synchronous
SQLAlchemy engine whose statements run inline.

Why: an SQLite query costs a few microseconds, but every statement through aiosqlite hops to
a thread and back (~240 µs here, and SQLAlchemy's async layer adds more hops per
transaction), which made every push wait on thread wake-ups. Reads in WAL mode never block;
writes wait only for another process's short write transaction. The rule that makes this
safe: nothing inside a write transaction may suspend (no awaiting I/O) — a second write in
the same process would then block the loop while the first could not resume. `begin()`
refuses such nesting loudly instead of deadlocking.

Waiting for another process's write lock must not block the loop either (a worker would stop
answering everyone for as long as the other holds the lock): `BEGIN IMMEDIATE` is tried with no
busy timeout, and while the database is locked the coroutine sleeps and tries again, so other
requests keep being served.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy import Connection, Dialect, Engine
from sqlalchemy.exc import OperationalError

LOCK_WAIT = 60.0  # how long a write waits for another process's write lock before it fails
BUSY_TIMEOUT_MS = 5000  # statements other than BEGIN IMMEDIATE (WAL readers almost never wait)


def _locked(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "database is locked" in text or "database is busy" in text


async def _back_off(attempt: int, deadline: float, exc: BaseException) -> None:
    if time.monotonic() > deadline:
        raise exc
    await asyncio.sleep(min(0.05, 0.0005 * 2**attempt))


T = TypeVar("T")


class InlineConnection:
    def __init__(self, connection: Connection) -> None:
        self.dialect = connection.dialect
        self._connection = connection

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        return self._connection.execute(*args, **kwargs)

    async def scalar(self, *args: Any, **kwargs: Any) -> Any:
        return self._connection.scalar(*args, **kwargs)

    async def scalars(self, *args: Any, **kwargs: Any) -> Any:
        return self._connection.scalars(*args, **kwargs)

    async def run_sync(self, function: Callable[..., T], *args: Any) -> T:
        return function(self._connection, *args)

    async def commit(self) -> None:
        self._connection.commit()


class InlineEngine:
    _writing = False  # one write transaction per process at a time (see the module docstring)

    def __init__(self, sync_engine: Engine) -> None:
        self.sync_engine = sync_engine

    @property
    def dialect(self) -> Dialect:
        return self.sync_engine.dialect

    def execution_options(self, **options: Any) -> InlineEngine:
        return InlineEngine(self.sync_engine.execution_options(**options))

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[InlineConnection]:
        with self.sync_engine.connect() as connection:
            yield InlineConnection(connection)

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[InlineConnection]:
        if InlineEngine._writing:
            raise RuntimeError("a write transaction was opened while another one in this process is suspended")
        deadline, attempt = time.monotonic() + LOCK_WAIT, 0
        while True:
            try:
                transaction = self.sync_engine.begin()  # BEGIN IMMEDIATE, without waiting (engine.py)
                connection = transaction.__enter__()
                break
            except (OperationalError, sqlite3.OperationalError) as exc:
                if not _locked(exc):
                    raise
                await _back_off(attempt, deadline, exc)
                attempt += 1
            if InlineEngine._writing:  # another coroutine got the lock while this one slept
                raise RuntimeError("a write transaction was opened while another one in this process is suspended")
        InlineEngine._writing = True
        try:
            try:
                yield InlineConnection(connection)
            except BaseException as exc:
                if not transaction.__exit__(type(exc), exc, exc.__traceback__):
                    raise
            else:
                transaction.__exit__(None, None, None)
        finally:
            InlineEngine._writing = False

    async def run_raw(
        self, steps: Sequence[tuple[str, dict[str, Any], int | None]], write: bool
    ) -> Sequence[Any] | None:
        """Run plain SQL statements on a pooled DBAPI connection, skipping SQLAlchemy's
        per-statement and per-transaction machinery (the push path's hottest cost).
        `steps` are (sql, params, expected rowcount or None); a mismatch rolls back and
        returns None, otherwise the rows of the last statement."""
        if write and InlineEngine._writing:
            raise RuntimeError("a write transaction was opened while another one in this process is suspended")
        connection = self.sync_engine.raw_connection()
        try:
            cursor = connection.cursor()
            deadline, attempt = time.monotonic() + LOCK_WAIT, 0
            while write:
                try:
                    begin_immediate(cursor)
                    break
                except sqlite3.OperationalError as exc:
                    if not _locked(exc):
                        raise
                    await _back_off(attempt, deadline, exc)
                    attempt += 1
            if write and InlineEngine._writing:
                connection.rollback()
                raise RuntimeError("a write transaction was opened while another one in this process is suspended")
            rows = None
            for sql, params, expected in steps:
                cursor.execute(sql, params)
                if expected is not None and cursor.rowcount != expected:
                    if write:
                        connection.rollback()
                    return None
                rows = cursor.fetchall() if cursor.description else None
            if write:
                connection.commit()
            return rows if rows is not None else []
        except BaseException:
            if write:
                connection.rollback()
            raise
        finally:
            connection.close()

    async def dispose(self) -> None:
        self.sync_engine.dispose()


def begin_immediate(cursor: Any) -> None:
    """Take the write lock now or fail at once (no busy wait inside SQLite: the caller sleeps
    on the event loop and tries again)."""
    cursor.execute("PRAGMA busy_timeout=0")
    try:
        cursor.execute("BEGIN IMMEDIATE")
    finally:
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
