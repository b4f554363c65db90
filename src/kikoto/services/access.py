"""Authorisation: identity policies and repository policies evaluated together, for both faces.

Actions are ECR's IAM action names (ecr:BatchGetImage, ecr:PutImage, ...); resources are
repository ARNs, or "*" for registry-wide actions.
"""

from __future__ import annotations

import time

from ..domain.ecr import repository_arn
from ..domain.errors import EcrError
from ..domain.policy import ANONYMOUS, PolicyError, Statement, evaluate, parse_policy
from ..storage.meta.ecr import EcrStore
from .identity import Principal

POLICY_CACHE_SECONDS = 5.0


class Access:
    def __init__(self, store: EcrStore, account: str, region: str, clock=time.time):
        self.store = store
        self.account, self.region = account, region
        self._clock = clock
        self._repo_policies: dict[str, tuple[float, tuple[Statement, ...]]] = {}

    def resource(self, repository: str | None) -> str:
        return repository_arn(self.region, self.account, repository) if repository else "*"

    async def _repository_policy(self, repository: str) -> tuple[Statement, ...]:
        now = self._clock()
        cached = self._repo_policies.get(repository)
        if cached and now - cached[0] < POLICY_CACHE_SECONDS:
            return cached[1]
        record = await self.store.repository(repository)
        statements: tuple[Statement, ...] = ()
        if record and record.repository_policy:
            try:
                statements = parse_policy(record.repository_policy, resource_policy=True)
            except PolicyError:
                statements = ()  # stored policies were validated on the way in
        if len(self._repo_policies) > 10_000:
            self._repo_policies.clear()
        self._repo_policies[repository] = (now, statements)
        return statements

    def forget(self, repository: str) -> None:
        self._repo_policies.pop(repository, None)

    async def decide(self, principal: Principal | None, action: str, repository: str | None) -> str | None:
        """'Allow', 'Deny' (explicitly) or None (nothing allows it)."""
        policies = [] if principal is None or principal.anonymous else [principal.policy]
        if repository:
            policies.append(await self._repository_policy(repository))
        arn = principal.arn if principal and not principal.anonymous else ANONYMOUS
        return evaluate(policies, arn, self.account, action, self.resource(repository))

    async def allowed(self, principal: Principal | None, action: str, repository: str | None) -> bool:
        return await self.decide(principal, action, repository) == "Allow"

    async def require(self, principal: Principal | None, action: str, repository: str | None) -> None:
        """The ECR face's check: AccessDeniedException in AWS's words."""
        decision = await self.decide(principal, action, repository)
        if decision != "Allow":
            who = principal.arn if principal and not principal.anonymous else "anonymous"
            why = "with an explicit deny" if decision == "Deny" else f"because no policy allows the {action} action"
            raise EcrError("AccessDeniedException",
                           f"User: {who} is not authorized to perform: {action} on resource: "
                           f"{self.resource(repository)} {why}")
