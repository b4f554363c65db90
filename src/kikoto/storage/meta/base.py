"""What every metadata store shares: the engine, write transactions, the change counter."""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import json
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy import Table, TextClause, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SqlTimeout
from sqlalchemy.ext.asyncio import AsyncEngine

from ...domain.errors import StoreUnavailable
from ..changes import ChangeCounter
from .inline import InlineEngine

R = TypeVar("R")
T = TypeVar("T")
CHANGES_CHANNEL = "kikoto_changes"
NOTIFY_CHANGE = text(f"SELECT pg_notify('{CHANGES_CHANNEL}', '')")


IN_LIST = 500  # values per IN (...) list: well inside every database's parameter limit


def batches(items: Iterable[T], size: int = IN_LIST) -> Iterator[list[T]]:
    """`items` in lists of at most `size`, for IN (...) clauses and bulk inserts."""
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start : start + size]


# SQLSTATEs of a server that is away for now: connection exceptions (class 08), shutting down or
# starting up (57P01-57P03), out of connection slots (53300).
TRANSIENT_STATES = ("08", "57P01", "57P02", "57P03", "53300")


def unreachable(exc: BaseException) -> bool:
    """The database server is gone or refusing for now (down, restarting, the connection cut,
    the pool exhausted): a transient condition, not a fault of the request."""
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError):
            return True
        origins = (exc.orig, getattr(exc.orig, "__cause__", None))
        states = [str(getattr(o, "sqlstate", None) or getattr(o, "pgcode", None) or "") for o in origins]
        return any(state.startswith(TRANSIENT_STATES) for state in states if state)
    return isinstance(exc, ConnectionError | SqlTimeout | asyncio.TimeoutError) or (
        isinstance(exc, OSError) and exc.errno in (errno.ECONNREFUSED, errno.ECONNRESET, errno.EPIPE)
    )


@asynccontextmanager
async def _guarded(context: Any) -> AsyncIterator[Any]:
    """A connection or transaction on PostgreSQL whose loss becomes a typed StoreUnavailable."""
    try:
        async with context as conn:
            yield conn
    except Exception as exc:
        if unreachable(exc):
            raise StoreUnavailable("the registry's database is unavailable; nothing was changed, try again") from exc
        raise


class SqlStore:
    def __init__(
        self,
        engine: AsyncEngine | InlineEngine,
        clock: Callable[[], float] = time.time,
        changes: ChangeCounter | None = None,
    ) -> None:
        self.engine = engine
        self._writer = engine.execution_options(kikoto_write=True)  # SQLite: BEGIN IMMEDIATE
        self._clock = clock
        self.changes = changes
        self._local = isinstance(engine, InlineEngine)  # SQLite: a file, never "unreachable"
        # INSERT ... ON CONFLICT in the database's own dialect
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        # Lexical (byte) order for tag and catalog listings, whatever the database locale is.
        self._bytewise: Callable[[Any], Any] = (
            (lambda column: column.collate("C")) if engine.dialect.name == "postgresql" else (lambda c: c)
        )

    def _insert_ignore(self, table: Table, rows: Any, keys: Iterable[str]) -> Any:
        return self._insert(table).values(rows).on_conflict_do_nothing(index_elements=list(keys))

    async def _names_after(self, column: Any, limit: int | None, after: str | None, *where: Any) -> list[str]:
        """Names in byte order after `after`: the one query behind tag lists and the catalog."""
        name = self._bytewise(column)
        query = select(column).where(*where).order_by(name)
        if after:
            query = query.where(name > after)
        if limit is not None:
            query = query.limit(limit)
        async with self._read() as conn:
            return list((await conn.scalars(query)).all())

    def _read(self) -> Any:
        """A connection for reads (autocommit); on PostgreSQL its loss is StoreUnavailable."""
        return self.engine.connect() if self._local else _guarded(self.engine.connect())

    @asynccontextmanager
    async def _write(self, changed: bool = True) -> AsyncIterator[Any]:
        """A write transaction; `changed` writes (what reads resolve) bump the change counter
        after commit, so every process's caches drop what they knew."""
        async with self._writer.begin() if self._local else _guarded(self._writer.begin()) as conn:
            yield conn
            if changed and self.engine.dialect.name == "postgresql":
                # Delivered at commit to every replica listening (storage/listen.py).
                await conn.execute(NOTIFY_CHANGE)
        if changed and self.changes is not None:
            self.changes.bump()

    async def _insert_new(self, table: Table, values: dict[str, Any], changed: bool = True) -> bool:
        """Insert one row; False when its key is taken (the store's "already exists")."""
        try:
            async with self._write(changed=changed) as conn:
                await conn.execute(table.insert().values(**values))
        except IntegrityError:
            return False
        return True

    async def _statements(
        self, steps: Sequence[tuple[TextClause, dict[str, Any], int | None]], write: bool = True
    ) -> Sequence[Any] | None:
        """Plain SQL steps (TextClause, params, expected rowcount or None) in one transaction
        (or one read): the raw DBAPI path on SQLite, SQLAlchemy elsewhere. Returns the last
        statement's rows, or None when a rowcount differed (nothing is then written)."""
        if isinstance(self.engine, InlineEngine):
            return await self.engine.run_raw(
                [(clause.text, params, expected) for clause, params, expected in steps], write
            )
        try:
            async with self._write(changed=False) if write else self._read() as conn:
                rows = None
                for clause, params, expected in steps:
                    result = await conn.execute(clause, params)
                    if expected is not None and result.rowcount != expected:
                        raise _Mismatch
                    rows = result.fetchall() if result.returns_rows else None
                return rows if rows is not None else []
        except _Mismatch:
            return None


class _Mismatch(Exception):
    """Internal: roll a statement sequence back."""


_FIELDS: dict[type, tuple[str, ...]] = {}  # per record class, once


def record(cls: type[R], row: Any, *, json_fields: tuple[str, ...] = (), empty: Any = None) -> R:
    """A record (a dataclass) from a row whose columns bear its fields' names; `json_fields`
    hold JSON text, decoded (NULL: `empty`)."""
    names = _FIELDS.get(cls) or _FIELDS.setdefault(cls, tuple(f.name for f in dataclasses.fields(cls)))  # type: ignore[arg-type]
    values = {name: getattr(row, name) for name in names}
    for name in json_fields:
        values[name] = json.loads(values[name]) if values[name] else empty
    return cls(**values)
