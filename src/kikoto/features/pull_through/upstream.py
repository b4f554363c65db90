"""An OCI registry as the upstream of a pull-through cache: manifests and blobs over HTTP,
answering Bearer-token challenges (Docker Hub, GHCR, Distribution's token auth) and Basic ones.

Every failure becomes `UpstreamFailed` naming the upstream and its answer; nothing here knows
repositories, rules or the cache (services/pullthrough.py does). Redirects and token realms are
followed only where remote/guard.py allows, and every answer read into memory is capped.
"""

from __future__ import annotations

import base64
import json
import re
import time
import urllib.parse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp

from ...domain.errors import UpstreamFailed, UpstreamMissing, UpstreamRateLimited
from ...domain.manifests import DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST
from ...remote.guard import (
    MAX_INDEX_ANSWER,
    MAX_REDIRECTS,
    MAX_TOKEN_ANSWER,
    REDIRECTS,
    Destinations,
    origin,
    read_capped,
)

ACCEPT = ", ".join([OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST])
CHUNK = 1 << 20
MAX_MANIFEST = 4 << 20
TIMEOUT = aiohttp.ClientTimeout(total=None, connect=10, sock_connect=10, sock_read=60)
CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class UpstreamManifest:
    digest: str
    media_type: str
    content: bytes | None  # None for a HEAD


@dataclass
class UpstreamBlob:
    size: int
    chunks: AsyncIterator[bytes]


class UpstreamRegistry:
    """One upstream registry reached with one set of credentials (None: anonymous)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        credentials: tuple[str, str] | None,
        allow_insecure: bool = False,
    ) -> None:
        self.session, self.base_url, self.credentials = session, base_url.rstrip("/"), credentials
        self.destinations = Destinations(self.base_url, allow_insecure)
        self._tokens: dict[str, tuple[str, float]] = {}  # scope -> (Authorization value, expiry)

    def _basic(self) -> str | None:
        if not self.credentials:
            return None
        return "Basic " + base64.b64encode(f"{self.credentials[0]}:{self.credentials[1]}".encode()).decode()

    async def _authorization(self, challenge: str, scope: str) -> str:
        scheme, _, params_text = challenge.partition(" ")
        if scheme.lower() == "basic":
            if not self.credentials:
                raise UpstreamFailed(f"upstream {self.base_url} requires credentials and the rule has none")
            return self._basic() or ""
        if scheme.lower() != "bearer":
            raise UpstreamFailed(f"upstream {self.base_url} asks for unsupported authentication {scheme!r}")
        params = dict(CHALLENGE_PARAM.findall(params_text))
        realm = params.get("realm")
        if not realm:
            raise UpstreamFailed(f"upstream {self.base_url} sent a Bearer challenge without a realm")
        if why := await self.destinations.refusal(realm, realm=True):
            raise UpstreamFailed(
                f"upstream {self.base_url} named the token realm {realm[:200]}, which is refused: {why}"
            )
        query = {"service": params["service"]} if "service" in params else {}
        if scope:
            query["scope"] = scope
        # the credentials go to the realm only where it is the upstream itself or passed the rule above
        headers = {"Authorization": basic} if (basic := self._basic()) else {}
        try:
            async with self.session.get(
                realm, params=query, headers=headers, timeout=TIMEOUT, allow_redirects=False
            ) as response:
                if response.status != 200:
                    raise UpstreamFailed(
                        f"upstream {self.base_url} refused a token ({response.status} from {realm})"
                        + ("; check the credentials in the rule's secret" if self.credentials else "")
                    )
                what = f"upstream {self.base_url}'s token endpoint {realm}"
                body = json.loads(await read_capped(response, MAX_TOKEN_ANSWER, what, UpstreamFailed))
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            raise UpstreamFailed(f"upstream {self.base_url}: token request to {realm} failed: {exc}") from None
        if not isinstance(body, dict):
            raise UpstreamFailed(f"upstream {self.base_url}: the token endpoint answered no JSON object")
        token = body.get("token") or body.get("access_token")
        if not token or not isinstance(token, str):
            raise UpstreamFailed(f"upstream {self.base_url}: the token endpoint gave no token")
        value = f"Bearer {token}"
        lifetime = body.get("expires_in")
        lifetime = lifetime if isinstance(lifetime, int) and not isinstance(lifetime, bool) else 60
        self._tokens[scope] = (value, time.monotonic() + min(max(30, lifetime), 86400) - 10)
        return value

    @asynccontextmanager
    async def _request(self, method: str, path: str, scope: str, headers: dict[str, str] | None = None):
        """A response to `method path`, authenticated as the upstream asks (one retry after a
        401 challenge); raises UpstreamFailed unless the status is 2xx."""
        url = f"{self.base_url}{path}"
        cached = self._tokens.get(scope)
        auth = cached[0] if cached and cached[1] > time.monotonic() else None
        for attempt in (1, 2):
            sent = {**(headers or {}), **({"Authorization": auth} if auth else {})}
            try:
                response = await self._follow(method, url, sent)
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                raise UpstreamFailed(f"upstream {self.base_url} is unreachable: {exc or type(exc).__name__}") from None
            try:
                if response.status == 401 and attempt == 1 and "WWW-Authenticate" in response.headers:
                    auth = await self._authorization(response.headers["WWW-Authenticate"], scope)
                    continue
                if response.status >= 300:
                    raise _failure(self.base_url, method, path, response)
                yield response
                return
            finally:
                response.release()

    async def _follow(self, method: str, url: str, headers: dict[str, str]) -> aiohttp.ClientResponse:
        """The answer to a request, following redirects where guard.py allows (a CDN over https,
        say) and never sending the upstream's Authorization to another origin."""
        for _ in range(MAX_REDIRECTS + 1):
            response = await self.session.request(method, url, headers=headers, timeout=TIMEOUT, allow_redirects=False)
            location = response.headers.get("Location")
            if response.status not in REDIRECTS or not location:
                return response
            response.release()
            target = urllib.parse.urljoin(url, location)
            if why := await self.destinations.refusal(target):
                raise UpstreamFailed(f"upstream {self.base_url} redirected {method} to {target[:200]}, refused: {why}")
            if origin(target) != origin(url):
                headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
            method, url = ("GET" if response.status == 303 else method), target
        raise UpstreamFailed(f"upstream {self.base_url} redirected more than {MAX_REDIRECTS} times")

    async def manifest(self, repository: str, reference: str, head: bool = False) -> UpstreamManifest:
        path = f"/v2/{repository}/manifests/{reference}"
        async with self._request("HEAD" if head else "GET", path, _pull(repository), {"Accept": ACCEPT}) as response:
            media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
            digest = response.headers.get("Docker-Content-Digest", "")
            if head:
                return UpstreamManifest(digest, media_type, None)
            # read whole (one read() may return less than a chunked answer holds), within the limit
            content = await read_capped(response, MAX_MANIFEST, f"upstream {self.base_url}'s manifest", UpstreamFailed)
            return UpstreamManifest(digest, media_type, content)

    @asynccontextmanager
    async def blob(self, repository: str, digest: str):
        """The blob's size and its bytes as they arrive (redirects to a CDN are followed)."""
        async with self._request("GET", f"/v2/{repository}/blobs/{digest}", _pull(repository)) as response:
            if response.content_length is None:
                raise UpstreamFailed(f"upstream {self.base_url} sent {digest} without a length")
            yield UpstreamBlob(response.content_length, self._chunks(response, digest))

    async def _chunks(self, response: aiohttp.ClientResponse, digest: str) -> AsyncIterator[bytes]:
        try:
            async for chunk in response.content.iter_chunked(CHUNK):
                yield chunk
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise UpstreamFailed(f"upstream {self.base_url} broke off sending {digest}: {exc!r}") from None

    async def referrers(self, repository: str, digest: str) -> list[dict[str, Any]]:
        """The descriptors of the subject's referrers (an empty list when the upstream has no
        referrers API)."""
        path = f"/v2/{repository}/referrers/{digest}"
        try:
            async with self._request("GET", path, _pull(repository), {"Accept": OCI_INDEX}) as response:
                what = f"upstream {self.base_url}'s referrers of {digest}"
                index = json.loads(await read_capped(response, MAX_INDEX_ANSWER, what, UpstreamFailed))
        except UpstreamMissing:
            return []
        except ValueError:
            return []
        manifests = index.get("manifests") if isinstance(index, dict) else None
        return [m for m in manifests or [] if isinstance(m, dict) and isinstance(m.get("digest"), str)]

    async def check(self) -> None:
        """Reach /v2/ and authenticate as a pull would (ValidatePullThroughCacheRule)."""
        async with self._request("GET", "/v2/", ""):
            pass


