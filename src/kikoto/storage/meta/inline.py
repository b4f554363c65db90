"""SQLite on the event loop: the async engine interface our stores use, over a synchronous
SQLAlchemy engine whose statements run inline.

Why: an SQLite query costs a few microseconds, but every statement through aiosqlite hops to
a thread and back (~240 µs here, and SQLAlchemy's async layer adds more hops per
transaction), which made every push wait on thread wake-ups. Reads in WAL mode never block;
writes wait only for another process's short write transaction. The rule that makes this
safe: nothing inside a write transaction may suspend (no awaiting I/O) — a second write in
the same process would then block the loop while the first could not resume. `begin()`
refuses such nesting loudly instead of deadlocking.
"""

from __future__ import annotations

from contextlib import asynccontextmanager


class InlineConnection:
    def __init__(self, connection):
        self._connection = connection

    async def execute(self, *args, **kwargs):
        return self._connection.execute(*args, **kwargs)

    async def scalar(self, *args, **kwargs):
        return self._connection.scalar(*args, **kwargs)

    async def scalars(self, *args, **kwargs):
        return self._connection.scalars(*args, **kwargs)

    async def run_sync(self, function, *args):
        return function(self._connection, *args)

    async def commit(self) -> None:
        self._connection.commit()


class InlineEngine:
    _writing = False  # one write transaction per process at a time (see the module docstring)

    def __init__(self, sync_engine):
        self.sync_engine = sync_engine

    @property
    def dialect(self):
        return self.sync_engine.dialect

    def execution_options(self, **options) -> "InlineEngine":
        return InlineEngine(self.sync_engine.execution_options(**options))

    @asynccontextmanager
    async def connect(self):
        with self.sync_engine.connect() as connection:
            yield InlineConnection(connection)

    @asynccontextmanager
    async def begin(self):
        if InlineEngine._writing:
            raise RuntimeError("a write transaction was opened while another one in this process is suspended")
        InlineEngine._writing = True
        try:
            with self.sync_engine.begin() as connection:
                yield InlineConnection(connection)
        finally:
            InlineEngine._writing = False

    def run_raw(self, steps, write: bool):
        """Run plain SQL statements on a pooled DBAPI connection, skipping SQLAlchemy's
        per-statement and per-transaction machinery (the push path's hottest cost).
        `steps` are (sql, params, expected rowcount or None); a mismatch rolls back and
        returns None, otherwise the rows of the last statement."""
        if write and InlineEngine._writing:
            raise RuntimeError("a write transaction was opened while another one in this process is suspended")
        connection = self.sync_engine.raw_connection()
        try:
            cursor = connection.cursor()
            if write:
                cursor.execute("BEGIN IMMEDIATE")
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
