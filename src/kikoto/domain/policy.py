"""IAM-style policy documents: parsing and evaluation, as ECR applies them.

Identity policies (attached to a principal) and repository policies (attached to a
repository, with a Principal element) are evaluated together: an explicit Deny anywhere
wins; otherwise an Allow in either grants; otherwise the request is denied.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache

EFFECTS = ("Allow", "Deny")
STATEMENT_KEYS = {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Principal"}
ANONYMOUS = "anonymous"


class PolicyError(ValueError):
    """The document is not a policy we can enforce exactly; the message says why."""


@dataclass(frozen=True)
class Statement:
    effect: str
    actions: tuple[str, ...]
    not_actions: tuple[str, ...]
    resources: tuple[str, ...]
    principals: tuple[str, ...] | None  # None: an identity policy statement (no Principal element)


@lru_cache(maxsize=4096)
def _wildcard(pattern: str, case_insensitive: bool) -> re.Pattern:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(regex, re.IGNORECASE if case_insensitive else 0)


def _matches(patterns: tuple[str, ...], value: str, case_insensitive: bool = False) -> bool:
    return any(_wildcard(p, case_insensitive).fullmatch(value) for p in patterns)


def _strings(value, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise PolicyError(f"{where} must be a string or a non-empty list of strings")


def _principals(value) -> tuple[str, ...]:
    if value == "*":
        return ("*",)
    if isinstance(value, dict) and set(value) == {"AWS"}:
        return _strings(value["AWS"], "Principal.AWS")
    raise PolicyError('Principal must be "*" or {"AWS": ...}')


def parse_policy(text: str, resource_policy: bool) -> tuple[Statement, ...]:
    try:
        document = json.loads(text)
    except ValueError:
        raise PolicyError("Invalid policy document: not valid JSON") from None
    if not isinstance(document, dict) or "Statement" not in document:
        raise PolicyError("Invalid policy document: a Statement is required")
    raw = document["Statement"]
    raw = [raw] if isinstance(raw, dict) else raw
    if not isinstance(raw, list):
        raise PolicyError("Statement must be an object or a list")
    statements = []
    for i, entry in enumerate(raw):
        if not isinstance(entry, dict):
            raise PolicyError(f"Statement[{i}] must be an object")
        unknown = set(entry) - STATEMENT_KEYS
        if "Condition" in unknown:
            raise PolicyError(f"Statement[{i}]: Condition is not supported; it would be ignored, so it is refused")
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
        statements.append(Statement(
            effect=entry["Effect"],
            actions=_strings(entry["Action"], "Action") if "Action" in entry else (),
            not_actions=_strings(entry["NotAction"], "NotAction") if "NotAction" in entry else (),
            resources=_strings(entry.get("Resource", "*"), "Resource"),
            principals=_principals(entry["Principal"]) if "Principal" in entry else None,
        ))
    return tuple(statements)


def _principal_matches(patterns: tuple[str, ...], principal_arn: str, account: str) -> bool:
    for pattern in patterns:
        if pattern == "*":
            return True
        if principal_arn == ANONYMOUS:
            continue
        if pattern in (account, f"arn:aws:iam::{account}:root") or _wildcard(pattern, False).fullmatch(principal_arn):
            return True
    return False


def evaluate(policies: list[tuple[Statement, ...]], principal_arn: str, account: str, action: str,
             resource: str) -> str | None:
    """'Deny', 'Allow', or None (no statement applies: implicitly denied)."""
    decision = None
    for statements in policies:
        for statement in statements:
            if statement.principals is not None and not _principal_matches(statement.principals, principal_arn, account):
                continue
            if statement.actions and not _matches(statement.actions, action, case_insensitive=True):
                continue
            if statement.not_actions and _matches(statement.not_actions, action, case_insensitive=True):
                continue
            if not _matches(statement.resources, resource):
                continue
            if statement.effect == "Deny":
                return "Deny"
            decision = "Allow"
    return decision


ADMINISTRATOR = json.dumps({"Version": "2012-10-17",
                            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
READ_ONLY = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Resource": "*",
    "Action": ["ecr:GetAuthorizationToken", "ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer",
               "ecr:BatchGetImage", "ecr:Describe*", "ecr:List*", "ecr:Get*"]}]})
POWER_USER = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Resource": "*",
    "Action": ["ecr:GetAuthorizationToken", "ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer",
               "ecr:BatchGetImage", "ecr:Describe*", "ecr:List*", "ecr:Get*", "ecr:InitiateLayerUpload",
               "ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage"]}]})
