"""Authorisation: identity policies and repository policies evaluated together, for both faces.

Actions are ECR's IAM action names (ecr:BatchGetImage, ecr:PutImage, ...); resources are
repository ARNs, or "*" for registry-wide actions.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field

from ..domain.accounts import split_key
from ..domain.conditions import Context
from ..domain.ecr import repository_arn
from ..domain.errors import AccessDenied
from ..domain.policy import (
    ANONYMOUS,
    PolicyError,
    Statement,
    Verdict,
    conditional,
    cross_account,
    evaluate,
    judge,
    parse_policy,
)
from ..storage.changes import VersionedCache
from ..storage.meta.ports import RepositoryStore
from .identity import Principal


@dataclass
class RequestFacts:
    """What a face knows of the request that IAM Conditions may test (the faces set it for the
    request's task; the CLI has none)."""

    source_ip: str | None = None
    secure: bool = False
    request_tags: dict[str, str] = field(default_factory=dict)  # CreateRepository's, TagResource's


# The facts of the request this task serves: set by the faces as a function that works them out,
# worked out only when a decision needs them (most decisions are cached and never do).
REQUEST: ContextVar[RequestFacts | Callable[[], RequestFacts] | None] = ContextVar("kikoto_request", default=None)


def request_facts() -> RequestFacts | None:
    found = REQUEST.get()
    if callable(found):
        found = found()
        REQUEST.set(found)
    return found


@dataclass(frozen=True)
class RepositoryFacts:
    statements: tuple[Statement, ...]
    tags: tuple[tuple[str, str], ...]


class Access:
    def __init__(
        self,
        store: RepositoryStore,
        account: str,
        region: str,
        cache: VersionedCache | None = None,
        decisions: VersionedCache | None = None,
        registry_policy: Callable[[str], Awaitable[str | None]] | None = None,
    ) -> None:
        self.store = store
        self._registry_policy = registry_policy  # an account's registry policy (its text), by account
        self.account, self.region = account, region
        self._policies = cache or VersionedCache(None, 0)
        # (principal, action, repository) -> decision, until any change to keys or policies: the
        # same few questions are asked on every pull, and the answer is pure.
        self._decisions = decisions or VersionedCache(None, 0)

    def resource(self, repository: str | None) -> str:
        """The ARN of a repository (by its key: domain/accounts.py), or "*"."""
        return repository_arn(self.region, *split_key(repository, self.account)) if repository else "*"

    def home(self, principal: Principal) -> str:
        """The account a principal belongs to."""
        return principal.account or self.account

    async def _repository(self, repository: str) -> RepositoryFacts:
        async def load() -> RepositoryFacts:
            record = await self.store.get_repository(repository)
            tags = tuple((t["Key"], t["Value"]) for t in (record.resource_tags or [])) if record else ()
            return RepositoryFacts(_statements(record.repository_policy if record else None), tags)

        return await self._policies.fetch(repository, load)

    async def preload(self, repositories: list[str]) -> None:
        """Read the policies of a listing's repositories in one query, so the per-repository
        decisions that follow cost no query each."""
        missing = [name for name in repositories if self._policies.get(name)[0] is None]
        if missing:
            token = self._policies.get(missing[0])[1]
            records = {r.name: r for r in await self.store.repositories(missing)}
            for name, record in records.items():
                tags = tuple((t["Key"], t["Value"]) for t in (record.resource_tags or []))
                self._policies.put(name, RepositoryFacts(_statements(record.repository_policy), tags), token)

    async def _registry_statements(self, account: str) -> tuple[Statement, ...]:
        """The registry policy of `account`: what it grants other accounts in its registry
        (ECR's registry permissions: ecr:CreateRepository, ecr:ReplicateImage, ...)."""
        return _statements(await self._registry_policy(account)) if self._registry_policy else ()

    def forget(self, repository: str) -> None:
        """Kept for callers in this process; the change counter already tells every process."""

    async def decide(
        self,
        principal: Principal | None,
        action: str,
        repository: str | None,
        resource: str | None = None,
        account: str | None = None,
    ) -> str | None:
        """'Allow', 'Deny' (explicitly) or None (nothing allows it). The resource is the
        repository's ARN (its key names its account), or `resource` (another service's ARN, e.g.
        a secret's), or "*": the registry of `account`, by default the first account's. A request
        into another account than the caller's needs both its identity policy and the
        resource's policy (a registry has none yet: refused)."""
        known = principal if principal is not None and not principal.anonymous else None
        key = ((known.arn, known.key_id) if known else None, action, repository, resource, account)
        cached, token = self._decisions.get(key)
        if cached is not None:  # in a tuple: "nothing allows it" is cached too
            known_answer: str | None = cached[0]
            return known_answer
        policies = [known.policy] if known else []
        facts = await self._repository(repository) if repository else None
        if facts:
            policies.append(facts.statements)
        arn, target = known.arn if known else ANONYMOUS, resource or self.resource(repository)
        home = self.home(known) if known else self.account
        owner = split_key(repository, self.account)[0] if repository else account or self.account
        cross = known is not None and owner != home  # into another account: its grant is needed too
        if cross and resource is None:  # the owner's registry policy: for ECR's resources only
            policies.append(await self._registry_statements(owner))
        context = self.context(known, facts, request_facts()) if conditional(policies) else None
        if cross:
            decision = cross_account(
                evaluate(policies[:1], arn, home, action, target, context),
                evaluate(policies[1:], arn, home, action, target, context, cross=True),
            )
        else:
            decision = evaluate(policies, arn, home, action, target, context)
        if context is None:  # with Conditions the answer depends on the request: decided each time
            self._decisions.put(key, (decision,), token)
        return decision

    async def explain(
        self,
        principal: Principal,
        action: str,
        repository: str | None,
        request: RequestFacts | None,
        extra: dict[str, str | list[str]] | None = None,
    ) -> tuple[Verdict, list[str], int | None]:
        """The decision for `principal` as if it asked this (`kikoto policy simulate`): the
        verdict, the names of the documents evaluated, and the deciding statement's number (1-based)
        in its document."""
        policies, names = [principal.policy], [f"the identity policy of {principal.name}"]
        facts = await self._repository(repository) if repository else None
        if facts is not None:
            policies.append(facts.statements)
            names.append(f"the repository policy of {repository}")
        context = {**self.context(principal, facts, request), **{k.lower(): v for k, v in (extra or {}).items()}}
        verdict = judge(policies, principal.arn, self.home(principal), action, self.resource(repository), context)
        if verdict.document is None:
            return verdict, names, None
        place = next(n for n, s in enumerate(policies[verdict.document], 1) if s is verdict.statement)
        return verdict, names, place

    def context(
        self, principal: Principal | None, repository: RepositoryFacts | None, request: RequestFacts | None
    ) -> Context:
        """The condition keys of a request, as IAM names them (lower case); a key IAM would not
        have here is absent (and evaluates as IAM evaluates an absent key)."""
        now = time.time()
        context: dict[str, str | list[str]] = {
            "aws:currenttime": datetime.datetime.fromtimestamp(now, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "aws:epochtime": str(int(now)),
            "aws:requestedregion": self.region,
            "aws:multifactorauthpresent": "false",
        }
        if principal is not None:
            context |= {
                "aws:principalarn": principal.arn,
                "aws:principalaccount": self.home(principal),
                "aws:principaltype": "User",
                "aws:username": principal.name,
                "aws:userid": principal.key_id or principal.name,
            }
            for key, value in principal.tags:
                context[f"aws:principaltag/{key.lower()}"] = value
        for key, value in repository.tags if repository else ():
            context[f"aws:resourcetag/{key.lower()}"] = value
            context[f"ecr:resourcetag/{key.lower()}"] = value
        if request is not None:
            if request.source_ip:
                context["aws:sourceip"] = request.source_ip
            context["aws:securetransport"] = "true" if request.secure else "false"
            for key, value in request.request_tags.items():
                context[f"aws:requesttag/{key.lower()}"] = value
            if request.request_tags:
                context["aws:tagkeys"] = list(request.request_tags)
        return context

    async def allowed(
        self, principal: Principal | None, action: str, repository: str | None, account: str | None = None
    ) -> bool:
        return await self.decide(principal, action, repository, None, account) == "Allow"

    async def require(
        self,
        principal: Principal | None,
        action: str,
        repository: str | None,
        resource: str | None = None,
        account: str | None = None,
    ) -> None:
        """The ECR face's check: AccessDeniedException in AWS's words."""
        decision = await self.decide(principal, action, repository, resource, account)
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
