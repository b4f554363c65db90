"""Helpers shared by the /v2/ handlers: service access, body reading, paging links."""

from __future__ import annotations

from urllib.parse import urlencode

from aiohttp import web

from ...domain.errors import LengthRequired
from ...domain.paging import parse_page_size
from ...services.blobs.service import Blobs
from ...services.images.manifests import Manifests
from ...services.images.reads import Reads
from ...services.repositories.lookup import Repositories
from ..auth import allowed
from ..limits import BODY_IDLE, content_length, idle_limited
from .uploads import range_headers, upload_location

__all__ = ["content_length", "range_headers", "upload_location"]

BLOBS = web.AppKey("blobs", Blobs)
MANIFESTS = web.AppKey("manifests", Manifests)
REPOSITORIES = web.AppKey("repositories", Repositories)
READS = web.AppKey("reads", Reads)  # the core's reads, as the features wrap them
API_VERSION = {"Docker-Distribution-API-Version": "registry/2.0"}


class RequestCaller:
    """The caller of a /v2 request on one repository, for a `Reads` wrapper that asks what else
    they may do there."""

    def __init__(self, request: web.Request, name: str) -> None:
        self.request, self.name = request, name

    async def may(self, action: str) -> bool:
        return await allowed(self.request, self.name, action)


def require_body_length(request: web.Request) -> int | None:
    """A body-carrying upload must say how long it is, or be chunked."""
    length = content_length(request)
    if length is None and "chunked" not in request.headers.get("Transfer-Encoding", "").lower():
        raise LengthRequired("Content-Length is required (or Transfer-Encoding: chunked)")
    return length


def request_body(request: web.Request):
    """A streamed body (an upload), chunk by chunk, ending with a 408 when the client stalls."""
    return idle_limited(request.content, request.app[BODY_IDLE])


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
