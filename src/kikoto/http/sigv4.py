"""Verifying AWS Signature Version 4 on incoming requests, with botocore's own canonicalisation.

We rebuild the request as botocore would have signed it (same method, path, query, the
headers the client listed as signed, the body hash) and let botocore's SigV4Auth compute
the signature with the secret we hold; then compare in constant time.
"""

from __future__ import annotations

import calendar
import hmac
import re
import time
from dataclasses import dataclass

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials

AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=(?P<key>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[^/,\s]+)/(?P<service>[^/,\s]+)"
    r"/aws4_request,\s*SignedHeaders=(?P<headers>[a-z0-9;._-]+),\s*Signature=(?P<signature>[0-9a-f]{64})"
)
CLOCK_SKEW = 15 * 60
# Headers a signature must cover, as AWS requires: otherwise a captured request could be sent
# to another host, re-targeted to another operation or re-typed. Every other `x-amz-*` header
# present must be signed as well.
REQUIRED_SIGNED = ("host", "x-amz-date", "x-amz-target", "content-type")


class SignatureError(Exception):
    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type, self.message = error_type, message


@dataclass(frozen=True)
class SignedRequest:
    key_id: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    timestamp: str


class _Verifier(SigV4Auth):
    def __init__(self, credentials, service, region, signed_headers, body_hash) -> None:
        super().__init__(credentials, service, region)
        self._signed = signed_headers
        self._body_hash = body_hash

    def payload(self, request):
        return self._body_hash  # the hash of the bytes we received, never UNSIGNED-PAYLOAD

    def headers_to_sign(self, request):
        header_map = HTTPHeaders()
        for name in self._signed:
            for value in request.headers.get_all(name) or []:
                header_map[name] = value  # an email.message: assignment appends
        return header_map


def parse_authorization(headers) -> SignedRequest:
    header = headers.get("Authorization")
    if not header:
        raise SignatureError("MissingAuthenticationTokenException", "Missing Authentication Token")
    match = AUTHORIZATION.fullmatch(header.strip())
    if not match:
        raise SignatureError(
            "IncompleteSignatureException",
            "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' "
            "parameters in AWS4-HMAC-SHA256 form.",
        )
    timestamp = headers.get("X-Amz-Date", "")
    if not re.fullmatch(r"\d{8}T\d{6}Z", timestamp):
        raise SignatureError(
            "IncompleteSignatureException",
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        )
    signed = SignedRequest(
        match["key"],
        match["region"],
        match["service"],
        tuple(match["headers"].split(";")),
        match["signature"],
        timestamp,
    )
    present = {name.lower() for name in headers}
    for name in sorted(present):
        if (name in REQUIRED_SIGNED or name.startswith("x-amz-")) and name not in signed.signed_headers:
            raise SignatureError("InvalidSignatureException", f"'{name}' must be a signed header.")
    for name in ("host", "x-amz-date"):
        if name not in signed.signed_headers:
            raise SignatureError("InvalidSignatureException", f"'{name}' must be a signed header.")
    if headers.get("X-Amz-Content-SHA256", "").startswith(("UNSIGNED-PAYLOAD", "STREAMING-")):
        raise SignatureError(
            "InvalidSignatureException",
            "The request payload must be signed: UNSIGNED-PAYLOAD is not accepted by this API.",
        )
    return signed


def check_clock(timestamp: str, now: float | None = None) -> None:
    now = time.time() if now is None else now
    try:
        signed_at = calendar.timegm(time.strptime(timestamp, "%Y%m%dT%H%M%SZ"))
    except ValueError:  # month 13, hour 25, ...: well-formed digits that are not a date
        raise SignatureError(
            "IncompleteSignatureException",
            f"Date must be in ISO-8601 'basic format'. Got '{timestamp}'. See http://en.wikipedia.org/wiki/ISO_8601",
        ) from None
    if abs(now - signed_at) > CLOCK_SKEW:
        fmt = lambda t: time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(t))  # noqa: E731
        relation = "earlier" if signed_at < now else "later"
        bound = now - CLOCK_SKEW if signed_at < now else now + CLOCK_SKEW
        sign = "-" if signed_at < now else "+"
        raise SignatureError(
            "InvalidSignatureException",
            f"Signature expired: {timestamp} is now {relation} than {fmt(bound)} ({fmt(now)} {sign} 15 min.)",
        )


def verify(signed: SignedRequest, secret: str, method: str, url: str, headers, body_hash: str) -> None:
    """Raise SignatureError unless `signature` is what `secret` makes of this request, whose
    body (already read within its limits) hashes to `body_hash`."""
    declared = headers.get("X-Amz-Content-SHA256")
    if declared and declared != body_hash:
        raise SignatureError(
            "InvalidSignatureException", "The provided 'x-amz-content-sha256' header does not match what was computed."
        )
    request = AWSRequest(method=method, url=url)
    request.headers = HTTPHeaders()
    for name, value in headers.items():
        if name.lower() in signed.signed_headers:
            request.headers[name.lower()] = value
    request.context["timestamp"] = signed.timestamp
    verifier = _Verifier(
        Credentials(signed.key_id, secret), signed.service, signed.region, signed.signed_headers, body_hash
    )
    canonical = verifier.canonical_request(request)
    expected = verifier.signature(verifier.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, signed.signature):
        raise SignatureError(
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method. Consult the service "
            "documentation for details.",
        )
