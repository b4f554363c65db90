"""Helpers shared by the /v2/ handlers: service access, body reading, paging links."""

from __future__ import annotations

from urllib.parse import urlencode

from aiohttp import web

from ...domain.errors import RegistryError
from ...domain.paging import parse_page_size
from ...services.blobs import Blobs
from ...services.manifests import Manifests
from ...services.repositories import Repositories

BLOBS = web.AppKey("blobs", Blobs)
MANIFESTS = web.AppKey("manifests", Manifests)
REPOSITORIES = web.AppKey("repositories", Repositories)
API_VERSION = {"Docker-Distribution-API-Version": "registry/2.0"}


def content_length(request: web.Request) -> int | None:
    raw = request.headers.get("Content-Length")
    if raw is None:
        return None
    if not raw.strip().isdigit():
        raise RegistryError("SIZE_INVALID", f"invalid Content-Length {raw!r}")
    return int(raw)


def require_body_length(request: web.Request) -> int | None:
    """A body-carrying upload must say how long it is, or be chunked."""
    length = content_length(request)
    if length is None and "chunked" not in request.headers.get("Transfer-Encoding", "").lower():
        raise RegistryError("SIZE_INVALID", "Content-Length is required (or Transfer-Encoding: chunked)", status=411)
    return length


async def read_limited(request: web.Request, limit: int) -> bytes:
    length = content_length(request)
    too_big = RegistryError("SIZE_INVALID", f"body exceeds the {limit} byte limit", status=413)
    if length is not None and length > limit:
        raise too_big
    parts, total = [], 0
    async for chunk in request.content.iter_any():
        total += len(chunk)
        if total > limit:
            raise too_big
        parts.append(chunk)
    return b"".join(parts)


def next_link(path: str, params: dict[str, str | int | None]) -> str:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return f'<{path}?{query}>; rel="next"'


def head_response(headers: dict[str, str], size: int) -> web.Response:
    """A HEAD answer that announces the size of the body a GET would send."""
    return web.Response(headers={**headers, "Content-Length": str(size)})


async def paged(request: web.Request, path: str, fetch) -> tuple[list[str], dict[str, str]]:
    """`n`/`last` paging shared by the tag list and the catalog: asks `fetch(limit, last)` for
    one item more than the page to learn whether a Link to the next page is due."""
    limit, last = parse_page_size(request.query.get("n")), request.query.get("last") or None
    headers = dict(API_VERSION)
    if limit == 0:
        return [], headers
    items = await fetch(None if limit is None else limit + 1, last)
    if limit is not None and len(items) > limit:
        items = items[:limit]
        headers["Link"] = next_link(path, {"n": limit, "last": items[-1]})
    return items, headers
