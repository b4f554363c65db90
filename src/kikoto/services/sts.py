"""Roles, OpenID Connect providers, and STS's AssumeRoleWithWebIdentity: a CI job's OIDC token
(GitHub Actions, GitLab CI, a Kubernetes service account) exchanged for a role's keys that end
within 15 minutes to 12 hours, so no long-lived key need be stored anywhere.

The token is checked as STS checks it: a provider registered for its issuer, its signature by a
key of the issuer's JWKS, not expired, its audience among the provider's client IDs; then the
role's trust policy must trust that provider for sts:AssumeRoleWithWebIdentity, with Conditions
on the token's claims (`<issuer host>:sub`, `:aud`). The keys issued act with the role's inline
policies; their secret is stored sealed with the master key, their session token as a hash."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import string
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from ..domain.conditions import Context
from ..domain.errors import AccessDenied, EntityExists, EntityNotFound, InvalidInput, MalformedPolicy, UpstreamFailed
from ..domain.policy import PolicyError
from ..domain.trust import parse_trust, trusts
from ..remote.oidc import Issuers
from ..storage.meta.ports import AlreadyExists, ProviderRow, RoleRow
from .identity import PRINCIPAL_NAME, Identities, Principal
from .policies import InlinePolicies

ASSUME = "sts:AssumeRoleWithWebIdentity"
MIN_DURATION, DEFAULT_DURATION, MAX_DURATION = 900, 3600, 43_200
MAX_TOKEN = 20_000  # STS's limit for a web identity token, in characters


class InvalidIdentityToken(InvalidInput):
    """STS's InvalidIdentityToken."""


class ExpiredToken(InvalidInput):
    """STS's ExpiredTokenException."""


class IdpUnreachable(UpstreamFailed):
    """STS's IDPCommunicationError."""


@dataclass(frozen=True)
class Assumed:
    key_id: str
    secret: str
    session_token: str
    expires_at: float
    role: RoleRow
    session_name: str
    subject: str
    audience: str
    provider: str  # the provider's ARN


def _issuer_url(issuer: str) -> str:
    """IAM's name for an issuer: without its scheme or a trailing slash."""
    return issuer.split("://", 1)[-1].rstrip("/")


def _claims_unverified(token: str) -> dict[str, Any]:
    try:
        payload = token.split(".")[1]
        return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))
    except (IndexError, ValueError, TypeError):
        raise InvalidIdentityToken("The web identity token is not a JWT") from None


