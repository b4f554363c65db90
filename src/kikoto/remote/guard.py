"""What Kikötő reads from hosts it talks to on someone's behalf (an upstream, its token realm, a
peer, a webhook receiver), and where it lets them send it.

Every answer is read within a limit of its kind, so a hostile or broken host can make a worker
hold at most that much; the limit is named in the error. Redirects and token realms are hosts
the *remote* chooses, not the user who configured the rule: they are followed only over https (plain http only where
insecure upstreams are allowed, and then only to the configured upstream's own host or to a
token realm), and never to loopback, link-local or private addresses unless the configured
upstream is itself on such an address (a registry on a private network may redirect within it).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import urllib.parse
from collections.abc import Callable

import aiohttp

# The largest answer of each kind read into memory.
MAX_TOKEN_ANSWER = 1 << 20  # a token endpoint's JSON (Docker Hub's tokens are ~2 KiB)
MAX_INDEX_ANSWER = 4 << 20  # a referrers index, like a manifest
MAX_API_ANSWER = 8 << 20  # a peer's ECR API answer
MAX_ERROR_TEXT = 4 << 10  # what an error answer's body contributes to a message
MAX_REDIRECTS = 5
REDIRECTS = (301, 302, 303, 307, 308)


async def read_capped(
    response: aiohttp.ClientResponse, limit: int, what: str, failure: Callable[[str], Exception]
) -> bytes:
    """The whole body of `response`, or `failure(message)` once it passes `limit` bytes (a
    declared Content-Length over the limit is refused before anything is read)."""
    too_large = f"{what} answered more than {limit} bytes (the limit for such an answer)"
    if (response.content_length or 0) > limit:
        raise failure(too_large)
    body = bytearray()
    async for chunk in response.content.iter_chunked(64 << 10):
        body += chunk
        if len(body) > limit:
            raise failure(too_large)
    return bytes(body)


async def error_text(response: aiohttp.ClientResponse) -> str:
    """The start of an error answer's body, for a message: never more than MAX_ERROR_TEXT bytes
    are read, however much the host sends."""
    try:
        head = await response.content.read(MAX_ERROR_TEXT)
    except (TimeoutError, aiohttp.ClientError, OSError):
        return ""
    return head.decode("utf-8", "replace")[:300]


def origin(url: str) -> tuple[str, str, int | None]:
    parsed = urllib.parse.urlsplit(url)
    default = {"http": 80, "https": 443}.get(parsed.scheme)
    return parsed.scheme, (parsed.hostname or "").lower(), parsed.port or default


def internal(address: str) -> bool:
    """Whether an address is not on the public internet (loopback, link-local, private, ...)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global


async def addresses(host: str, port: int | None) -> list[str]:
    try:
        ipaddress.ip_address(host)
        return [host]
    except ValueError:
        pass
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return []  # unresolvable: the request itself fails and says so
    return [str(info[4][0]) for info in found]


def refusal(
    configured: str,
    target: str,
    target_internal: bool,
    configured_internal: bool,
    insecure: bool = False,
    realm: bool = False,
) -> str | None:
    """Why a request the remote asked for (a redirect, or with `realm` a token realm) may not go
    to `target`; None when it may. `insecure`: plain http upstreams are allowed, and then plain
    http is followed to the upstream's own host (its object store beside it, on another port)
    and to a token realm. Pure: the callers resolve the addresses."""
    if origin(target) == origin(configured):
        return None  # the upstream itself, as a user configured it
    scheme, host, _ = origin(target)
    same_host = host == origin(configured)[1]
    if scheme != "https" and not (scheme == "http" and insecure and (same_host or realm)):
        return "only https is followed to a host other than the configured upstream"
    if target_internal and not configured_internal:
        return "it is a loopback, link-local or private address and the upstream is not"
    return None


class Destinations:
    """The redirect and realm rule for one configured upstream."""

    def __init__(self, configured: str, allow_insecure: bool) -> None:
        self.configured, self.allow_insecure = configured, allow_insecure
        self._configured_internal: bool | None = None

    async def _is_internal(self, url: str) -> bool:
        _, host, port = origin(url)
        found = await addresses(host, port)
        return any(internal(a) for a in found)

    async def refusal(self, target: str, realm: bool = False) -> str | None:
        if origin(target) == origin(self.configured):
            return None
        if self._configured_internal is None:
            self._configured_internal = await self._is_internal(self.configured)
        return refusal(
            self.configured,
            target,
            await self._is_internal(target),
            self._configured_internal,
            insecure=self.allow_insecure,
            realm=realm,
        )
