"""Authorisation: identity policies and repository policies evaluated together, for both faces.

Actions are ECR's IAM action names (ecr:BatchGetImage, ecr:PutImage, ...); resources are
repository ARNs, or "*" for registry-wide actions.
"""

from __future__ import annotations

from ..domain.ecr import repository_arn
from ..domain.errors import AccessDenied
from ..domain.policy import ANONYMOUS, PolicyError, Statement, evaluate, parse_policy
from ..storage.changes import VersionedCache
from ..storage.meta.ports import RepositoryStore
from .identity import Principal


class Access:
    def __init__(
        self,
        store: RepositoryStore,
        account: str,
        region: str,
        cache: VersionedCache | None = None,
        decisions: VersionedCache | None = None,
    ) -> None:
        self.store = store
        self.account, self.region = account, region
        self._policies = cache or VersionedCache(None, 0)
        # (principal, action, repository) -> decision, until any change to keys or policies: the
        # same few questions are asked on every pull, and the answer is pure.
        self._decisions = decisions or VersionedCache(None, 0)

    def resource(self, repository: str | None) -> str:
        return repository_arn(self.region, self.account, repository) if repository else "*"

    async def _repository_policy(self, repository: str) -> tuple[Statement, ...]:
        async def load() -> tuple[Statement, ...]:
            record = await self.store.get_repository(repository)
            return _statements(record.repository_policy if record else None)

        return await self._policies.fetch(repository, load)

    async def preload(self, repositories: list[str]) -> None:
        """Read the policies of a listing's repositories in one query, so the per-repository
        decisions that follow cost no query each."""
        missing = [name for name in repositories if self._policies.get(name)[0] is None]
        if missing:
            token = self._policies.get(missing[0])[1]
            for name, text in (await self.store.repository_policies(missing)).items():
                self._policies.put(name, _statements(text), token)

    def forget(self, repository: str) -> None:
        """Kept for callers in this process; the change counter already tells every process."""

    async def decide(
        self, principal: Principal | None, action: str, repository: str | None, resource: str | None = None
    ) -> str | None:
        """'Allow', 'Deny' (explicitly) or None (nothing allows it). The resource is the
        repository's ARN, or `resource` (another service's ARN, e.g. a secret's)."""
        known = principal if principal is not None and not principal.anonymous else None
        key = ((known.arn, known.key_id) if known else None, action, repository, resource)

        async def load() -> tuple[str | None]:  # in a tuple: "nothing allows it" is cached too
            policies = [known.policy] if known else []
            if repository:
                policies.append(await self._repository_policy(repository))
            arn = known.arn if known else ANONYMOUS
            return (evaluate(policies, arn, self.account, action, resource or self.resource(repository)),)

        return (await self._decisions.fetch(key, load))[0]

    async def allowed(self, principal: Principal | None, action: str, repository: str | None) -> bool:
        return await self.decide(principal, action, repository) == "Allow"

    async def require(
        self, principal: Principal | None, action: str, repository: str | None, resource: str | None = None
    ) -> None:
        """The ECR face's check: AccessDeniedException in AWS's words."""
        decision = await self.decide(principal, action, repository, resource)
        if decision != "Allow":
            who = principal.arn if principal and not principal.anonymous else "anonymous"
            why = "with an explicit deny" if decision == "Deny" else f"because no policy allows the {action} action"
            raise AccessDenied(
                f"User: {who} is not authorized to perform: {action} on resource: "
                f"{resource or self.resource(repository)} {why}",
                action=action,
            )


def _statements(text: str | None) -> tuple[Statement, ...]:
    if not text:
        return ()
    try:
        return parse_policy(text, resource_policy=True)
    except PolicyError:
        return ()  # stored policies were validated on the way in
