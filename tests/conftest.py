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
def s3_url():
    """An S3 API on 127.0.0.1 (moto's server), with a fresh bucket; yields (url, endpoint)."""
    import shutil as _shutil
    import subprocess
    import sys
    import time
    from pathlib import Path

    from .pg import free_port

    server = Path(sys.executable).parent / "moto_server"
    require(None if server.exists() or _shutil.which("moto_server") else "moto_server (PyPI moto[server]) is missing")
    port = free_port()
    process = subprocess.Popen(
        [str(server), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    endpoint = f"http://127.0.0.1:{port}"
    for variable, value in (
        ("AWS_ACCESS_KEY_ID", "moto"),
        ("AWS_SECRET_ACCESS_KEY", "moto"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ):
        os.environ.setdefault(variable, value)
    import boto3

    s3 = boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="moto", aws_secret_access_key="moto"
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            s3.create_bucket(Bucket="kikoto-tests")
            break
        except Exception:
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.2)
    yield "s3://kikoto-tests", endpoint
    process.terminate()
    process.wait(10)


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
