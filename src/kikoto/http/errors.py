"""The OCI face's errors: the one place a failure becomes an OCI error response.

Domain errors are translated by class through `OCI_ERRORS` (the most specific class in the
error's MRO wins); errors that only exist on the wire (a challenge, the router's 404) are
`OciError`s raised by the face itself.
"""

from __future__ import annotations

import errno
import json
import logging
from typing import Any

from aiohttp import web

from ..domain import errors as e
from .oci.uploads import range_headers  # the upload protocol's headers

log = logging.getLogger("kikoto.http")
NO_SPACE = (errno.ENOSPC, errno.EDQUOT)

# class -> (OCI code, HTTP status). Codes from the distribution spec, plus Distribution's
# PAGINATION_NUMBER_INVALID; TAG_INVALID is what ECR's registry endpoint answers for an immutable tag.
OCI_ERRORS: dict[type, tuple[str, int]] = {
    e.KikotoError: ("UNKNOWN", 400),
    e.NotFound: ("NAME_UNKNOWN", 404),
    e.ImageNotFound: ("MANIFEST_UNKNOWN", 404),
    e.BlobNotFound: ("BLOB_UNKNOWN", 404),
    e.LayerNotFound: ("BLOB_UNKNOWN", 404),
    e.UploadNotFound: ("BLOB_UPLOAD_UNKNOWN", 404),
    e.AlreadyExists: ("DENIED", 409),
    e.TagImmutable: ("TAG_INVALID", 400),
    e.InvalidInput: ("UNSUPPORTED", 400),
    e.NameInvalid: ("NAME_INVALID", 400),
    e.DigestInvalid: ("DIGEST_INVALID", 400),
    e.LayerInvalid: ("DIGEST_INVALID", 400),
    e.ManifestInvalid: ("MANIFEST_INVALID", 400),
    e.ManifestTooLarge: ("SIZE_INVALID", 413),
    e.ReferencedImageUnknown: ("MANIFEST_BLOB_UNKNOWN", 400),
    e.ReferencedBlobUnknown: ("MANIFEST_BLOB_UNKNOWN", 400),
    e.PageSizeInvalid: ("PAGINATION_NUMBER_INVALID", 400),
    e.SizeInvalid: ("SIZE_INVALID", 400),
    e.LengthRequired: ("SIZE_INVALID", 411),
    e.BodyTooLarge: ("SIZE_INVALID", 413),
    e.UploadInvalid: ("BLOB_UPLOAD_INVALID", 400),
    e.UploadOutOfOrder: ("BLOB_UPLOAD_INVALID", 416),
    e.UploadBusy: ("BLOB_UPLOAD_INVALID", 416),
    e.AccessDenied: ("DENIED", 403),
    e.ImageArchived: ("DENIED", 403),
    e.Unsupported: ("UNSUPPORTED", 405),
    e.Throttled: ("TOOMANYREQUESTS", 429),
    e.RequestTimeout: ("SIZE_INVALID", 408),
    e.StorageFull: ("UNKNOWN", 507),
    e.StoreUnavailable: ("UNAVAILABLE", 503),  # the database or the object store, for now
    e.UpstreamFailed: ("UNAVAILABLE", 503),
    e.UpstreamMissing: ("NAME_UNKNOWN", 404),  # (answered as MANIFEST_UNKNOWN or BLOB_UNKNOWN by the cache)
    e.UpstreamRateLimited: ("TOOMANYREQUESTS", 429),  # Distribution's code for a registry that cannot answer now
}


class OciError(Exception):
    """An error of the OCI wire itself (a challenge, an unknown route), already in its terms."""

    def __init__(
        self, code: str, message: str, status: int, headers: dict[str, str] | None = None, detail=None
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.status = code, message, status
        self.headers, self.detail = headers or {}, detail


def lookup(table: dict[type, tuple[Any, ...]], error: BaseException) -> tuple[Any, ...]:
    """The entry of the most specific class of `error` in `table`."""
    for cls in type(error).__mro__:
        if cls in table:
            return table[cls]
    raise KeyError(type(error))


def as_oci(error: e.KikotoError | OciError) -> OciError:
    if isinstance(error, OciError):
        return error
    code, status = lookup(OCI_ERRORS, error)
    headers = {}
    if isinstance(error, e.UploadOutOfOrder):
        headers = range_headers(error.repository, error.upload_id, error.offset)
    elif isinstance(error, e.Throttled | e.UpstreamRateLimited | e.StoreUnavailable):  # ours, or the upstream's
        headers = {"Retry-After": str(max(1, int((error.retry_after or 60) + 0.999)))}
    elif isinstance(error, e.RequestTimeout):
        headers = {"Connection": "close"}
    return OciError(code, error.message, status, headers, error.detail)


def oci_error_response(error: e.KikotoError | OciError, head: bool = False) -> web.Response:
    error = as_oci(error)
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


# A /v2 request's repository name as its client gave it (auth.py makes the route's "name" its key)
WIRE_NAME = web.RequestKey("wire_name", str)


def _as_named(request: web.Request, error: OciError) -> OciError:
    """The error with the repository named as the client named it, not by its key (another
    account's repository: domain/accounts.py)."""
    key, wire = request.match_info.get("name"), request.get(WIRE_NAME)
    if not wire or not key or key == wire:
        return error
    detail = json.loads(json.dumps(error.detail).replace(json.dumps(key)[1:-1], wire))
    headers = {k: v.replace(key, wire) for k, v in error.headers.items()}
    return OciError(error.code, error.message.replace(key, wire), error.status, headers, detail)


@web.middleware
async def error_middleware(request: web.Request, handler):
    head = request.method == "HEAD"
    try:
        return await handler(request)
    except (e.KikotoError, OciError) as error:
        return oci_error_response(_as_named(request, as_oci(error)), head)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = ROUTER_ERRORS.get(exc.status, "UNSUPPORTED" if exc.status < 500 else "UNKNOWN")
        message = f"no such endpoint: {request.method} {request.path}" if exc.status == 404 else exc.reason
        response = oci_error_response(OciError(code, message, exc.status), head)
        if exc.status == 405 and "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except Exception as exc:
        if out_of_space(exc):
            log.error("out of storage space during %s %s: %s", request.method, request.path, exc)
            return oci_error_response(e.storage_full(), head)
        if isinstance(exc, OSError):
            log.info("client went away during %s %s: %s", request.method, request.path, exc)
            raise
        log.exception("unhandled error in %s %s", request.method, request.path)
        return oci_error_response(OciError("UNKNOWN", "internal error; see the server log", 500), head)
