"""A role's trust policy: who may assume it. For a web identity, a statement trusts an OpenID
Connect provider (`"Principal": {"Federated": "arn:aws:iam::<account>:oidc-provider/<host>"}`)
for `sts:AssumeRoleWithWebIdentity`, usually with Conditions on the token's claims
(`<host>:aud`, `<host>:sub`). An explicit Deny wins; nothing else is trusted."""

from __future__ import annotations

import json
from dataclasses import dataclass

from .conditions import Condition, ConditionError, Context, all_hold, parse_conditions
from .glob import glob_match
from .policy import PolicyError

MAX_TRUST_POLICY = 2_048  # IAM's quota for a role trust policy


@dataclass(frozen=True)
class TrustStatement:
    effect: str
    principals: tuple[str, ...]  # Federated and AWS principals, or "*"
    actions: tuple[str, ...]
    conditions: tuple[Condition, ...]


def _list(value: object, where: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
        raise PolicyError(f"{where} must be a string or a non-empty list of strings")
    return tuple(items)


def parse_trust(text: str) -> tuple[TrustStatement, ...]:
    if len(text) > MAX_TRUST_POLICY:
        raise PolicyError(f"Cannot exceed quota for ACLSizePerRole: {MAX_TRUST_POLICY}")
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        raise PolicyError("This policy contains invalid Json") from None
    raw = document.get("Statement") if isinstance(document, dict) else None
    raw = [raw] if isinstance(raw, dict) else raw
    if not isinstance(raw, list) or not raw:
        raise PolicyError("Syntax errors in policy.")
    statements = []
    for n, entry in enumerate(raw):
        if not isinstance(entry, dict) or entry.get("Effect") not in ("Allow", "Deny") or "Principal" not in entry:
            raise PolicyError(f"Statement {n}: an Effect and a Principal are required")
        principal = entry["Principal"]
        if principal == "*":
            principals: tuple[str, ...] = ("*",)
        elif isinstance(principal, dict) and principal and set(principal) <= {"Federated", "AWS", "Service"}:
            principals = tuple(p for kind in principal.values() for p in _list(kind, "Principal"))
        else:
            raise PolicyError(f"Statement {n}: Invalid principal in policy")
        try:
            conditions = parse_conditions(entry["Condition"]) if "Condition" in entry else ()
        except ConditionError as invalid:
            raise PolicyError(str(invalid)) from None
        statements.append(TrustStatement(entry["Effect"], principals, _list(entry.get("Action"), "Action"), conditions))
    return tuple(statements)


def trusts(statements: tuple[TrustStatement, ...], principal: str, action: str, context: Context) -> bool:
    allowed = False
    for statement in statements:
        if "*" not in statement.principals and principal not in statement.principals:
            continue
        if not any(glob_match(a, action, case_insensitive=True) for a in statement.actions):
            continue
        if not all_hold(statement.conditions, context):
            continue
        if statement.effect == "Deny":
            return False
        allowed = True
    return allowed