def _pull(repository: str) -> str:
    return f"repository:{repository}:pull"


def _failure(base_url: str, method: str, path: str, response: aiohttp.ClientResponse) -> UpstreamFailed:
    status = response.status
    what = f"upstream {base_url} answered {status} to {method} {path}"
    if status == 429:
        retry = response.headers.get("Retry-After", "")
        return UpstreamRateLimited(f"{what} (rate limited)", float(retry) if retry.isdigit() else None)
    if status in (401, 403):
        return UpstreamFailed(f"{what}: the credentials were refused or do not grant a pull")
    return UpstreamMissing(what) if status == 404 else UpstreamFailed(what)


class Upstreams:
    """The upstream clients of one process, sharing one connection pool."""

    def __init__(self, allow_insecure: bool = False) -> None:
        self.allow_insecure = allow_insecure  # plain http token realms (as plain http upstreams)
        self._session: aiohttp.ClientSession | None = None
        self._clients: dict[tuple[str, tuple[str, str] | None], UpstreamRegistry] = {}

    def client(self, base_url: str, credentials: tuple[str, str] | None) -> UpstreamRegistry:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(auto_decompress=False)
            self._clients.clear()
        key = (base_url, credentials)
        if key not in self._clients:
            if len(self._clients) > 256:
                self._clients.clear()
            self._clients[key] = UpstreamRegistry(self._session, base_url, credentials, self.allow_insecure)
        return self._clients[key]

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
