"""Registry-wide settings of the ECR API: account settings and pull-time update exclusions.

Both are small documents (a handful of names; at most 100 exclusions, ECR's limit) kept in the
registry documents table and cached per process until any process changes them.
"""

from __future__ import annotations

import json
from typing import Any

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
    def __init__(self, store: DocumentStore, cache: VersionedCache | None = None, token_key: bytes = b"") -> None:
        self.token_key = token_key  # signs nextTokens
        self.store = store
        self._cache = cache or VersionedCache(None, 0)

    async def _document(self, name: str) -> str | None:
        async def load() -> tuple[str | None]:  # in a tuple: "no such document" is cached too
            return (await self.store.document(name),)

        return (await self._cache.fetch(name, load))[0]

    # -- the registry policy (stored and returned; this registry has no other account to grant) --

    async def registry_policy(self) -> str | None:
        return await self.store.document("registry_policy")

    async def put_registry_policy(self, text: str | None) -> None:
        """Store (or with None, delete) the registry policy, validated as a repository policy is
        (a Principal and an Action in every statement)."""
        if text is not None:
            check_repository_policy(text, kind="registry")
        await self.store.put_document("registry_policy", text)

    # -- account settings -------------------------------------------------------------------------

    @staticmethod
    def _known(name: str) -> tuple[tuple[str, ...], str]:
        if name not in ACCOUNT_SETTINGS:
            raise InvalidParameter(
                f"Invalid parameter at 'name' failed to satisfy constraint: 'Member must "
                f"satisfy enum value set: [{', '.join(ACCOUNT_SETTINGS)}]'"
            )
        return ACCOUNT_SETTINGS[name]

    async def get(self, name: str) -> str:
        _, default = self._known(name)
        return await self._document(f"account_setting/{name}") or default

    async def put(self, name: str, value: str) -> str:
        allowed, _ = self._known(name)
        if value not in allowed:
            raise InvalidParameter(
                f"Invalid parameter at 'value' failed to satisfy constraint: 'Member must "
                f"satisfy enum value set: [{', '.join(allowed)}]'"
            )
        await self.store.put_document(f"account_setting/{name}", value)
        return value

    async def blob_mounting(self) -> bool:
        return await self.get("BLOB_MOUNTING") == "ENABLED"

    # -- pull-time update exclusions ----------------------------------------------------------------

    async def exclusions(self) -> list[str]:
        return sorted(await self._excluded_set())

    async def _excluded_set(self) -> frozenset[str]:
        async def load() -> frozenset[str]:  # asked on every pull: parsed once per change
            return frozenset(json.loads(await self._document(EXCLUSIONS_DOCUMENT) or "[]"))

        return await self._cache.fetch("excluded-set", load)

    async def excluded(self, principal_arn: str | None) -> bool:
        """Whether pulls by this principal leave lastRecordedPullTime alone (scanners, warmers)."""
        return bool(principal_arn) and principal_arn in await self._excluded_set()

    async def register(self, principal_arn: str) -> None:
        current = await self.exclusions()
        if principal_arn in current:
            raise ExclusionAlreadyExists(f"The principal '{principal_arn}' is already excluded from pull time updates")
        if len(current) >= MAX_EXCLUSIONS:
            raise LimitExceeded(f"A registry can have at most {MAX_EXCLUSIONS} pull time update exclusions")
        await self.store.put_document(EXCLUSIONS_DOCUMENT, json.dumps(sorted([*current, principal_arn])))

    async def deregister(self, principal_arn: str) -> None:
        current = await self.exclusions()
        if principal_arn not in current:
            raise ExclusionNotFound(f"The principal '{principal_arn}' is not excluded from pull time updates")
        await self.store.put_document(EXCLUSIONS_DOCUMENT, json.dumps([a for a in current if a != principal_arn]))

    async def list_exclusions(self, params: dict[str, Any]) -> tuple[list[str], str | None]:
        return keyset_page(
            await self.exclusions(),
            lambda arn: arn,
            "PullTimeUpdateExclusions",
            self.token_key,
            params.get("maxResults"),
            params.get("nextToken"),
        )
