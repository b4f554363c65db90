"""Engine creation and migrations: the only place that knows SQLite from PostgreSQL settings."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from .inline import BUSY_TIMEOUT_MS, InlineEngine, begin_immediate

MIGRATIONS = Path(__file__).with_name("migrations")
ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg", "postgres": "postgresql+asyncpg"}


def async_url(url: str) -> str:
    """Accept plain `sqlite:///…` / `postgresql://…` URLs and pick the async driver we ship."""
    parsed = make_url(url)
    driver = ASYNC_DRIVERS.get(parsed.drivername, parsed.drivername)
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


def create_engine(url: str) -> AsyncEngine | InlineEngine:
    """PostgreSQL: the asyncpg engine. SQLite: statements inline on the event loop (inline.py)."""
    if make_url(url).drivername.startswith("sqlite"):
        sync_url = make_url(url).set(drivername="sqlite+pysqlite")
        engine = InlineEngine(
            sqlalchemy.create_engine(
                sync_url, connect_args={"timeout": 60, "check_same_thread": False}, pool_size=20, max_overflow=20
            )
        )
        _sqlite_transactions(engine.sync_engine)
        return engine
    return create_async_engine(async_url(url), pool_size=10, max_overflow=20, pool_pre_ping=True)


def _sqlite_transactions(sync_engine) -> None:
    """WAL for concurrent readers; writes take the lock up front (BEGIN IMMEDIATE) so two
    processes never deadlock upgrading a read lock, and the busy timeout makes them queue."""

    @event.listens_for(sync_engine, "connect")
    def _connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _begin(connection) -> None:
        # Reads run in autocommit: in WAL mode each statement sees a consistent snapshot and
        # never blocks, and the BEGIN/ROLLBACK pair around it would only cost time.
        if connection.get_execution_options().get("kikoto_write", False):
            begin_immediate(connection.connection.driver_connection.cursor())


def migrate(url: str) -> None:
    """Bring the schema to the newest revision (blocking; call before the event loop runs)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(config, "head")
