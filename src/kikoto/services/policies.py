"""IAM groups and managed policies: a user's identity policy is its own inline policies, the
managed policies attached to it, and those of its groups; a role's, its inline and attached
policies. Customer managed policies keep up to five versions, one the default; AWS's managed
ECR policies exist by their ARNs (domain/managed.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..domain.ecr import IAM_NAME as PRINCIPAL_NAME
from ..domain.errors import (
    DeleteConflict,
    EntityExists,
    EntityNotFound,
    InvalidParameter,
    LimitExceeded,
    MalformedPolicy,
)
from ..domain.managed import AWS_MANAGED, AWS_POLICY_PREFIX
from ..domain.policy import PolicyError, parse_policy
from ..storage.meta.ports import AlreadyExists, GroupRow, IdentityStore, PrincipalRow

MAX_VERSIONS = 5  # IAM's quota of versions a managed policy
HOLDERS = ("user", "group", "role")


@dataclass(frozen=True)
class ManagedPolicy:
    name: str
    arn: str
    default_version: int
    created_at: float
    attachments: int
    aws: bool


def check(document: str) -> None:
    try:
        parse_policy(document, resource_policy=False)
    except PolicyError as invalid:
        raise MalformedPolicy(str(invalid)) from None


class InlinePolicies:
    """A user's, group's or role's inline policies by name, as IAM keeps them (one class for the
    three: only where they are stored differs)."""

    def __init__(
        self,
        noun: str,
        holder: Callable[[str], Awaitable[int]],
        put: Callable[[int, str, str], Awaitable[None]],
        read: Callable[[int], Awaitable[dict[str, str]]],
        delete: Callable[[int, str], Awaitable[bool]],
    ) -> None:
        self.noun, self._holder, self._put, self._read, self._delete = noun, holder, put, read, delete

    async def put(self, name: str, policy_name: str, document: str) -> None:
        check(document)
        await self._put(await self._holder(name), policy_name, document)

    async def get(self, name: str, policy_name: str) -> str:
        found = (await self._read(await self._holder(name))).get(policy_name)
        if found is None:
            raise EntityNotFound(f"The {self.noun} policy with name {policy_name} cannot be found.")
        return found

    async def names(self, name: str) -> list[str]:
        return list(await self._read(await self._holder(name)))

    async def delete(self, name: str, policy_name: str) -> None:
        if not await self._delete(await self._holder(name), policy_name):
            raise EntityNotFound(f"The {self.noun} policy with name {policy_name} cannot be found.")


class Policies:
    def __init__(self, store: IdentityStore, account: str) -> None:
        self.store, self.account = store, account

        async def holder(name: str) -> int:
            return (await self.group(name)).id

        self.inline = InlinePolicies(
            "group", holder, store.put_group_document, store.group_documents, store.delete_group_document
        )

    def arn(self, name: str) -> str:
        return f"arn:aws:iam::{self.account}:policy/{name}"

    def _name(self, arn: str) -> tuple[str, bool]:
        """(the policy's name, whether it is AWS's) for an ARN of this account's or AWS's."""
        if arn.startswith(AWS_POLICY_PREFIX) and arn[len(AWS_POLICY_PREFIX) :] in AWS_MANAGED:
            return arn[len(AWS_POLICY_PREFIX) :], True
        prefix = self.arn("")
        if arn.startswith(prefix):
            return arn[len(prefix) :], False
        raise EntityNotFound(f"Policy {arn[:300]} does not exist or is not attachable.")

    # -- managed policies -----------------------------------------------------------------------

    async def create(self, name: str, document: str) -> ManagedPolicy:
        if not PRINCIPAL_NAME.fullmatch(name):
            raise InvalidParameter(f"The specified value for policyName is invalid: {name[:128]}")
        check(document)
        try:
            row = await self.store.create_managed(name, document)
        except AlreadyExists:
            raise EntityExists(f"A policy called {name} already exists. Duplicate names are not allowed.") from None
        return ManagedPolicy(name, self.arn(name), 1, row.created_at, 0, False)

    async def get(self, arn: str) -> ManagedPolicy:
        name, aws = self._name(arn)
        if aws:
            return ManagedPolicy(name, arn, 1, 0.0, await self.store.attachment_count(arn), True)
        row = await self.store.managed(name)
        if row is None:
            raise EntityNotFound(f"Policy {arn} was not found.")
        return ManagedPolicy(
            name, arn, row.default_version, row.created_at, await self.store.attachment_count(arn), False
        )

    async def page(self, after: str, limit: int, scope: str) -> list[ManagedPolicy]:
        """AWS's (scope AWS), the account's (Local), or both (All), by name."""
        found = []
        if scope in ("All", "AWS"):
            found += [await self.get(AWS_POLICY_PREFIX + name) for name in sorted(AWS_MANAGED) if name > after]
        if scope in ("All", "Local"):
            found += [await self.get(self.arn(row.name)) for row in await self.store.managed_page(after, limit)]
        return sorted(found, key=lambda p: p.name)[:limit]

    async def version(self, arn: str, version_id: str) -> tuple[str, bool, float]:
        """(document, is the default, created) of version `v<N>`."""
        policy = await self.get(arn)
        if policy.aws:
            if version_id != "v1":
                raise EntityNotFound(f"Policy {arn} version {version_id} does not exist.")
            return AWS_MANAGED[policy.name], True, 0.0
        row = await self.store.managed(policy.name)
        assert row is not None
        for number, document, created in await self.store.versions(row.id):
            if f"v{number}" == version_id:
                return document, number == row.default_version, created
        raise EntityNotFound(f"Policy {arn} version {version_id} does not exist.")

    async def add_version(self, arn: str, document: str, default: bool) -> tuple[int, float]:
        policy = await self.get(arn)
        if policy.aws:
            raise InvalidParameter("AWS managed policies cannot be changed")
        check(document)
        row = await self.store.managed(policy.name)
        assert row is not None
        if len(await self.store.versions(row.id)) >= MAX_VERSIONS:
            raise LimitExceeded(f"A managed policy can have up to {MAX_VERSIONS} versions.")
        number = await self.store.add_version(row.id, document, default)
        return number, (await self.store.versions(row.id))[-1][2]

    async def delete(self, arn: str) -> None:
        policy = await self.get(arn)
        if policy.aws:
            raise InvalidParameter("AWS managed policies cannot be deleted")
        if policy.attachments:
            raise DeleteConflict("Cannot delete a policy attached to entities.")
        row = await self.store.managed(policy.name)
        assert row is not None
        await self.store.delete_managed(row.id)

    async def attach(self, kind: str, holder_id: int, arn: str) -> None:
        await self.get(arn)  # it exists
        await self.store.attach(kind, holder_id, arn)

    async def detach(self, kind: str, holder_id: int, arn: str) -> None:
        if not await self.store.detach(kind, holder_id, arn):
            raise EntityNotFound(f"Policy {arn} was not attached.")

    async def documents(self, kind: str, holder_id: int) -> list[str]:
        """The default versions of the managed policies attached to a user, group or role."""
        arns = await self.store.attached(kind, holder_id)
        local = [arn.rsplit("/", 1)[1] for arn in arns if not arn.startswith(AWS_POLICY_PREFIX)]
        customer = await self.store.default_documents(local)
        found = [AWS_MANAGED[arn[len(AWS_POLICY_PREFIX) :]] for arn in arns if arn.startswith(AWS_POLICY_PREFIX)]
        return found + [customer[name] for name in local if name in customer]

    # -- groups ---------------------------------------------------------------------------------

    async def group(self, name: str) -> GroupRow:
        row = await self.store.group(name)
        if row is None:
            raise EntityNotFound(f"The group with name {name} cannot be found.")
        return row

    async def create_group(self, name: str) -> GroupRow:
        if not PRINCIPAL_NAME.fullmatch(name):
            raise InvalidParameter(f"The specified value for groupName is invalid: {name[:128]}")
        try:
            return await self.store.create_group(name)
        except AlreadyExists:
            raise EntityExists(f"Group with name {name} already exists.") from None

    async def delete_group(self, name: str) -> None:
        row = await self.group(name)
        if await self.store.members(row.id) or await self.store.group_documents(row.id):
            raise DeleteConflict("Cannot delete entity, must remove users and policies from group first.")
        if await self.store.attached("group", row.id):
            raise DeleteConflict("Cannot delete entity, must detach all policies first.")
        await self.store.delete_group(row.id)

    async def members(self, name: str) -> tuple[GroupRow, list[PrincipalRow]]:
        row = await self.group(name)
        return row, await self.store.members(row.id)
