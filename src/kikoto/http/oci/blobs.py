"""/v2/<name>/blobs/... : blob reads and deletes, and the upload protocol."""

from __future__ import annotations

import logging
from pathlib import Path

from aiohttp import web

from ...domain.digests import parse_digest
from ...domain.errors import KikotoError
from ...domain.names import is_valid_name
from ..auth import ACCOUNT, allowed, authorize, wire_name
from ..services import REGISTRY_SETTINGS
from .common import (
    API_VERSION,
    BLOBS,
    READS,
    RequestCaller,
    content_length,
    head_response,
    range_headers,
    request_body,
    require_body_length,
)
from .sendfile import ZeroCopyFileResponse

OCTET = "application/octet-stream"
log = logging.getLogger("kikoto.http")


def _blob_headers(digest: str) -> dict[str, str]:
    return {
        **API_VERSION,
        "Docker-Content-Digest": digest,
        "Content-Type": OCTET,
        "ETag": f'"{digest}"',
        "Cache-Control": "max-age=31536000",
    }


async def get_blob(request: web.Request) -> web.StreamResponse:
    name, digest = request.match_info["name"], request.match_info["digest"]
    await authorize(request, name, "ecr:GetDownloadUrlForLayer")
    blobs = request.app[BLOBS]
    whole = "Range" not in request.headers
    content, token = blobs.served(name, digest) if whole else (None, None)
    if content is not None:
        return web.Response(body=content, headers=_blob_headers(digest))
    location = await request.app[READS].blob(name, digest, RequestCaller(request, name))
    if whole and (content := blobs.small_content(location)) is not None:
        blobs.remember(name, digest, token)
        return web.Response(body=content, headers=_blob_headers(location.digest))
    if isinstance(location.target, Path):
        return ZeroCopyFileResponse(location.target, headers=_blob_headers(location.digest))
    if location.target is None:  # copied through: from the object store, or as a feature fetches it
        response = web.StreamResponse(headers={**_blob_headers(location.digest), "Content-Length": str(location.size)})
        await response.prepare(request)
        try:
            async for chunk in location.stream or blobs.stream(location.digest):
                await response.write(chunk)
        except KikotoError as failure:  # the source failed mid-blob: cut the connection short
            log.warning("%s in %s failed mid-stream: %s", digest, name, failure.message)
            if request.transport is not None:
                request.transport.close()
            return response
        await response.write_eof()
        return response
    raise web.HTTPTemporaryRedirect(location.target, headers={**API_VERSION, "Docker-Content-Digest": digest})


async def head_blob(request: web.Request) -> web.Response:
    name, digest = request.match_info["name"], request.match_info["digest"]
    await authorize(request, name, "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability")
    size = await request.app[READS].blob_size(name, digest, RequestCaller(request, name))
    return head_response(_blob_headers(digest), size)


async def delete_blob(request: web.Request) -> web.Response:
    name, digest = request.match_info["name"], request.match_info["digest"]
    await authorize(request, name, "ecr:BatchDeleteImage")
    await request.app[BLOBS].delete(name, digest)
    return web.Response(status=202, headers=API_VERSION)


def _created(name: str, digest: str) -> web.Response:
    return web.Response(
        status=201, headers={**API_VERSION, "Location": f"/v2/{name}/blobs/{digest}", "Docker-Content-Digest": digest}
    )


def _accepted(name: str, upload_id: str, offset: int, status: int = 202) -> web.Response:
    return web.Response(status=status, headers={**API_VERSION, **range_headers(name, upload_id, offset)})


async def start_upload(request: web.Request) -> web.Response:
    name, query, blobs = request.match_info["name"], request.query, request.app[BLOBS]
    await authorize(request, name, "ecr:InitiateLayerUpload")
    mounting = request.app[REGISTRY_SETTINGS].blob_mounting  # the account's BLOB_MOUNTING setting
    if "mount" in query and await mounting(request[ACCOUNT].account):
        source = query.get("from") or None  # a name in the caller's account (a key, another's: refused)
        source = request[ACCOUNT].key(source) if source and is_valid_name(source) else None
        if await blobs.mount(
            name, query["mount"], source, lambda repo: allowed(request, repo, "ecr:GetDownloadUrlForLayer")
        ):
            return _created(wire_name(request), str(parse_digest(query["mount"])))
    elif "digest" in query:
        length = require_body_length(request)
        digest = await blobs.upload_whole(name, query["digest"], request_body(request), length)
        return _created(wire_name(request), digest)
    state = await blobs.start_upload(name, query.get("digest-algorithm", "sha256"))
    return _accepted(wire_name(request), state.id, state.offset)


async def upload_status(request: web.Request) -> web.Response:
    name, upload_id = request.match_info["name"], request.match_info["upload"]
    await authorize(request, name, "ecr:UploadLayerPart")
    state = await request.app[BLOBS].status(name, upload_id)
    return _accepted(wire_name(request), upload_id, state.offset, status=204)


async def patch_upload(request: web.Request) -> web.Response:
    name, upload_id = request.match_info["name"], request.match_info["upload"]
    await authorize(request, name, "ecr:UploadLayerPart")
    length = require_body_length(request)
    state = await request.app[BLOBS].append(
        name, upload_id, request_body(request), request.headers.get("Content-Range"), length
    )
    return _accepted(wire_name(request), upload_id, state.offset)


async def finish_upload(request: web.Request) -> web.Response:
    name, upload_id = request.match_info["name"], request.match_info["upload"]
    await authorize(request, name, "ecr:CompleteLayerUpload")
    digest = await request.app[BLOBS].finish(
        name,
        upload_id,
        request.query.get("digest", ""),
        request_body(request),
        request.headers.get("Content-Range"),
        content_length(request),
    )
    return _created(wire_name(request), digest)


async def cancel_upload(request: web.Request) -> web.Response:
    name, upload_id = request.match_info["name"], request.match_info["upload"]
    await authorize(request, name, "ecr:InitiateLayerUpload")
    await request.app[BLOBS].cancel(name, upload_id)
    return web.Response(status=204, headers=API_VERSION)
