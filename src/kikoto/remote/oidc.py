"""An OpenID Connect issuer's signing keys: its discovery document, then its JWKS, each read
within a limit and a time, over https (plain http only where insecure issuers are allowed, for
tests and private networks), kept ten minutes."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import aiohttp

from ..domain.errors import UpstreamFailed
from .guard import read_capped

MAX_DOCUMENT = 256 << 10  # a discovery document or a key set
TTL = 600.0
RETRY = 30.0  # after a failure, seconds before the issuer is asked again


class Issuers:
    def __init__(self, insecure: bool = False, timeout: float = 10.0, offline: Path | None = None) -> None:
        """`offline`: a folder of key sets for sites that cannot reach their issuer, one file an
        issuer, named after it without its scheme (`token.actions.githubusercontent.com.json`,
        `/` as `_`); such a file is used instead of fetching."""
        self.insecure, self.timeout, self.offline = insecure, timeout, offline
        self._keys: dict[str, tuple[float, dict[str, Any]]] = {}
        self._failed: dict[str, tuple[float, str]] = {}  # an issuer that did not answer, for a while

    def _check(self, url: str) -> None:
        if not (url.startswith("https://") or (self.insecure and url.startswith("http://"))):
            raise UpstreamFailed(f"an OpenID Connect issuer is reached over https: {url[:200]}")

    async def _json(self, session: aiohttp.ClientSession, url: str, what: str) -> dict[str, Any]:
        self._check(url)
        async with session.get(url, allow_redirects=False) as response:
            body = await read_capped(response, MAX_DOCUMENT, what, UpstreamFailed)
            if response.status != 200:
                raise UpstreamFailed(f"{what} answered {response.status}")
        try:
            found = json.loads(body)
        except ValueError:
            raise UpstreamFailed(f"{what} is not JSON") from None
        if not isinstance(found, dict):
            raise UpstreamFailed(f"{what} is not a JSON object")
        return found

    async def keys(self, issuer: str) -> dict[str, Any]:
        """The issuer's JWKS (`{"keys": [...]}`)."""
        cached = self._keys.get(issuer)
        if cached and time.monotonic() - cached[0] < TTL:
            return cached[1]
        if self.offline is not None:
            name = issuer.split("://", 1)[-1].rstrip("/").replace("/", "_") + ".json"
            path = self.offline / name
            if path.is_file():
                try:
                    found = json.loads(path.read_text()[:MAX_DOCUMENT])
                except ValueError:
                    raise UpstreamFailed(f"{path} is not a JSON key set") from None
                if not isinstance(found, dict) or not isinstance(found.get("keys"), list):
                    raise UpstreamFailed(f"{path} has no keys")
                self._keys[issuer] = (time.monotonic(), found)
                return found
        failed = self._failed.get(issuer)
        if failed and time.monotonic() - failed[0] < RETRY:  # unsigned requests cannot make us fetch again and again
            raise UpstreamFailed(failed[1])
        try:
            try:
                return await self._fetch(issuer)
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                raise UpstreamFailed(f"the issuer could not be reached: {type(exc).__name__}") from None
        except UpstreamFailed as failure:
            self._failed[issuer] = (time.monotonic(), failure.message)
            raise

    async def _fetch(self, issuer: str) -> dict[str, Any]:
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            discovery = await self._json(
                session, issuer.rstrip("/") + "/.well-known/openid-configuration", "the discovery document"
            )
            jwks_uri = discovery.get("jwks_uri")
            if not isinstance(jwks_uri, str):
                raise UpstreamFailed("the discovery document names no jwks_uri")
            found = await self._json(session, jwks_uri, "the key set")
        if not isinstance(found.get("keys"), list):
            raise UpstreamFailed("the key set has no keys")
        self._keys[issuer] = (time.monotonic(), found)
        return found
