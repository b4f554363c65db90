"""The per-address rate limit, checked before any other work: a refusal in the format of the
face the request was for (so it sits above both faces, beside neither)."""

from __future__ import annotations

from aiohttp import web

from ..domain.errors import Throttled
from .ecr.errors import ecr_error_response
from .limits import RATE_LIMITS


@web.middleware
async def address_rate_middleware(request: web.Request, handler):
    """Per client address, before any other work (authentication included)."""
    limits = request.app[RATE_LIMITS]
    if limits.enabled and (wait := limits.check("address", request.remote or "")):
        error = Throttled(f"too many requests from {request.remote}", wait)
        if request.path == "/" and request.method == "POST":  # the ECR face speaks its own error format
            return ecr_error_response(error, "", "")
        raise error
    return await handler(request)
