"""Principals, access keys, and the login tokens GetAuthorizationToken hands out.

Secret keys are encrypted at rest with a master key (SigV4 needs the secret back, so a
hash cannot work). Login passwords are self-verifying: an HMAC over the key id, expiry and
granted scope, checked on every request together with the key's current status, so a
revoked key's tokens stop working at once.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import os
import secrets
import string
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from ..domain.ecr import IAM_NAME, principal_arn
from ..domain.errors import AccessKeyNotFound, InvalidParameter
from ..domain.policy import ADMINISTRATOR, POWER_USER, Statement, Statements, parse_policy
from ..storage.changes import VersionedCache
from ..storage.meta.ports import AlreadyExists, IdentityStore
from .keys import Keys
from .policies import Policies

LOGIN_TTL = 12 * 3600  # ECR's authorization tokens last 12 hours
ADMIN = "admin"
PRINCIPAL_NAME = IAM_NAME


@dataclass(frozen=True)
class Principal:
    name: str
    arn: str
    key_id: str | None
    policy: tuple[Statement, ...]
    scope: tuple[tuple[str, str, tuple[str, ...]], ...] | None = None  # a Bearer token's granted access
    expires: float | None = None  # when the password or token this principal presented expires
    tags: tuple[tuple[str, str], ...] = ()  # IAM's principal tags: aws:PrincipalTag/* in Conditions
    session_token_hash: str | None = None  # an assumed role's keys: sha256 of the session token they need
    account: str = ""  # the account it belongs to; "" for the first account (and for anonymous callers)

    @property
    def anonymous(self) -> bool:
        return self.key_id is None


class PolicyConflict(InvalidParameter):
    """The principal exists with another policy, and replacing it was not asked for."""


class TokenError(Exception):
    """A password or token that is malformed, forged, expired or revoked."""


def load_master_key(configured: str | None, data_dir: Path) -> bytes:
    """The Fernet key: from the settings (replicas must share it) or a 0600 file in the data dir."""
    if configured:
        try:
            Fernet(configured.encode())
        except ValueError:
            raise ValueError(
                "master_key is not a valid key (32 url-safe base64-encoded bytes, as "
                "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'` "
                "makes)"
            ) from None
        return configured.encode()
    path = data_dir / "master.key"
    if not path.exists():
        key = Fernet.generate_key()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)
    return path.read_bytes().strip()


def _canonical(policy: str) -> object:
    try:
        return json.loads(policy)
    except ValueError:
        return policy


def new_key_pair() -> tuple[str, str]:
    key_id = "AKIA" + "".join(secrets.choice(string.ascii_uppercase + "234567") for _ in range(16))
    secret = base64.b64encode(secrets.token_bytes(30)).decode()
    return key_id, secret


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Identities:
    ANONYMOUS = Principal("anonymous", "anonymous", None, ())

    def __init__(
        self,
        store: IdentityStore,
        keys: Keys,
        account: str,
        clock=time.time,
        cache: VersionedCache | None = None,
    ) -> None:
        self.store = store
        self.account = account
        self.key_material = keys  # the master key and its derivations (keys() lists access keys)
        self._fernet = keys.secrets_at_rest()
        self._mac_key = keys.logins
        self._clock = clock
        self._keys = cache or VersionedCache(None, 0)
        self._tokens: dict[str, dict[str, Any]] = {}  # verified passwords -> payload (an HMAC result never changes)

    # -- management (CLI and first start) ---------------------------------------------------

    async def create(
        self,
        name: str,
        policy: str | None,
        key_pair: tuple[str, str] | None = None,
        replace_policy: bool = False,
        account: str | None = None,
    ) -> tuple[str, str]:
        """A new key pair for principal `name`, created with `policy` if new (in `account`, else
        the first account). An existing principal keeps its policy when `policy` is None or the
        same; another policy is refused (PolicyConflict) unless `replace_policy`, so a narrower
        role is never silently ignored; so is another account (a principal never moves)."""
        if not PRINCIPAL_NAME.fullmatch(name):
            raise InvalidParameter(
                f"invalid principal name {name[:64]!r}: 1 to 64 letters, digits and any of _+=,.@- (as IAM user names)"
            )
        if policy is not None:
            parse_policy(policy, resource_policy=False)
        principal = await self.store.principal(name)
        if principal is None:
            try:
                principal = await self.store.create_principal(name, policy or POWER_USER, self._stored(account))
            except AlreadyExists:
                principal = await self.store.principal(name)
        assert principal is not None  # created, or found by the name that was taken
        if principal.account != self._stored(account):
            raise PolicyConflict(
                f"principal {name!r} belongs to account {principal.account or self.account}: principal names are "
                "unique in a registry, give this one another name"
            )
        if policy is not None and _canonical(principal.policy) != _canonical(policy):
            if not replace_policy:
                raise PolicyConflict(
                    f"principal {name!r} exists with another policy; add --replace-policy to "
                    f"replace it (its other keys get the new policy too), or omit --role/--policy "
                    f"to add a key with the policy it has"
                )
            await self.store.set_policy(principal.id, policy)
        key_id, secret = key_pair or new_key_pair()
        await self.store.add_key(principal.id, key_id, self.seal(secret))
        return key_id, secret

    def _stored(self, account: str | None) -> str | None:
        """A principal's account as stored: None for the first account."""
        return None if account in (None, "", self.account) else account

    def seal(self, secret: str) -> str:
        """A secret access key as it is stored: encrypted with the master key (SigV4 needs it back)."""
        return self._fernet.encrypt(secret.encode()).decode()

    async def bootstrap_admin(self, key_pair: tuple[str, str] | None) -> tuple[str, str] | None:
        """On first start create the admin principal; with a key pair from the environment make
        sure that pair exists. Returns a pair only when one was generated (to print it once).
        Replicas starting together may race here: whoever loses finds the winner's rows."""
        if key_pair:
            existing = await self.store.key(key_pair[0])
            if existing is None:
                try:  # a new key for an admin principal that exists keeps whatever policy it has
                    policy = None if await self.store.principal(ADMIN) else ADMINISTRATOR
                    await self.create(ADMIN, policy, key_pair)
                except AlreadyExists:
                    existing = await self.store.key(key_pair[0])
            if existing is not None and self._decrypt(existing.secret) != key_pair[1]:
                raise ValueError(
                    f"admin access key {key_pair[0]} exists with a different secret: give every "
                    f"replica the same admin_secret_access_key"
                )
            return None
        if await self.store.count_principals():
            return None
        try:
            return await self.create(ADMIN, ADMINISTRATOR)
        except AlreadyExists:  # another replica created the admin first and printed its keys
            return None

    async def keys(self):
        """Every access key with its principal (never a secret in clear)."""
        return await self.store.keys()

    async def rotate(self, key_id: str) -> tuple[str, str]:
        row = await self.store.key(key_id)
        if row is None:
            raise AccessKeyNotFound(f"no access key {key_id[:128]}")
        pair = await self.create(row.principal.name, row.principal.policy, account=row.principal.account)
        await self.store.set_key_status(key_id, "Inactive")
        return pair

    async def revoke(self, key_id: str) -> bool:
        return await self.store.set_key_status(key_id, "Inactive")

    async def end_session(self, session_id: str, expires_at: float) -> None:
        """A console session signed out: refused from now on, wherever its cookie turns up."""
        await self.store.revoke_session(session_id, expires_at)

    async def session_revoked(self, session_id: str) -> bool:
        return await self.store.session_revoked(session_id)

    def check_master_key(self, rows) -> None:
        """Refuse to go on when stored secrets were written with another master key (a replica
        given a different key, a restored database without its key file)."""
        for row in rows[:1]:
            self._decrypt(row.secret)

    def _decrypt(self, encrypted: str) -> str:
        try:
            return self._fernet.decrypt(encrypted.encode()).decode()
        except InvalidToken:
            raise ValueError(
                "the master key does not decrypt the stored access keys: give every replica the "
                "master_key the database was written with (or restore <data-dir>/master.key)"
            ) from None

    # -- the request path ------------------------------------------------------------------

    async def lookup(self, key_id: str) -> tuple[Principal | None, str | None]:
        """(principal, secret) for an active key; (None, None) for an unknown or revoked one."""

        async def load() -> tuple[Principal | None, str | None]:
            if key_id.startswith("ASIA"):
                return await self._session(key_id)
            row = await self.store.key(key_id)
            if row is None or row.status != "Active":
                return None, None
            return await self._user(row.principal, row.id, row.extras), self._decrypt(row.secret)

        principal, secret = await self._keys.fetch(key_id, load)
        if principal is not None and principal.expires is not None and principal.expires <= self._clock():
            return None, None  # an assumed role's keys end when their session does
        return principal, secret

    async def _user(self, row: Any, key_id: str, extras: bool = True) -> Principal:
        """A user with its identity policy: the one `kikoto keys` gave it, its inline and attached
        policies, and its groups' (IAM's), together; and its tags. Without `extras` (none of those,
        as the key's own query found) nothing more is read."""
        documents, tags = [row.policy], tuple[tuple[str, str], ...]()
        if extras:
            documents += await self._documents("user", row.id)
            for group in await self.store.groups_of(row.id):
                documents += await self._documents("group", group.id)
            tags = tuple((await self.store.principal_tags(row.id)).items())
        statements = Statements(s for text in documents for s in parse_policy(text, resource_policy=False))
        account = row.account or self.account
        return Principal(
            row.name, principal_arn(account, row.name), key_id, statements, tags=tags, account=row.account or ""
        )

    async def as_principal(self, arn: str) -> Principal | None:
        """The principal a user's or role's ARN names, as its keys would act (SimulatePrincipalPolicy,
        `kikoto policy simulate`); None if there is none."""
        kind, _, name = arn.rpartition(":")[2].partition("/")
        if arn.startswith(f"arn:aws:iam::{self.account}:user/") or ":" not in arn:
            row = await self.store.principal(name if ":" in arn else arn)
            return await self._user(row, "simulated") if row else None
        if kind == "role":
            role = await self.store.role(name)
            if role is None:
                return None
            documents = await self._documents("role", role.id)
            statements = Statements(s for text in documents for s in parse_policy(text, resource_policy=False))
            return Principal(name, arn, "simulated", statements, tags=tuple(role.tags.items()))
        return None

    async def _documents(self, kind: str, holder_id: int) -> list[str]:
        """A user's, group's or role's inline policies and the managed policies attached to it."""
        inline = {
            "user": self.store.documents,
            "group": self.store.group_documents,
            "role": self.store.role_documents,
        }[kind]
        attached = await Policies(self.store, self.account).documents(kind, holder_id)
        return [*(await inline(holder_id)).values(), *attached]

    async def session_expired(self, key_id: str) -> bool:
        """Whether `key_id` is an assumed role's key whose session has ended (and is not yet forgotten)."""
        if not key_id.startswith("ASIA"):
            return False
        row = await self.store.session_key(key_id)
        return row is not None and row.expires_at <= self._clock()

    async def _session(self, key_id: str) -> tuple[Principal | None, str | None]:
        """An assumed role's short-lived key: the role's inline policies, until it expires."""
        row = await self.store.session_key(key_id)
        if row is None:
            return None, None
        documents = await self._documents("role", row.role.id)
        statements = Statements(s for text in documents for s in parse_policy(text, resource_policy=False))
        name = f"{row.role.name}/{row.session_name}"
        arn = f"arn:aws:sts::{self.account}:assumed-role/{name}"
        tags = tuple((row.role.tags | row.tags).items())  # a session's tags over its role's
        principal = Principal(
            name, arn, key_id, statements, expires=row.expires_at, tags=tags, session_token_hash=row.token_hash
        )
        return principal, self._decrypt(row.secret)

    def issue(self, principal: Principal, ttl: int = LOGIN_TTL, scope: list[Any] | None = None) -> tuple[str, float]:
        """A password (never containing ':') that stands for `principal` until it expires (no
        later than the principal's own keys: an assumed role's session)."""
        expires = self._clock() + ttl
        if principal.expires is not None:
            expires = min(expires, principal.expires)
        payload = {"k": principal.key_id or "", "e": int(expires), "n": secrets.token_hex(4)}
        if scope is not None:
            payload["s"] = scope
        body = _b64(json.dumps(payload, separators=(",", ":")).encode())
        return f"{body}.{_b64(hmac.new(self._mac_key, body.encode(), hashlib.sha256).digest())}", expires

    def _payload(self, password: str) -> dict[str, Any]:
        payload = self._tokens.get(password)
        if payload is not None:
            return payload
        body, _, mac = password.strip().partition(".")
        try:
            expected = hmac.new(self._mac_key, body.encode(), hashlib.sha256).digest()
            if not mac or not hmac.compare_digest(_unb64(mac), expected):
                raise TokenError("the authorization token is not valid")
            payload = json.loads(_unb64(body))
        except (ValueError, TypeError):
            raise TokenError("the authorization token is not valid") from None
        if len(self._tokens) > 10_000:
            self._tokens.clear()
        self._tokens[password] = payload
        return payload

    async def verify(self, password: str) -> Principal:
        payload = self._payload(password)
        if payload.get("e", 0) < self._clock():
            raise TokenError("the authorization token has expired")
        if not payload.get("k"):  # an anonymous Bearer token: only what anonymous users may do
            if "s" not in payload:
                raise TokenError("the authorization token is not valid")
            principal = self.ANONYMOUS
        else:
            principal, _ = await self.lookup(payload["k"])
            if principal is None:
                raise TokenError("the access key behind this token was revoked")
        scope = tuple((s[0], s[1], tuple(s[2])) for s in payload["s"]) if "s" in payload else None
        return dataclasses.replace(principal, scope=scope, expires=payload["e"], session_token_hash=None)

    async def verify_secret(self, key_id: str, secret: str, session_token: str = "") -> Principal:
        """An access key pair given directly (Basic auth on /metrics, which Prometheus can send;
        the console's sign-in), with its session token if it is an assumed role's."""
        principal, stored = await self.lookup(key_id)
        if principal is None or not hmac.compare_digest(stored.encode(), secret.encode()):
            raise TokenError("the access key or its secret is not valid")
        if principal.session_token_hash is not None:
            given = hashlib.sha256(session_token.encode()).hexdigest()
            if not hmac.compare_digest(given, principal.session_token_hash):
                raise TokenError("the access key or its secret is not valid")
        return principal
