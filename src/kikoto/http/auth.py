"""Who is calling the /v2/ API, and may they? The single place where authentication lives.

Credentials: `Basic AWS:<password>` from GetAuthorizationToken (what `podman login` sends),
`Bearer <token>` from the token endpoint (for clients that follow a Bearer challenge), or a
presigned blob URL from GetDownloadUrlForLayer. Authorisation is the same policy engine as
the ECR API, with ECR's action names.
"""

from __future__ import annotations

import base64
import binascii
import time

from aiohttp import web

from ..domain.errors import AccessDenied, Throttled
from ..domain.names import is_valid_name
from ..services.identity import Identities, Principal, TokenError
from ..services.registry import RegistryIdentity
from .errors import WIRE_NAME, OciError
from .facts import note_facts
from .limits import RATE_LIMITS
from .services import ACCESS, IDENTITIES, LAYERS, REGISTRY

PRINCIPAL = web.RequestKey("principal", object)
# The registry (account) a /v2 request is for, and the repository name as the client gave it
# (the route's "name" is its key from here on: domain/accounts.py).
ACCOUNT = web.RequestKey("account", RegistryIdentity)
AUTH_CHALLENGE = web.AppKey("auth_challenge", str)
PRESIGNED = Principal("presigned-url", "presigned-url", None, ())
BEARER_TTL = 3600

# A Bearer token's scope actions, and the ECR actions each one covers.
SCOPE_ACTIONS = {
    "pull": {
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
        "ecr:BatchCheckLayerAvailability",
        "ecr:ListImages",
        "ecr:ListImageReferrers",
        # a pull into a pull-through cache repository (still only what the policies allow)
        "ecr:BatchImportUpstreamImage",
        "ecr:CreateRepository",
    },
    "push": {
        "ecr:InitiateLayerUpload",
        "ecr:UploadLayerPart",
        "ecr:CompleteLayerUpload",
        "ecr:PutImage",
        "ecr:BatchCheckLayerAvailability",
    },
    "delete": {"ecr:BatchDeleteImage"},
}
ALL_ACTIONS = set().union(*SCOPE_ACTIONS.values())
# What a principal must be allowed for a token endpoint to grant it each scope action.
SCOPE_REQUIRES = {
    "pull": "ecr:BatchGetImage",
    "push": "ecr:PutImage",
    "delete": "ecr:BatchDeleteImage",
    "*": "ecr:PutImage",
}


def _challenge(request: web.Request, repository: str | None, actions: tuple[str, ...]) -> dict[str, str]:
    registry = request.get(ACCOUNT, request.app[REGISTRY])  # the account's host: its tokens name its keys
    if request.app[AUTH_CHALLENGE] == "bearer":
        scope = ""
        if repository:
            wanted = [s for s, covered in SCOPE_ACTIONS.items() if covered & set(actions)] or ["pull"]
            if "push" in wanted and "pull" not in wanted:
                wanted.insert(0, "pull")
            scope = f',scope="repository:{registry.name(repository)}:{",".join(wanted)}"'
        return {
            "WWW-Authenticate": f'Bearer realm="{registry.endpoint}/v2/token",service="{registry.public_host}"{scope}'
        }
    return {"WWW-Authenticate": f'Basic realm="{registry.endpoint}",service="kikoto"'}


def unauthorized(
    request: web.Request, message: str, repository: str | None = None, actions: tuple[str, ...] = ()
) -> OciError:
    return OciError("UNAUTHORIZED", message, 401, _challenge(request, repository, actions))


