"""Registry-wide settings of the ECR API: account settings and pull-time update exclusions.

Both are small documents (a handful of names; at most 100 exclusions, ECR's limit) kept in the
registry documents table and cached per process until any process changes them.
"""

from __future__ import annotations

import json
from typing import Any

from ..domain.accounts import repository_key
from ..domain.errors import ExclusionAlreadyExists, ExclusionNotFound, InvalidParameter, LimitExceeded
from ..storage.changes import VersionedCache
from ..storage.meta.ports import DocumentStore
from .registry import keyset_page
from .repositories.admin import check_repository_policy

# name -> (allowed values, default). ECR documents AWS_NATIVE for the basic scan type, V1/V2 for
# the registry policy scope and ENABLED/DISABLED for blob mounting. Kikötő has always mounted
# blobs across repositories, so BLOB_MOUNTING starts ENABLED here (ECR starts it DISABLED).
ACCOUNT_SETTINGS = {
    "BASIC_SCAN_TYPE_VERSION": (("AWS_NATIVE",), "AWS_NATIVE"),
    "REGISTRY_POLICY_SCOPE": (("V1", "V2"), "V2"),
    "BLOB_MOUNTING": (("ENABLED", "DISABLED"), "ENABLED"),
}
MAX_EXCLUSIONS = 100
EXCLUSIONS_DOCUMENT = "pull_time_update_exclusions"


class RegistrySettings:
    """Each account's: its documents are named as its repositories are keyed (domain/accounts.py),
    so the first account's keep the names they always had. `account` None: the first."""

    def __init__(
        self, store: DocumentStore, cache: VersionedCache | None = None, token_key: bytes = b"", first: str = ""
    ) -> None:
        self.token_key = token_key  # signs nextTokens
        self.store, self.first = store, first
        self._cache = cache or VersionedCache(None, 0)

    def _named(self, name: str, account: str | None) -> str:
        return repository_key(account or self.first, name, self.first)

    async def _document(self, name: str, account: str | None = None) -> str | None:
        name = self._named(name, account)

        async def load() -> tuple[str | None]:  # in a tuple: "no such document" is cached too
            return (await self.store.document(name),)

        return (await self._cache.fetch(name, load))[0]

    # -- the registry policy: another account's grants here (ecr:CreateRepository, ReplicateImage, ...)

    async def registry_policy(self, account: str | None = None) -> str | None:
        return await self._document("registry_policy", account)

    async def put_registry_policy(self, text: str | None, account: str | None = None) -> None:
        """Store (or with None, delete) the registry policy, validated as a repository policy is
        (a Principal and an Action in every statement)."""
        if text is not None:
            check_repository_policy(text, kind="registry")
        await self.store.put_document(self._named("registry_policy", account), text)

    # -- account settings -------------------------------------------------------------------------

    @staticmethod
    def _known(name: str) -> tuple[tuple[str, ...], str]:
        if name not in ACCOUNT_SETTINGS:
            raise InvalidParameter(
                f"Invalid parameter at 'name' failed to satisfy constraint: 'Member must "
                f"satisfy enum value set: [{', '.join(ACCOUNT_SETTINGS)}]'"
            )
        return ACCOUNT_SETTINGS[name]

    async def get(self, name: str, account: str | None = None) -> str:
        _, default = self._known(name)
        return await self._document(f"account_setting/{name}", account) or default

    async def put(self, name: str, value: str, account: str | None = None) -> str:
        allowed, _ = self._known(name)
        if value not in allowed:
            raise InvalidParameter(
                f"Invalid parameter at 'value' failed to satisfy constraint: 'Member must "
                f"satisfy enum value set: [{', '.join(allowed)}]'"
            )
        await self.store.put_document(self._named(f"account_setting/{name}", account), value)
        return value

    async def blob_mounting(self, account: str | None = None) -> bool:
        return await self.get("BLOB_MOUNTING", account) == "ENABLED"

    # -- pull-time update exclusions ----------------------------------------------------------------

    async def exclusions(self, account: str | None = None) -> list[str]:
        return sorted(await self._excluded_set(account))

    async def _excluded_set(self, account: str | None) -> frozenset[str]:
        async def load() -> frozenset[str]:  # asked on every pull: parsed once per change
            return frozenset(json.loads(await self._document(EXCLUSIONS_DOCUMENT, account) or "[]"))

        return await self._cache.fetch(f"excluded-set:{account or self.first}", load)

    async def excluded(self, principal_arn: str | None, account: str | None = None) -> bool:
        """Whether pulls by this principal leave lastRecordedPullTime alone (scanners, warmers)."""
        return bool(principal_arn) and principal_arn in await self._excluded_set(account)

    async def register(self, principal_arn: str, account: str | None = None) -> None:
        current = await self.exclusions(account)
        if principal_arn in current:
            raise ExclusionAlreadyExists(f"The principal '{principal_arn}' is already excluded from pull time updates")
        if len(current) >= MAX_EXCLUSIONS:
            raise LimitExceeded(f"A registry can have at most {MAX_EXCLUSIONS} pull time update exclusions")
        excluded = json.dumps(sorted([*current, principal_arn]))
        await self.store.put_document(self._named(EXCLUSIONS_DOCUMENT, account), excluded)

    async def deregister(self, principal_arn: str, account: str | None = None) -> None:
        current = await self.exclusions(account)
        if principal_arn not in current:
            raise ExclusionNotFound(f"The principal '{principal_arn}' is not excluded from pull time updates")
        excluded = json.dumps([a for a in current if a != principal_arn])
        await self.store.put_document(self._named(EXCLUSIONS_DOCUMENT, account), excluded)

    async def list_exclusions(self, params: dict[str, Any], account: str | None = None) -> tuple[list[str], str | None]:
        return keyset_page(
            await self.exclusions(account),
            lambda arn: arn,
            "PullTimeUpdateExclusions",
            self.token_key,
            params.get("maxResults"),
            params.get("nextToken"),
        )
