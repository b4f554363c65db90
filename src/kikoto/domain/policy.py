"""IAM-style policy documents: parsing and evaluation, as ECR applies them.

Identity policies (attached to a principal) and repository policies (attached to a
repository, with a Principal element) are evaluated together: an explicit Deny anywhere
wins; otherwise an Allow in either grants; otherwise the request is denied.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .conditions import Condition, ConditionError, Context, all_hold, parse_conditions
from .glob import glob_match, wildcards

EFFECTS = ("Allow", "Deny")
STATEMENT_KEYS = {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Principal", "Condition"}
ANONYMOUS = "anonymous"
# IAM's bounds: a repository (resource) policy holds at most 10,240 characters (ECR's model), an
# identity policy 6,144 (IAM's managed policy quota); an ARN at most 2,048. The wildcard bound is
# ours: with linear-time matching it only keeps pathological documents out.
MAX_RESOURCE_POLICY = 10_240
MAX_IDENTITY_POLICY = 6_144
MAX_ELEMENT = 2_048
MAX_WILDCARDS = 64
MAX_STATEMENTS = 100


class PolicyError(ValueError):
    """The document is not a policy we can enforce exactly; the message says why."""


@dataclass(frozen=True)
class Statement:
    sid: str
    effect: str
    actions: tuple[str, ...]
    not_actions: tuple[str, ...]
    resources: tuple[str, ...]
    principals: tuple[str, ...] | None  # None: an identity policy statement (no Principal element)
    conditions: tuple[Condition, ...] = ()  # all must hold for the statement to apply


class Statements(tuple[Statement, ...]):
    """A parsed document's statements, with a memo of which of them apply to a (principal,
    action, resource): that part of a decision is pure, so only the statements' Conditions are
    evaluated again on each request (a 100-statement document: 350 µs a decision without the
    memo; bench/policy.py)."""

    MEMO = 4096

    def applicable(
        self, principal_arn: str, account: str, action: str, resource: str, cross: bool = False
    ) -> tuple[Statement, ...]:
        memo: dict[tuple[str, str, str, str, bool], tuple[Statement, ...]] = self.__dict__.setdefault("memo", {})
        key = (principal_arn, account, action, resource, cross)
        found = memo.get(key)
        if found is None:
            if len(memo) >= self.MEMO:
                memo.clear()
            found = memo[key] = _applicable(self, principal_arn, account, action, resource, cross)
        return found


def _matches(patterns: tuple[str, ...], value: str, case_insensitive: bool = False) -> bool:
    return any(glob_match(p, value, case_insensitive) for p in patterns)


def _strings(value, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not (isinstance(value, list) and value and all(isinstance(v, str) for v in value)):
        raise PolicyError(f"{where} must be a string or a non-empty list of strings")
    for item in value:
        if len(item) > MAX_ELEMENT:
            raise PolicyError(f"{where}: an entry is longer than {MAX_ELEMENT} characters")
        if wildcards(item) > MAX_WILDCARDS:
            raise PolicyError(f"{where}: an entry has more than {MAX_WILDCARDS} wildcards")
    return tuple(value)


def _principals(value) -> tuple[str, ...]:
    if value == "*":
        return ("*",)
    if isinstance(value, dict) and set(value) == {"AWS"}:
        principals = _strings(value["AWS"], "Principal.AWS")
        for principal in principals:
            if principal != "*" and wildcards(principal):
                # IAM: "You cannot use a wildcard to match part of a principal name or ARN."
                raise PolicyError(f'Principal.AWS: {principal!r} has a wildcard; only "*" alone may stand for all')
        return principals
    raise PolicyError('Principal must be "*" or {"AWS": ...}')


def parse_policy(text: str, resource_policy: bool) -> tuple[Statement, ...]:
    limit = MAX_RESOURCE_POLICY if resource_policy else MAX_IDENTITY_POLICY
    if len(text) > limit:
        raise PolicyError(f"Invalid policy document: longer than {limit} characters")
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        raise PolicyError("Invalid policy document: not valid JSON") from None
    if not isinstance(document, dict) or "Statement" not in document:
        raise PolicyError("Invalid policy document: a Statement is required")
    raw = document["Statement"]
    raw = [raw] if isinstance(raw, dict) else raw
    if not isinstance(raw, list):
        raise PolicyError("Statement must be an object or a list")
    if len(raw) > MAX_STATEMENTS:
        raise PolicyError(f"Invalid policy document: more than {MAX_STATEMENTS} statements")
    statements = []
    for i, entry in enumerate(raw):
        if not isinstance(entry, dict):
            raise PolicyError(f"Statement[{i}] must be an object")
        unknown = set(entry) - STATEMENT_KEYS
        if unknown:
            raise PolicyError(f"Statement[{i}]: unknown element(s) {sorted(unknown)}")
        if entry.get("Effect") not in EFFECTS:
            raise PolicyError(f"Statement[{i}]: Effect must be Allow or Deny")
        if ("Action" in entry) == ("NotAction" in entry):
            raise PolicyError(f"Statement[{i}]: exactly one of Action and NotAction is required")
        if "NotResource" in entry:
            raise PolicyError(f"Statement[{i}]: NotResource is not supported")
        if resource_policy and "Principal" not in entry:
            raise PolicyError(f"Statement[{i}]: a repository policy statement needs a Principal")
        if not resource_policy and "Principal" in entry:
            raise PolicyError(f"Statement[{i}]: an identity policy has no Principal")
        try:
            conditions = (
                parse_conditions(entry["Condition"], f"Statement[{i}].Condition") if "Condition" in entry else ()
            )
        except ConditionError as invalid:
            raise PolicyError(str(invalid)) from None
        statements.append(
            Statement(
                sid=entry["Sid"] if isinstance(entry.get("Sid"), str) else "",
                effect=entry["Effect"],
                actions=_strings(entry["Action"], "Action") if "Action" in entry else (),
                not_actions=_strings(entry["NotAction"], "NotAction") if "NotAction" in entry else (),
                resources=_strings(entry.get("Resource", "*"), "Resource"),
                principals=_principals(entry["Principal"]) if "Principal" in entry else None,
                conditions=conditions,
            )
        )
    return Statements(statements)


def _principal_match(patterns: tuple[str, ...], principal_arn: str, account: str) -> str | None:
    """'named' when a statement names the caller (or everyone), 'account' when it names the
    caller's account, None when it does not apply to the caller."""
    account_match = False
    for pattern in patterns:
        if pattern == "*":
            return "named"
        if principal_arn == ANONYMOUS:
            continue
        if pattern == principal_arn:
            return "named"
        if pattern in (account, f"arn:aws:iam::{account}:root") and principal_arn.startswith(
            (f"arn:aws:iam::{account}:", f"arn:aws:sts::{account}:")
        ):
            account_match = True
    return "account" if account_match else None


