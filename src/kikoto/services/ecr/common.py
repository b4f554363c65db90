"""What every ECR use case needs: the registry's identity and ECR's standard messages."""

from __future__ import annotations

from dataclasses import dataclass

from ...domain.ecr import repository_arn
from ...domain.errors import InvalidParameter, RepositoryNotFound
from ...domain.paging import page_by_token


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


def paginate(items: list, params: dict, default: int = 100):
    try:
        return page_by_token(items, params.get("maxResults"), params.get("nextToken"), default)
    except ValueError:
        raise invalid_parameter("nextToken", "Invalid pagination token") from None
