"""Who is calling, and may they? The single place where authentication plugs in.

Until identities exist every caller is the anonymous administrator; the ECR issue replaces
`authenticate` and `authorize` with SigV4/Basic/Bearer and the policy engine.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from ..domain.errors import RegistryError

PRINCIPAL = web.RequestKey("principal", object)


@dataclass(frozen=True)
class Principal:
    name: str


ANONYMOUS_ADMIN = Principal("anonymous")


async def authenticate(request: web.Request) -> Principal:
    return ANONYMOUS_ADMIN


def authorize(request: web.Request, repository: str, action: str) -> None:
    """Raise a RegistryError (UNAUTHORIZED / DENIED) unless the caller may do `action`
    ('pull', 'push', 'delete') on `repository`."""


def may(request: web.Request, repository: str, action: str) -> bool:
    try:
        authorize(request, repository, action)
    except RegistryError:
        return False
    return True


@web.middleware
async def auth_middleware(request: web.Request, handler):
    request[PRINCIPAL] = await authenticate(request)
    return await handler(request)
