"""Paging: `n`/`last` for the OCI list endpoints, signed keyset nextTokens for the ECR API."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from .errors import PageSizeInvalid

T = TypeVar("T")
MAX_PAGE = 10_000  # a larger `n` is clamped; the Link header then tells the client there is more


def parse_page_size(raw: str | None) -> int | None:
    """`n` query parameter: None when absent, otherwise 0..MAX_PAGE."""
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit()):  # "²".isdigit() is True, and int("²") fails
        raise PageSizeInvalid(f"n must be a non-negative integer, got {raw!r}")
    return min(int(raw), MAX_PAGE)


def sign_token(key: bytes, scope: str, position: list[Any]) -> str:
    """An opaque nextToken for a keyset page: the last key returned, bound to what it pages
    (`scope`) and signed, so a client can neither forge a position nor reuse it elsewhere."""
    body = base64.urlsafe_b64encode(json.dumps([scope, position], separators=(",", ":")).encode()).decode()
    mac = hmac.new(key, body.encode(), hashlib.sha256).digest()[:16]
    return body.rstrip("=") + "." + base64.urlsafe_b64encode(mac).decode().rstrip("=")


def open_token(key: bytes, scope: str, token: str) -> list[Any]:
    """The position a token from `sign_token` holds; ValueError for anything else."""
    body, _, mac = token.partition(".")
    try:
        expected = hmac.new(key, (body + "=" * (-len(body) % 4)).encode(), hashlib.sha256).digest()[:16]
        if not hmac.compare_digest(base64.urlsafe_b64decode(mac + "=" * (-len(mac) % 4)), expected):
            raise ValueError("forged")
        signed_scope, position = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (ValueError, TypeError, RecursionError):
        raise ValueError("the nextToken is not one this registry issued") from None
    if signed_scope != scope or not isinstance(position, list):
        raise ValueError("the nextToken belongs to another listing")
    return position


async def fill_page(
    fetch: Callable[[str], Awaitable[list[T]]],
    keep: Callable[[list[T]], Awaitable[list[T]]],
    key: Callable[[T], str],
    after: str,
    limit: int,
) -> tuple[list[T], bool]:
    """A page of up to `limit` items that `keep` lets through (a filter the store cannot apply:
    a policy, a requested kind), read in batches of `limit + 1` by key after `after` until the page
    is full; and whether more may follow. The cost grows with the page and what it skips."""
    found: list[T] = []
    while len(found) <= limit:
        batch = await fetch(after)
        found += await keep(batch)
        if len(batch) <= limit:
            break
        after = key(batch[-1])
    return found[:limit], len(found) > limit