async def credentials(request: web.Request, identities: Identities) -> Principal | None:
    """The caller, None when anonymous. Bad or expired credentials are a 401, not anonymity."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    try:
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                raise TokenError("malformed Basic credentials") from None
            if user != "AWS" and request.path == "/metrics":  # a scraper's access key pair
                return await identities.verify_secret(user, password)
            if user != "AWS":
                raise TokenError("the username must be AWS (use the password from aws ecr get-login-password)")
            return await identities.verify(password)
        if scheme.lower() == "bearer":
            return await identities.verify(value)
    except TokenError as exc:
        raise unauthorized(request, str(exc)) from None
    if header:
        raise unauthorized(request, f"unsupported authorization scheme {scheme!r}")
    if "X-Kikoto-Signature" in request.query and request.method in ("GET", "HEAD"):
        if request.app[LAYERS].presigned_ok(request.path, request.query):
            return PRESIGNED
        raise unauthorized(request, "the presigned URL is invalid or has expired")
    return None


async def allowed(request: web.Request, repository: str | None, *actions: str, account: str | None = None) -> bool:
    """Whether any of `actions` is allowed on the repository (by key), or on the registry of
    `account` (by default the first account's: what is not about one account's repositories)."""
    principal = request.get(PRINCIPAL)
    if principal is PRESIGNED:
        return "ecr:GetDownloadUrlForLayer" in actions
    if principal is not None and principal.scope is not None:  # a Bearer token: only what it was granted
        granted: set[str] = set()
        for kind, name, scope_actions in principal.scope:
            if kind == "repository" and name == repository:
                for scope_action in scope_actions:
                    granted |= ALL_ACTIONS if scope_action == "*" else SCOPE_ACTIONS.get(scope_action, set())
        if not granted & set(actions):
            return False
    access = request.app[ACCESS]
    for action in actions:
        if await access.allowed(principal, action, repository, account):
            return True
    return False


async def authorize(request: web.Request, repository: str | None, *actions: str, account: str | None = None) -> None:
    """Raise UNAUTHORIZED (anonymous: with a challenge) or DENIED unless any of `actions` is allowed."""
    if await allowed(request, repository, *actions, account=account):
        return
    if request.get(PRINCIPAL) is None:
        raise unauthorized(request, "authentication required", repository, actions)
    named = request.get(ACCOUNT, request.app[REGISTRY]).name(repository) if repository else "the registry"
    raise AccessDenied(f"not authorized to perform {' or '.join(actions)} on {named}")


@web.middleware
async def auth_middleware(request: web.Request, handler):
    note_facts(request)  # what Conditions may test, for every face
    if request.path.startswith("/v2") or request.path == "/metrics":
        principal = await credentials(request, request.app[IDENTITIES])
        request[PRINCIPAL] = principal
        if principal is not None and principal.key_id:
            if wait := request.app[RATE_LIMITS].check("principal", principal.key_id):
                raise Throttled(f"too many requests for {principal.arn}", wait)
        registry = request.app[REGISTRY]
        if principal is PRESIGNED:  # the URL's account, signed with it (whatever the Host)
            account = request.query.get("X-Kikoto-Account") or registry.account
        else:
            home = principal.account if isinstance(principal, Principal) else ""
            account = registry.account_at(request.host) or home or registry.account
        request[ACCOUNT] = registry = registry.of(account)
        if (name := request.match_info.get("name")) is not None:
            request[WIRE_NAME] = name
            request.match_info["name"] = registry.key(name)
    return await handler(request)


def wire_name(request: web.Request) -> str:
    """The repository name of a /v2 request as its client gave it (for the URLs it is sent back)."""
    return request.get(WIRE_NAME) or request.match_info["name"]


async def token_endpoint(request: web.Request) -> web.Response:
    """GET /v2/token?service=…&scope=repository:name:pull,push — the Distribution token flow.

    Only primary credentials mint tokens (a login password, or nothing for anonymous access): a
    token presented here is refused, so exchanging a narrow token for a broad one, or renewing
    one for ever, is impossible; and a token never outlives the password it came from."""
    principal = request[PRINCIPAL]
    identities = request.app[IDENTITIES]
    if principal is not None and principal.scope is not None:
        raise unauthorized(
            request, "a token cannot be exchanged for another: log in with the password from aws ecr get-login-password"
        )
    granted = []
    for scope in request.query.getall("scope", []):
        for item in scope.split(" "):
            kind, _, rest = item.partition(":")
            name, _, actions = rest.rpartition(":")
            if kind != "repository" or not is_valid_name(name):
                continue
            name = request[ACCOUNT].key(name)  # the token grants what the scope names in its account
            access = request.app[ACCESS]
            ok = [
                a
                for a in actions.split(",")
                if a in SCOPE_REQUIRES and await access.allowed(principal, SCOPE_REQUIRES[a], name)
            ]
            if ok:
                granted.append(["repository", name, ok])
    now = time.time()
    ttl = BEARER_TTL if principal is None or principal.expires is None else min(BEARER_TTL, principal.expires - now)
    token, _ = identities.issue(principal or Identities.ANONYMOUS, ttl=int(ttl), scope=granted)
    issued = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    return web.json_response({"token": token, "access_token": token, "expires_in": int(ttl), "issued_at": issued})
