"""Verifying AWS Signature Version 4 on incoming requests, with botocore's own canonicalisation.

We rebuild the request as botocore would have signed it (same method, path, query, the
headers the client listed as signed, the body hash) and let botocore's SigV4Auth compute
the signature with the secret we hold; then compare in constant time.
"""

from __future__ import annotations

import calendar
import hashlib
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


class SignatureError(Exception):
    def __init__(self, error_type: str, message: str):
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
    def __init__(self, credentials, service, region, signed_headers):
        super().__init__(credentials, service, region)
        self._signed = signed_headers

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
        raise SignatureError("IncompleteSignatureException",
                             "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' "
                             "parameters in AWS4-HMAC-SHA256 form.")
    timestamp = headers.get("X-Amz-Date", "")
    if not re.fullmatch(r"\d{8}T\d{6}Z", timestamp):
        raise SignatureError("IncompleteSignatureException", "Authorization header requires existence of "
                             "either a 'X-Amz-Date' or a 'Date' header.")
    return SignedRequest(match["key"], match["region"], match["service"], tuple(match["headers"].split(";")),
                         match["signature"], timestamp)


def check_clock(timestamp: str, now: float | None = None) -> None:
    now = time.time() if now is None else now
    signed_at = calendar.timegm(time.strptime(timestamp, "%Y%m%dT%H%M%SZ"))
    if abs(now - signed_at) > CLOCK_SKEW:
        fmt = lambda t: time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(t))  # noqa: E731
        relation = "earlier" if signed_at < now else "later"
        bound = now - CLOCK_SKEW if signed_at < now else now + CLOCK_SKEW
        sign = "-" if signed_at < now else "+"
        raise SignatureError("InvalidSignatureException",
                             f"Signature expired: {timestamp} is now {relation} than {fmt(bound)} "
                             f"({fmt(now)} {sign} 15 min.)")


def verify(signed: SignedRequest, secret: str, method: str, url: str, headers, body: bytes) -> None:
    """Raise SignatureError unless `signature` is what `secret` makes of this request."""
    declared = headers.get("X-Amz-Content-SHA256")
    if declared and declared != "UNSIGNED-PAYLOAD" and declared != hashlib.sha256(body).hexdigest():
        raise SignatureError("InvalidSignatureException", "The provided 'x-amz-content-sha256' header does not "
                             "match what was computed.")
    request = AWSRequest(method=method, url=url, data=body)
    request.headers = HTTPHeaders()
    for name, value in headers.items():
        if name.lower() in signed.signed_headers:
            request.headers[name.lower()] = value
    request.context["timestamp"] = signed.timestamp
    verifier = _Verifier(Credentials(signed.key_id, secret), signed.service, signed.region, signed.signed_headers)
    canonical = verifier.canonical_request(request)
    expected = verifier.signature(verifier.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, signed.signature):
        raise SignatureError("InvalidSignatureException",
                             "The request signature we calculated does not match the signature you provided. "
                             "Check your AWS Secret Access Key and signing method. Consult the service "
                             "documentation for details.")
