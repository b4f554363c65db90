"""What every ECR use case needs: the registry's identity and ECR's standard messages."""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any

from ..domain.accounts import ACCOUNT_ID, repository_key, split_key
from ..domain.ecr import repository_arn
from ..domain.errors import InvalidParameter, RepositoryNotFound
from ..domain.paging import open_token, sign_token


@dataclass(frozen=True)
class RegistryIdentity:
    """One account's registry as clients address it. Repositories are named by their keys
    (domain/accounts.py), so a record's ARN and URI name its own account."""

    account: str
    region: str
    public_host: str  # HOST[:PORT] clients reach the registry at
    scheme: str = "http"
    first: str = ""  # the first account ("": this one)
    domain: str | None = None  # with it, each account answers at <account>.dkr.ecr.<region>.<domain>

    def of(self, account: str) -> RegistryIdentity:
        """The same registry as another account sees it (asked on every request: made once)."""
        return self if account == self.account and self.first else _of(self, account)

    @property
    def first_account(self) -> str:
        return self.first or self.account

    def key(self, name: str) -> str:
        """Where this account's repository `name` is stored."""
        return repository_key(self.account, name, self.first_account)

    def name(self, key: str) -> str:
        """The name clients know a stored repository by (in its own account)."""
        return split_key(key, self.first_account)[1]

    def arn(self, key: str) -> str:
        return repository_arn(self.region, *split_key(key, self.first_account))

    def uri(self, key: str) -> str:
        account, name = split_key(key, self.first_account)
        return f"{self.host(account)}/{name}"

    def host(self, account: str | None = None) -> str:
        """HOST[:PORT] of an account's registry: ECR's name for it under the registry domain
        (with the public port when it is not the scheme's default), else the public host."""
        if not self.domain:
            return self.public_host
        name = f"{account or self.account}.dkr.ecr.{self.region}.{self.domain}"
        _, colon, port = self.public_host.rpartition(":")
        port = port if colon and "]" not in port else ""  # "[::1]" has colons and no port
        default = "443" if self.scheme == "https" else "80"
        return f"{name}:{port}" if port and port != default else name

    @property
    def endpoint(self) -> str:
        return f"{self.scheme}://{self.host()}"

    def account_at(self, host: str) -> str | None:
        """The account an ECR-shaped Host header names under the registry domain (None: not one)."""
        if not self.domain:
            return None
        name = host.rpartition(":")[0] if host.count(":") == 1 else host
        account, dot, rest = name.lower().partition(".")
        if dot and rest == f"dkr.ecr.{self.region}.{self.domain}" and ACCOUNT_ID.fullmatch(account):
            return account
        return None


@functools.lru_cache(maxsize=1024)
def _of(registry: RegistryIdentity, account: str) -> RegistryIdentity:
    return dataclasses.replace(registry, account=account, first=registry.first or registry.account)


def repository_not_found(key: str, account: str) -> RepositoryNotFound:
    """ECR's words for a missing repository (named by its key: the first `account`'s if bare)."""
    account, name = split_key(key, account)
    return RepositoryNotFound(
        name, f"The repository with name '{name}' does not exist in the registry with id '{account}'"
    )


def invalid_parameter(field: str, constraint: str) -> InvalidParameter:
    return InvalidParameter(f"Invalid parameter at '{field}' failed to satisfy constraint: '{constraint}'")


def token_position(token_key: bytes, scope: str, next_token: str | None, refused=None) -> list[Any] | None:
    """The keyset position a signed nextToken carries (None without a token); a forged,
    altered or foreign token is refused (ECR's InvalidParameterException unless `refused`)."""
    if not next_token:
        return None
    try:
        return open_token(token_key, scope, next_token)
    except (ValueError, IndexError):
        raise (refused or invalid_parameter("nextToken", "Invalid pagination token")) from None


def keyset_page(
    items: list[Any],
    key,
    scope: str,
    token_key: bytes,
    max_results: int | None,
    next_token: str | None,
    default: int = 100,
):
    """(a page of `items`, sorted by `key`, after the signed position in `next_token`; the next
    token): the same signed keyset tokens as the database listings, for short in-memory lists."""
    position = token_position(token_key, scope, next_token)
    after = position[0] if position else None
    ordered = sorted(items, key=key)
    if after is not None:
        ordered = [i for i in ordered if key(i) > after]
    limit = max_results or default
    if len(ordered) <= limit:
        return ordered, None
    page = ordered[:limit]
    return page, sign_token(token_key, scope, [key(page[-1])])