def conditional(policies: list[tuple[Statement, ...]]) -> bool:
    """Whether any statement has a Condition (its decision then depends on the request)."""
    return any(statement.conditions for statements in policies for statement in statements)


@dataclass(frozen=True)
class Verdict:
    """A decision and what made it: the statement (and the index of its document in the list
    evaluated) that denied, or the first that allowed; none for an implicit deny."""

    decision: str | None  # Allow, Deny, or None (nothing allows it)
    document: int | None = None
    statement: Statement | None = None


def evaluate(
    policies: list[tuple[Statement, ...]],
    principal_arn: str,
    account: str,
    action: str,
    resource: str,
    context: Context | None = None,
    cross: bool = False,
) -> str | None:
    """'Deny', 'Allow', or None (no statement applies: implicitly denied). `context`: the
    request's condition keys (lower case), for statements with a Condition.

    A resource policy statement naming the caller's account (`<account>` or its `:root` ARN)
    delegates to that account's identity policies, as IAM does: within the account its Allow
    grants nothing by itself, while its Deny applies to every principal of the account. Across
    accounts (`cross`: the resource is another account's) the same Allow is that account's
    grant, which the caller's identity policy must also give (`cross_account`)."""
    return judge(policies, principal_arn, account, action, resource, context, cross).decision


def cross_account(identity: str | None, resource: str | None) -> str | None:
    """IAM's rule for a request into another account: both the caller's identity policy and
    the resource's policy must allow it, and a Deny in either denies it."""
    if "Deny" in (identity, resource):
        return "Deny"
    return "Allow" if identity == resource == "Allow" else None


def judge(
    policies: list[tuple[Statement, ...]],
    principal_arn: str,
    account: str,
    action: str,
    resource: str,
    context: Context | None = None,
    cross: bool = False,
) -> Verdict:
    """`evaluate`, with the statement that decided (what `kikoto policy simulate` shows)."""
    allowed: Verdict | None = None
    for document, statements in enumerate(policies):
        if isinstance(statements, Statements):
            applying = statements.applicable(principal_arn, account, action, resource, cross)
        else:
            applying = _applicable(statements, principal_arn, account, action, resource, cross)
        for statement in applying:
            if statement.conditions and not all_hold(statement.conditions, context or {}):
                continue
            if statement.effect == "Deny":
                return Verdict("Deny", document, statement)
            if allowed is None:
                allowed = Verdict("Allow", document, statement)
    return allowed or Verdict(None)


def _applicable(
    statements: tuple[Statement, ...],
    principal_arn: str,
    account: str,
    action: str,
    resource: str,
    cross: bool = False,
) -> tuple[Statement, ...]:
    """The statements whose principal, action and resource cover the request (their Conditions
    are the request's to decide)."""
    found = []
    for statement in statements:
        if statement.principals is not None:
            match = _principal_match(statement.principals, principal_arn, account)
            if match is None or (match == "account" and statement.effect == "Allow" and not cross):
                continue
        if statement.actions and not _matches(statement.actions, action, case_insensitive=True):
            continue
        if statement.not_actions and _matches(statement.not_actions, action, case_insensitive=True):
            continue
        if not _matches(statement.resources, resource):
            continue
        found.append(statement)
    return tuple(found)


ADMINISTRATOR = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)
READ_ACTIONS = [
    "ecr:GetAuthorizationToken",
    "ecr:BatchCheckLayerAvailability",
    "ecr:GetDownloadUrlForLayer",
    "ecr:BatchGetImage",
    "ecr:Describe*",
    "ecr:List*",
    "ecr:Get*",
]
# Pushing, and filling existing pull-through cache repositories from their upstream.
PUSH_ACTIONS = [
    "ecr:InitiateLayerUpload",
    "ecr:UploadLayerPart",
    "ecr:CompleteLayerUpload",
    "ecr:PutImage",
    "ecr:BatchImportUpstreamImage",
]


def _allow(actions: list[str]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*", "Action": actions}]})


READ_ONLY = _allow(READ_ACTIONS)
POWER_USER = _allow(READ_ACTIONS + PUSH_ACTIONS)
