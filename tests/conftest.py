"""Shared fixtures: the app in-process on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import uuid

import pytest

from kikoto.app import build_app, prepare
from kikoto.config import Settings
from kikoto.http.ecr.api import ECR

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


ADMIN_KEY, ADMIN_SECRET = "AKIATESTADMIN0000001", "test-admin-secret-0123456789"


@pytest.fixture(scope="session")
def object_store():
    """A real S3-compatible object store on 127.0.0.1 (SeaweedFS), with a fresh bucket; the
    AWS_* variables a replica reads carry its credentials."""
    from .weed import ACCESS_KEY, SECRET_KEY, SeaweedServer

    require(SeaweedServer.available())
    server = SeaweedServer().start("kikoto-tests")
    for variable, value in (
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ):
        os.environ[variable] = value
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_url(object_store):
    """(bucket URL, endpoint) of the tests' object store."""
    return "s3://kikoto-tests", object_store.endpoint


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(request, tmp_path) -> Settings:
    database_url = None
    if request.param == "postgresql":
        server = request.getfixturevalue("postgres")
        database_url = server.create_database(f"t_{uuid.uuid4().hex[:12]}")
    # The OCI protocol tests push to repositories they did not create first.
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        workers=1,
        create_on_push=True,
        admin_access_key_id=ADMIN_KEY,
        admin_secret_access_key=ADMIN_SECRET,
    )


async def basic_auth_for(app, key_id: str) -> str:
    """What `podman login` would send after `aws ecr get-login-password` for this key."""
    identities = app[ECR].identities
    principal, _ = await identities.lookup(key_id)
    password, _ = identities.issue(principal)
    return "Basic " + base64.b64encode(f"AWS:{password}".encode()).decode()


@pytest.fixture
async def app(settings):
    await asyncio.to_thread(prepare, settings)
    return build_app(settings, background_jobs=False)  # tests run jobs explicitly (test_jobs.py)


@pytest.fixture
async def client(aiohttp_client, app):
    """The app in-process, logged in as the admin."""
    return await aiohttp_client(app, headers={"Authorization": await basic_auth_for(app, ADMIN_KEY)})


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A test that fails on a subprocess (`check=True`, a timeout) shows what the command printed:
    CalledProcessError alone says only "returned non-zero exit status 1"."""
    outcome = yield
    report = outcome.get_result()
    failure = call.excinfo.value if call.excinfo is not None else None
    seen = 0
    while failure is not None and seen < 10:
        if isinstance(failure, subprocess.CalledProcessError | subprocess.TimeoutExpired):

            def text(value) -> str:
                return value.decode("utf-8", "replace") if isinstance(value, bytes) else (value or "")

            command = failure.cmd if isinstance(failure.cmd, str) else " ".join(map(str, failure.cmd))
            report.sections.append(
                (
                    "subprocess",
                    f"$ {command}\n--- stdout ---\n{text(failure.stdout)}\n--- stderr ---\n{text(failure.stderr)}",
                )
            )
            break
        failure, seen = failure.__cause__ or failure.__context__, seen + 1
