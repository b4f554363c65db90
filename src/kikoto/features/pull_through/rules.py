"""Pull-through cache rules through the ECR API: create, describe (paged), update, delete and
validate, with ECR's checks and messages."""

from __future__ import annotations

import time
from typing import Any

from ...domain.errors import (
    InvalidParameter,
    KikotoError,
    LimitExceeded,
    PullThroughRuleAlreadyExists,
    PullThroughRuleNotFound,
)
from ...services.registry import RegistryIdentity, keyset_page
from ...storage.changes import VersionedCache
from .model import NEEDS_CREDENTIALS, ROOT, Rule, best_rule, check_upstream, normalise_prefix
from .secrets import Secrets
from .store import PullThroughStore

MAX_RULES = 50  # ECR's quota per registry


class PullThroughRules:
    def __init__(
        self,
        store: PullThroughStore,
        secrets: Secrets,
        upstreams,
        registry: RegistryIdentity,
        token_key: bytes,
        allow_insecure: bool = False,
        cache: VersionedCache | None = None,
    ) -> None:
        self.store, self.secrets, self.upstreams, self.registry = store, secrets, upstreams, registry
        self.token_key, self.allow_insecure = token_key, allow_insecure
        self._cache = cache or VersionedCache(None, 0)

    async def all(self) -> list[Rule]:
        return await self._cache.fetch("rules", self.store.rules)

    async def match(self, name: str) -> Rule | None:
        """The rule whose cache namespace holds repository `name`, if any (one cached lookup:
        every pull asks)."""
        rules = await self.all()
        return best_rule(rules, name) if rules else None

    def _missing(self, prefix: str) -> PullThroughRuleNotFound:
        return PullThroughRuleNotFound(
            f"The pull through cache rule with prefix '{prefix}' does not exist in the registry with id "
            f"'{self.registry.account}'"
        )

    async def get(self, prefix: str) -> Rule:
        wanted = normalise_prefix(prefix)
        for rule in await self.store.rules():
            if rule.prefix == wanted:
                return rule
        raise self._missing(prefix)

    async def _check_credential(self, upstream: str | None, credential_arn: str | None) -> None:
        if credential_arn:
            await self.secrets.credentials(credential_arn)  # SecretNotFound / SecretUnusable
        elif upstream in NEEDS_CREDENTIALS:
            raise InvalidParameter(
                f"Invalid parameter at 'credentialArn' failed to satisfy constraint: 'A credential ARN is required "
                f"for the upstream registry {upstream}'"
            )

    async def create(
        self,
        prefix: str,
        url: str,
        upstream: str | None,
        credential_arn: str | None,
        custom_role_arn: str | None,
        upstream_prefix: str | None,
    ) -> Rule:
        prefix = normalise_prefix(prefix)
        upstream = check_upstream(upstream, url, self.allow_insecure)
        rules = await self.store.rules()
        if len(rules) >= MAX_RULES:
            raise LimitExceeded(
                f"The maximum number of pull through cache rules ({MAX_RULES}) has been reached for the registry."
            )
        await self._check_credential(upstream, credential_arn)
        now = time.time()
        rule = Rule(
            prefix,
            upstream,
            url,
            credential_arn,
            custom_role_arn,
            normalise_prefix(upstream_prefix or ROOT),
            now,
            now,
        )
        if any(r.prefix == prefix for r in rules) or not await self.store.add_rule(rule):
            raise PullThroughRuleAlreadyExists(
                f"The pull through cache rule with prefix '{prefix}' already exists in the registry with id "
                f"'{self.registry.account}'"
            )
        return rule

    async def update(self, prefix: str, credential_arn: str | None, custom_role_arn: str | None) -> Rule:
        rule = await self.get(prefix)
        if credential_arn is None and custom_role_arn is None:
            raise InvalidParameter("Invalid parameter: one of credentialArn or customRoleArn must be specified")
        await self._check_credential(rule.upstream_registry, credential_arn or rule.credential_arn)
        changes: dict[str, Any] = {"updated_at": time.time()}
        if credential_arn is not None:
            changes["credential_arn"] = credential_arn
        if custom_role_arn is not None:
            changes["custom_role_arn"] = custom_role_arn
        if not await self.store.update_rule(rule.prefix, **changes):
            raise self._missing(prefix)
        return await self.get(rule.prefix)

    async def delete(self, prefix: str) -> Rule:
        rule = await self.get(prefix)
        if not await self.store.delete_rule(rule.prefix):
            raise self._missing(prefix)
        return rule

    async def describe(
        self, prefixes: list[str] | None, max_results: int | None, next_token: str | None
    ) -> tuple[list[Rule], str | None]:
        rules = await self.store.rules()
        if prefixes:
            known = {r.prefix: r for r in rules}
            for prefix in prefixes:
                if normalise_prefix(prefix) not in known:
                    raise self._missing(prefix)
            rules = [known[normalise_prefix(p)] for p in dict.fromkeys(prefixes)]
        return keyset_page(rules, lambda r: r.prefix, "PullThroughCacheRules", self.token_key, max_results, next_token)

    async def credentials(self, rule: Rule) -> tuple[str, str] | None:
        return await self.secrets.credentials(rule.credential_arn) if rule.credential_arn else None

    async def validate(self, prefix: str) -> tuple[Rule, bool, str | None]:
        """Whether the upstream can be reached and authenticated to with the rule's secret."""
        rule = await self.get(prefix)
        try:
            credentials = await self.credentials(rule)
            await self.upstreams.client(rule.base_url, credentials).check()
        except KikotoError as failure:  # unreachable, refused, or a secret that cannot be used
            return rule, False, failure.message
        return rule, True, None
