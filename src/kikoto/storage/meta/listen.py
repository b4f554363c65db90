"""Replicas on other hosts: PostgreSQL NOTIFY carries "something changed" to every process,
which bumps its host's change counter, so cached reads drop within milliseconds of a commit
anywhere (the 2-second cache age remains the bound if the listening connection is down)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg
from sqlalchemy.engine import make_url

from ..changes import ChangeCounter
from .base import CHANGES_CHANNEL

log = logging.getLogger("kikoto.listen")
RETRY = 2.0


def _dsn(database_url: str) -> str:
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


async def listen_for_changes(database_url: str, changes: ChangeCounter, stop: asyncio.Event) -> None:
    """Keep a LISTEN connection open until `stop` is set, reconnecting after failures."""
    while not stop.is_set():
        connection = None
        try:
            connection = await asyncpg.connect(_dsn(database_url))
            await connection.add_listener(CHANGES_CHANNEL, lambda *_: changes.bump())
            changes.bump()  # whatever happened while we were not listening
            lost = asyncio.Event()
            connection.add_termination_listener(lambda *_, lost=lost: lost.set())
            await asyncio.wait(
                [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(lost.wait())],
                return_when=asyncio.FIRST_COMPLETED,
            )
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("change notifications unavailable (%s); caches fall back to their age limit", exc)
        finally:
            if connection is not None:
                with contextlib.suppress(Exception):
                    await connection.close()
        if not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), RETRY)
