"""Rendering failures as OCI error JSON: the one place an error becomes a response."""

from __future__ import annotations

import errno
import json
import logging

from aiohttp import web

from ..domain.errors import RegistryError, storage_full

log = logging.getLogger("kikoto.http")
NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def oci_error_response(error: RegistryError, head: bool = False) -> web.Response:
    entry = {"code": error.code, "message": error.message}
    if error.detail is not None:
        entry["detail"] = error.detail
    body = None if head else json.dumps({"errors": [entry]}).encode()
    headers = {"Docker-Distribution-API-Version": "registry/2.0", **error.headers}
    return web.Response(status=error.status, body=body, content_type="application/json", headers=headers)


def out_of_space(exc: BaseException) -> bool:
    """A full disk, from a file write or from the database ("database or disk is full")."""
    if isinstance(exc, OSError):
        return exc.errno in NO_SPACE
    return "database or disk is full" in str(exc)


ROUTER_ERRORS = {404: "UNSUPPORTED", 405: "UNSUPPORTED", 413: "SIZE_INVALID", 416: "BLOB_UPLOAD_INVALID"}


@web.middleware
async def error_middleware(request: web.Request, handler):
    head = request.method == "HEAD"
    try:
        return await handler(request)
    except RegistryError as error:
        return oci_error_response(error, head)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = ROUTER_ERRORS.get(exc.status, "UNSUPPORTED" if exc.status < 500 else "UNKNOWN")
        error = RegistryError(code, exc.reason, status=exc.status)
        if exc.status == 404:
            error.message = f"no such endpoint: {request.method} {request.path}"
        response = oci_error_response(error, head)
        if exc.status == 405 and "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except Exception as exc:
        if out_of_space(exc):
            log.error("out of storage space during %s %s: %s", request.method, request.path, exc)
            return oci_error_response(storage_full(), head)
        if isinstance(exc, OSError):
            log.info("client went away during %s %s: %s", request.method, request.path, exc)
            raise
        log.exception("unhandled error in %s %s", request.method, request.path)
        return oci_error_response(RegistryError("UNKNOWN", "internal error; see the server log"), head)
