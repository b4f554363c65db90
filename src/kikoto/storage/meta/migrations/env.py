"""Alembic environment: runs migrations on the async engine kikoto itself uses."""

import asyncio

from alembic import context

from kikoto.storage.meta.engine import create_engine
from kikoto.storage.meta.schema import metadata

MIGRATION_LOCK = 0x6B696B6F  # "kiko": replicas starting together migrate one at a time


def run(connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
        context.run_migrations()


async def main() -> None:
    engine = create_engine(context.config.get_main_option("sqlalchemy.url"))
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run)
            await connection.commit()
    finally:
        await engine.dispose()


asyncio.run(main())
