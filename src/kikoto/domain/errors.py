"""The OCI error codes, with their HTTP status, in one place.

Every failure a client can see is a RegistryError; the HTTP layer renders it with one function.
"""

from __future__ import annotations

from typing import Any

# code -> (HTTP status, default message). Codes from the distribution spec (code-1..code-14),
# plus PAGINATION_NUMBER_INVALID which CNCF Distribution uses for a bad `n`.
CODES: dict[str, tuple[int, str]] = {
    "BLOB_UNKNOWN": (404, "blob unknown to registry"),
    "BLOB_UPLOAD_INVALID": (400, "blob upload invalid"),
    "BLOB_UPLOAD_UNKNOWN": (404, "blob upload unknown to registry"),
    "DIGEST_INVALID": (400, "provided digest did not match uploaded content"),
    "MANIFEST_BLOB_UNKNOWN": (400, "manifest references a manifest or blob unknown to registry"),
    "MANIFEST_INVALID": (400, "manifest invalid"),
    "MANIFEST_UNKNOWN": (404, "manifest unknown to registry"),
    "NAME_INVALID": (400, "invalid repository name"),
    "NAME_UNKNOWN": (404, "repository name not known to registry"),
    "SIZE_INVALID": (400, "provided length did not match content length"),
    "UNAUTHORIZED": (401, "authentication required"),
    "DENIED": (403, "requested access to the resource is denied"),
    "UNSUPPORTED": (405, "the operation is unsupported"),
    "TOOMANYREQUESTS": (429, "too many requests"),
    "PAGINATION_NUMBER_INVALID": (400, "invalid number of results requested"),
    "TAG_INVALID": (400, "manifest tag did not match URI"),  # legacy code; ECR uses it for immutable tags
    "UNKNOWN": (500, "unknown error"),
}


class RegistryError(Exception):
    """A failure with an OCI error code; `status` overrides the code's usual HTTP status."""

    def __init__(
        self,
        code: str,
        message: str | None = None,
        detail: Any = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ):
        default_status, default_message = CODES[code]
        self.code = code
        self.message = message or default_message
        self.detail = detail
        self.status = status or default_status
        self.headers = headers or {}
        super().__init__(f"{code}: {self.message}")


class EcrError(Exception):
    """A failure in the ECR API's terms: an exception name from the service model and ECR's wording."""

    def __init__(self, error_type: str, message: str, status: int = 400, **extra: Any):
        super().__init__(f"{error_type}: {message}")
        self.error_type, self.message, self.status, self.extra = error_type, message, status, extra


def storage_full(detail: str = "") -> RegistryError:
    """The registry has no room for more bytes: an operator's problem, said plainly (507)."""
    return RegistryError("UNKNOWN", "the registry is out of storage space" + (f": {detail}" if detail else "")
                         + "; nothing was stored, try again once space is freed", status=507)
