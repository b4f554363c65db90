"""Which account an ECR request is for, and its repository names as keys and back.

ECR names the registry a request is for with `registryId` (or a repository ARN's account); with
neither, the registry is the one the Host names (`<account>.dkr.ecr.<region>.<domain>`), else the
caller's own. The services name repositories by key (domain/accounts.py): the names in the
request become keys here, and the keys in the answer names again, so no operation handler knows
accounts exist. Whether the caller may act in that account is the policies' to decide (Access).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from ...domain.ecr import account_from_arn, repository_arn, repository_name_from_arn
from ...domain.errors import AccessDenied, KikotoError, RepositoryNotFound
from ...services.identity import Principal
from ...services.registry import RegistryIdentity
from .errors import EcrError

# Every operation about repositories and images (those with these fields) works in every
# account, and so do logging in, listing and the registry-wide operations in ACCOUNT_AWARE (each
# account's own registry policy, account settings and pull-time exclusions). The other
# registry-wide ones (replication, scanning, pull-through rules, creation templates, signing)
# keep their settings for the first account only: see `elsewhere`.
ACCOUNT_AWARE_FIELDS = {"repositoryName", "repositoryNames", "resourceArn"}
ACCOUNT_AWARE = {
    "GetAuthorizationToken",
    "DescribeRepositories",
    "PutRegistryPolicy",
    "GetRegistryPolicy",
    "DeleteRegistryPolicy",
    "GetAccountSetting",
    "PutAccountSetting",
    "RegisterPullTimeUpdateExclusion",
    "DeregisterPullTimeUpdateExclusion",
    "ListPullTimeUpdateExclusions",
}


def registry_for(
    request: web.Request, registry: RegistryIdentity, principal: Principal, operation: str, params: dict[str, Any]
) -> RegistryIdentity:
    """The registry the request is for. Every account it names must be the same one."""
    named = [params["registryId"]] if params.get("registryId") else list(params.get("registryIds") or [])
    if arn_account := account_from_arn(params.get("resourceArn") or ""):
        named.append(arn_account)
    account = named[0] if named else registry.account_at(request.host) or principal.account or registry.account
    for other in named[1:]:
        if other != account:
            resource = repository_arn(registry.region, other, params.get("repositoryName") or "*")
            raise AccessDenied(
                f"User: {principal.arn} is not authorized to perform: ecr:{operation} on resource: "
                f"{resource} because no resource-based policy allows the ecr:{operation} action"
            )
    return registry.of(account)


# What another account's registry-wide reads truthfully answer: it cannot have any of these yet.
NONE_YET: dict[str, Callable[[str], dict[str, Any]]] = {
    "DescribeRegistry": lambda account: {"registryId": account, "replicationConfiguration": {"rules": []}},
    "DescribeRepositoryCreationTemplates": lambda account: {"registryId": account, "repositoryCreationTemplates": []},
    "DescribePullThroughCacheRules": lambda account: {"pullThroughCacheRules": []},
    "GetRegistryScanningConfiguration": lambda account: {
        "registryId": account,
        "scanningConfiguration": {"scanType": "BASIC", "rules": []},
    },
}


def elsewhere(registry: RegistryIdentity, operation: str, fields: set[str]) -> dict[str, Any] | None:
    """In an account other than the first, a registry-wide operation that is not its own yet:
    a read of what it cannot have is answered empty, anything else refused (see above). None:
    the operation's handler answers."""
    if registry.account == registry.first_account or operation in ACCOUNT_AWARE or fields & ACCOUNT_AWARE_FIELDS:
        return None
    if operation in NONE_YET:
        return NONE_YET[operation](registry.account)
    raise EcrError(
        "UnsupportedOperationException",
        f"Kikötő keeps registry-wide settings for its first account only: {operation} is not supported "
        f"in the registry with id '{registry.account}' yet.",
    )


def keyed(registry: RegistryIdentity, params: dict[str, Any]) -> str | None:
    """Name the request's repositories by key (in place); the repository the request is about."""
    if isinstance(params.get("repositoryName"), str):
        params["repositoryName"] = registry.key(params["repositoryName"])
    if isinstance(params.get("repositoryNames"), list):
        params["repositoryNames"] = [registry.key(n) if isinstance(n, str) else n for n in params["repositoryNames"]]
    if name := repository_name_from_arn(params.get("resourceArn") or ""):
        return registry.key(name)
    repository = params.get("repositoryName")
    return repository if isinstance(repository, str) else None


def unkeyed(registry: RegistryIdentity, answer: Any) -> Any:
    """The answer with its repository keys named as clients know them (another account's only:
    the first account's keys are its names)."""
    if registry.account == registry.first_account:
        return answer
    if isinstance(answer, dict):
        return {
            k: registry.name(v) if k == "repositoryName" and isinstance(v, str) else unkeyed(registry, v)
            for k, v in answer.items()
        }
    if isinstance(answer, list):
        return [unkeyed(registry, v) for v in answer]
    return answer


def in_words(
    registry: RegistryIdentity, failure: KikotoError | EcrError, params: dict[str, Any]
) -> KikotoError | EcrError:
    """A failure as the account's caller should read it: its names, its registry id."""
    if registry.account == registry.first_account or not isinstance(failure, KikotoError):
        return failure
    message = failure.message.replace(f"id '{registry.first_account}'", f"id '{registry.account}'")
    names = [params.get("repositoryName"), *(params.get("repositoryNames") or [])]
    for key in filter(lambda n: isinstance(n, str), names):
        message = message.replace(key, registry.name(key))
    if isinstance(failure, RepositoryNotFound):
        return RepositoryNotFound(registry.name(failure.name), message)
    failure.message = message  # the request's own exception: nobody else holds it
    return failure