class Roles:
    def __init__(self, identities: Identities, issuers: Issuers, clock: Callable[[], float] = time.time) -> None:
        self.identities, self.store, self.issuers, self._clock = identities, identities.store, issuers, clock
        self.account = identities.account

        async def holder(name: str) -> int:
            return (await self.role(name)).id

        store = self.store
        self.inline = InlinePolicies(
            "role", holder, store.put_role_document, store.role_documents, store.delete_role_document
        )

    # -- roles ----------------------------------------------------------------------------------

    async def role(self, name: str) -> RoleRow:
        row = await self.store.role(name)
        if row is None:
            raise EntityNotFound(f"The role with name {name} cannot be found.")
        return row

    async def create_role(self, name: str, trust: str, max_session: int | None) -> RoleRow:
        if not PRINCIPAL_NAME.fullmatch(name):
            raise InvalidInput(f"The specified value for roleName is invalid: {name[:64]}")
        self._check_trust(trust)
        duration = max_session or DEFAULT_DURATION
        if not MIN_DURATION <= duration <= MAX_DURATION:
            raise InvalidInput(f"MaxSessionDuration must be between {MIN_DURATION} and {MAX_DURATION} seconds")
        try:
            return await self.store.create_role(name, trust, duration)
        except AlreadyExists:
            raise EntityExists(f"Role with name {name} already exists.") from None

    async def update_trust(self, name: str, trust: str) -> None:
        self._check_trust(trust)
        await self.store.set_trust((await self.role(name)).id, trust)

    async def delete_role(self, name: str) -> None:
        await self.store.delete_role((await self.role(name)).id)

    @staticmethod
    def _check_trust(trust: str) -> None:
        try:
            parse_trust(trust)
        except PolicyError as invalid:
            raise MalformedPolicy(str(invalid)) from None

    # -- OpenID Connect providers ---------------------------------------------------------------

    def provider_arn(self, url: str) -> str:
        return f"arn:aws:iam::{self.account}:oidc-provider/{url}"

    async def add_provider(self, issuer: str, client_ids: list[str]) -> ProviderRow:
        if not issuer.startswith(("https://", "http://")):
            raise InvalidInput("The URL of an OpenID Connect provider begins with https://")
        self.issuers._check(issuer)  # noqa: SLF001 (the same rule as when its keys are read)
        try:
            return await self.store.add_provider(_issuer_url(issuer), issuer.rstrip("/"), client_ids)
        except AlreadyExists:
            raise EntityExists(f"Provider with url {issuer} already exists.") from None

    async def provider(self, arn: str) -> ProviderRow:
        url = arn.split(":oidc-provider/", 1)[-1]
        found = await self.store.provider(url)
        if found is None or arn != self.provider_arn(url):
            raise EntityNotFound(f"OpenIDConnect Provider not found for arn {arn}")
        return found

    async def providers(self) -> list[ProviderRow]:
        return await self.store.providers()

    async def delete_provider(self, arn: str) -> None:
        await self.store.delete_provider((await self.provider(arn)).url)

    # -- STS ------------------------------------------------------------------------------------

    async def assume_with_web_identity(
        self, role_arn: str, session_name: str, token: str, duration: int | None
    ) -> Assumed:
        if len(token) > MAX_TOKEN:
            raise InvalidIdentityToken("The web identity token is longer than STS accepts")
        claims = _claims_unverified(token)
        issuer = claims.get("iss")
        provider = await self.store.provider(_issuer_url(issuer)) if isinstance(issuer, str) else None
        if provider is None:
            raise InvalidIdentityToken(f"No OpenIDConnect provider found in your account for {str(issuer)[:200]}")
        try:
            key_set = KeySet.import_key_set(await self.issuers.keys(provider.issuer))  # type: ignore[arg-type]
            verified = jwt.decode(token, key_set).claims
        except UpstreamFailed as failure:
            raise IdpUnreachable(
                f"Couldn't retrieve verification key from your identity provider: {failure.message}"
            ) from None
        except (JoseError, ValueError, TypeError):
            raise InvalidIdentityToken("The web identity token's signature could not be verified") from None
        now = self._clock()
        if not isinstance(verified.get("exp"), int | float) or verified["exp"] <= now:
            raise ExpiredToken("Token expired: current date/time is past the token's exp")
        if isinstance(verified.get("nbf"), int | float) and verified["nbf"] > now + 60:
            raise InvalidIdentityToken("The token is not valid yet (nbf)")
        audiences = verified.get("aud")
        audiences = [audiences] if isinstance(audiences, str) else list(audiences or [])
        audience = next((a for a in audiences if a in provider.client_ids), None)
        if audience is None:
            raise InvalidIdentityToken("Incorrect token audience")
        role = await self._role_of(role_arn)
        context: dict[str, str | list[str]] = {f"{provider.url}:aud": audience}
        if isinstance(verified.get("sub"), str):
            context[f"{provider.url}:sub"] = verified["sub"]
        if not trusts(parse_trust(role.trust_policy), self.provider_arn(provider.url), ASSUME, context):
            raise AccessDenied(f"Not authorized to perform {ASSUME}", action=ASSUME)
        subject = str(verified.get("sub", ""))
        return await self._issue(role, session_name, duration, subject, audience, self.provider_arn(provider.url))

    async def tag_role(self, name: str, tags: dict[str, str]) -> None:
        row = await self.role(name)
        await self.store.set_role_tags(row.id, row.tags | tags)

    async def untag_role(self, name: str, keys: list[str]) -> None:
        row = await self.role(name)
        await self.store.set_role_tags(row.id, {k: v for k, v in row.tags.items() if k not in keys})

    async def assume(
        self,
        caller: Principal,
        allowed: Callable[[str], Awaitable[bool]],
        context: Context,
        role_arn: str,
        session_name: str,
        duration: int | None,
        tags: dict[str, str],
    ) -> Assumed:
        """AssumeRole: the role's trust policy must trust the caller (named by its ARN), or trust
        the caller's account and the caller's own policy allow sts:AssumeRole on the role (`allowed`)."""
        role = await self._role_of(role_arn, "sts:AssumeRole")
        statements = parse_trust(role.trust_policy)
        named = trusts(statements, caller.arn, "sts:AssumeRole", context)
        by_account = any(
            trusts(statements, who, "sts:AssumeRole", context)
            for who in (f"arn:aws:iam::{self.account}:root", self.account)
        )
        if not (named or (by_account and await allowed(role_arn))):
            raise AccessDenied(
                f"User: {caller.arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
                action="sts:AssumeRole",
            )
        return await self._issue(role, session_name, duration, "", "", "", tags)

    async def _issue(
        self,
        role: RoleRow,
        session_name: str,
        duration: int | None,
        subject: str,
        audience: str,
        provider: str,
        tags: dict[str, str] | None = None,
    ) -> Assumed:
        seconds = duration or DEFAULT_DURATION
        if not MIN_DURATION <= seconds <= role.max_session:
            raise InvalidInput(
                f"The requested DurationSeconds exceeds the MaxSessionDuration set for this role "
                f"(between {MIN_DURATION} and {role.max_session} seconds)"
            )
        if not PRINCIPAL_NAME.fullmatch(session_name) or len(session_name) < 2:
            raise InvalidInput("RoleSessionName: 2 to 64 letters, digits and any of _+=,.@-")
        key_id = "ASIA" + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(16))
        secret, session_token = secrets.token_urlsafe(30), secrets.token_urlsafe(96)
        expires = self._clock() + seconds
        digest = hashlib.sha256(session_token.encode()).hexdigest()
        sealed = self.identities.seal(secret)
        await self.store.add_session_key(key_id, role.id, session_name, sealed, digest, expires, tags)
        return Assumed(key_id, secret, session_token, expires, role, session_name, subject, audience, provider)

    async def _role_of(self, arn: str, action: str = ASSUME) -> RoleRow:
        prefix = f"arn:aws:iam::{self.account}:role/"
        row = await self.store.role(arn[len(prefix) :]) if arn.startswith(prefix) else None
        if row is None:
            raise AccessDenied(f"Not authorized to perform {action}", action=action)
        return row
