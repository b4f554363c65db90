"""Shared fixtures: the app in-process on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest

from kikoto.app import build_app, prepare
from kikoto.config import Settings

from .pg import PostgresServer

IN_CI = os.environ.get("CI", "").lower() == "true"


def require(condition_missing: str | None) -> None:
    """Skip locally when a tool is missing; in CI a missing tool is a failure."""
    if condition_missing:
        if IN_CI:
            pytest.fail(f"required in CI: {condition_missing}")
        pytest.skip(condition_missing)


@pytest.fixture(scope="session")
def postgres():
    require(PostgresServer.available())
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(request, tmp_path) -> Settings:
    database_url = None
    if request.param == "postgresql":
        server = request.getfixturevalue("postgres")
        database_url = server.create_database(f"t_{uuid.uuid4().hex[:12]}")
    return Settings(data_dir=tmp_path / "data", database_url=database_url, workers=1)


@pytest.fixture
async def client(aiohttp_client, settings):
    await asyncio.to_thread(prepare, settings)
    return await aiohttp_client(build_app(settings))
