"""What every ECR use case needs: the registry's identity and ECR's standard messages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..domain.ecr import repository_arn
from ..domain.errors import InvalidParameter, RepositoryNotFound
from ..domain.paging import open_token, sign_token


@dataclass(frozen=True)
class RegistryIdentity:
    account: str
    region: str
    public_host: str  # HOST[:PORT] clients reach the registry at
    scheme: str = "http"

    def arn(self, name: str) -> str:
        return repository_arn(self.region, self.account, name)

    def uri(self, name: str) -> str:
        return f"{self.public_host}/{name}"

    @property
    def endpoint(self) -> str:
        return f"{self.scheme}://{self.public_host}"


def repository_not_found(name: str, account: str) -> RepositoryNotFound:
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
