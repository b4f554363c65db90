"""What one client may make a worker spend: request bodies held in memory, time a request may
idle, and (when configured) requests per second.

Bodies: every body read into memory (an ECR request, a manifest) reserves its size from one
per-worker budget before the first byte is read, so the bytes all clients together can make a
worker hold are bounded; beyond the budget the request is refused with 429 TOOMANYREQUESTS (the
ECR face says ThrottlingException). Every read of a body gives up after `idle` seconds without
a byte: a stalled client cannot hold a buffer, an upload lock or a connection for ever.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from contextlib import contextmanager

from aiohttp import web

from ..domain.errors import BodyTooLarge, RequestTimeout, SizeInvalid, Throttled

BUDGET = web.AppKey("body_budget", object)
RATE_LIMITS = web.AppKey("rate_limits", object)
BODY_IDLE = web.AppKey("body_idle_timeout", float)


class BodyBudget:
    """Bytes of request bodies held in memory by this worker, all requests together."""

    def __init__(self, limit: int) -> None:
        self.limit, self.used = limit, 0

    @contextmanager
    def reserve(self, size: int):
        if self.used + size > self.limit:
            raise Throttled(f"the server is holding {self.used} bytes of request bodies; try again shortly")
        self.used += size
        try:
            yield
        finally:
            self.used -= size


WIDE_READS = 1 << 20


def widen(stream) -> None:
    """Let an authenticated body arrive in 1 MiB reads: aiohttp pauses the socket whenever its
    buffer passes the limit (64 KiB until the caller is known), sixteen times a MiB otherwise."""
    if getattr(stream, "_low_water", WIDE_READS) < WIDE_READS:
        stream._low_water, stream._high_water = WIDE_READS, 2 * WIDE_READS


async def idle_limited(stream, idle: float):
    """The chunks of a request body (from a caller already authenticated: reads are widened),
    giving up when none arrives for `idle` seconds."""
    widen(stream)
    while True:
        try:
            async with asyncio.timeout(idle):
                chunk = await stream.readany()
        except TimeoutError:
            raise RequestTimeout(f"no request body bytes arrived for {idle:g} seconds") from None
        if not chunk:
            return
        yield chunk


def content_length(request: web.Request) -> int | None:
    raw = request.headers.get("Content-Length")
    if raw is None:
        return None
    if not (raw.strip().isascii() and raw.strip().isdigit()) or len(raw.strip()) > 18:
        raise SizeInvalid(f"invalid Content-Length {raw[:32]!r}")
    return int(raw)


async def read_body(request: web.Request, limit: int, hasher: hashlib._Hash | None = None) -> bytes:
    """The whole body, at most `limit` bytes, reserved from the worker's budget up front (the
    announced length, or `limit` for a chunked body) and hashed as it arrives when asked."""
    length = content_length(request)
    if length is not None and length > limit:
        raise BodyTooLarge(f"body exceeds the {limit} byte limit")
    with request.app[BUDGET].reserve(limit if length is None else length):
        body = bytearray()
        async for chunk in idle_limited(request.content, request.app[BODY_IDLE]):
            if len(body) + len(chunk) > limit:
                raise BodyTooLarge(f"body exceeds the {limit} byte limit")
            body += chunk
            if hasher is not None:
                hasher.update(chunk)
        return bytes(body)


class RateLimits:
    """Token buckets per principal and per client address (per worker: a limit of N per second
    with W workers admits up to N*W per second on the host). Off when the rate is 0."""

    KEEP = 100_000  # buckets remembered; the least recently used go first

    def __init__(self, per_principal: float, per_address: float, burst: float, clock=time.monotonic) -> None:
        self.rates = {"principal": per_principal, "address": per_address}
        self.burst = burst
        self._clock = clock
        self._buckets: OrderedDict[tuple[str, str], tuple[float, float]] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return any(self.rates.values())

    def check(self, kind: str, key: str) -> float:
        """0 when the request may go ahead, else the seconds to wait before the next one."""
        rate = self.rates[kind]
        if not rate or not key:
            return 0.0
        now = self._clock()
        capacity = max(self.burst, rate)
        tokens, last = self._buckets.pop((kind, key), (capacity, now))
        tokens = min(capacity, tokens + (now - last) * rate)
        wait = 0.0 if tokens >= 1 else (1 - tokens) / rate
        self._buckets[(kind, key)] = (tokens - 1 if wait == 0 else tokens, now)
        while len(self._buckets) > self.KEEP:
            self._buckets.popitem(last=False)
        return wait
