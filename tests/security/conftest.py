"""The registry in-process on SQLite with settings a test chooses, and a SigV4 signer that can
sign a request wrongly on purpose (the attacks the audit tried)."""

from __future__ import annotations

import asyncio
import base64
import datetime
import json

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from kikoto.app import build_app, prepare
from kikoto.config import Settings
from kikoto.http.ecr.api import ECR, TARGET_PREFIX

from ..conftest import ADMIN_KEY, ADMIN_SECRET, basic_auth_for

REGION = "us-east-1"


class Registry:
    def __init__(self, app, client):
        self.app, self.client = app, client

    async def basic(self, key_id: str = ADMIN_KEY) -> dict[str, str]:
        return {"Authorization": await basic_auth_for(self.app, key_id)}

    async def authed(self, key_id: str = ADMIN_KEY) -> Authed:
        """The test client adding this key's login to every request (for tests/helpers.py)."""
        return Authed(self.client, await self.basic(key_id))

    async def new_key(self, name: str, policy: str) -> tuple[str, str]:
        return await self.app[ECR].identities.create(name, policy)

    def signed(
        self,
        operation: str,
        params: dict | bytes,
        key: str = ADMIN_KEY,
        secret: str = ADMIN_SECRET,
        unsigned: tuple[str, ...] = (),
        extra: dict | None = None,
        payload_hash: str | None = None,
        when: datetime.datetime | str | None = None,
        service: str = "ecr",
    ) -> tuple[bytes, dict[str, str]]:
        """Body and headers of an ECR request signed as botocore signs it, except that the
        headers in `unsigned` are left out of the signature (and `payload_hash` declared)."""
        body = params if isinstance(params, bytes) else json.dumps(params).encode()
        url = str(self.client.make_url("/"))
        request = AWSRequest(
            method="POST",
            url=url,
            data=body,
            headers={
                "X-Amz-Target": (TARGET_PREFIX if service == "ecr" else service + ".") + operation,
                "Content-Type": "application/x-amz-json-1.1",
                **(extra or {}),
            },
        )
        if payload_hash:
            request.headers["X-Amz-Content-SHA256"] = payload_hash
        timestamp = when if isinstance(when, str) or when is None else when.strftime("%Y%m%dT%H%M%SZ")
        _PartialSigner(Credentials(key, secret), service, REGION, unsigned, timestamp).add_auth(request)
        return body, dict(request.headers.items())

    async def ecr(self, operation: str, params: dict | bytes, **options):
        body, headers = self.signed(operation, params, **options)
        response = await self.client.post("/", data=body, headers=headers)
        return response.status, await response.json(content_type=None)


class Authed:
    def __init__(self, client, headers):
        self._client, self._headers = client, headers

    def __getattr__(self, method):
        call = getattr(self._client, method)
        return lambda path, **kw: call(path, headers={**self._headers, **kw.pop("headers", {})}, **kw)


class _PartialSigner(SigV4Auth):
    def __init__(self, credentials, service, region, unsigned, timestamp):
        super().__init__(credentials, service, region)
        self._unsigned = {name.lower() for name in unsigned}
        self._timestamp = timestamp

    def _modify_request_before_signing(self, request):
        if self._timestamp:  # a chosen (stale or malformed) date
            request.context["timestamp"] = self._timestamp
        super()._modify_request_before_signing(request)

    def headers_to_sign(self, request):
        headers = super().headers_to_sign(request)
        for name in self._unsigned:
            if name in headers:
                del headers[name]
        return headers


@pytest.fixture
def registry_with(aiohttp_client, tmp_path):
    """`await registry_with(setting=value, ...)`: the app in-process on SQLite, admin key known."""

    async def make(**overrides) -> Registry:
        settings = Settings(
            data_dir=tmp_path / "data",
            workers=1,
            create_on_push=True,
            admin_access_key_id=ADMIN_KEY,
            admin_secret_access_key=ADMIN_SECRET,
            **overrides,
        )
        await asyncio.to_thread(prepare, settings)
        app = build_app(settings, background_jobs=False)
        return Registry(app, await aiohttp_client(app))

    return make


def basic(password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"AWS:{password}".encode()).decode()}


@pytest.fixture
def fuzz_registry(registry_with):
    """One registry for every example of a hypothesis test (function fixtures are not reset)."""
    made: list[Registry] = []

    async def get() -> Registry:
        if not made:
            registry = await registry_with()
            await registry.ecr("CreateRepository", {"repositoryName": "app"})
            made.append(registry)
        return made[0]

    return get


async def peak_memory(awaitable):
    """(the awaitable's result, the peak of Python memory allocated while it ran, in bytes):
    traced, not RSS, so memory freed earlier in the test and reused cannot hide a growth."""
    import tracemalloc

    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        result = await awaitable
        return result, tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
