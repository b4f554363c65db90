"""IAM policy Conditions: parsing and evaluation, as IAM defines them.

A Condition block holds operators; an operator holds condition keys; a key holds values. Every
operator and every key must hold (AND); a key holds when the request's value matches any of the
policy's values (OR) — for a negated operator (StringNotEquals, NotIpAddress, ...) when it matches
none. A key the request does not have makes a condition false, or true for a negated operator;
`...IfExists` makes it true; `Null` tests presence itself. `ForAnyValue:` and `ForAllValues:`
compare a multi-valued key (aws:TagKeys) value by value. Policy variables (`${aws:username}`,
`${aws:PrincipalTag/team}`, `${*}`, `${?}`, `${$}`) are put in before string and ARN values are
compared. Keys are case-insensitive, as in IAM. Every comparison is linear in its input.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from .glob import glob_match

# The request's facts: a key (lower case) -> its value, or its values for a multi-valued key.
Context = Mapping[str, str | Sequence[str]]

STRING = {"StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"}
STRING |= {"StringLike", "StringNotLike"}
NUMERIC = {"NumericEquals", "NumericNotEquals", "NumericLessThan", "NumericLessThanEquals"}
NUMERIC |= {"NumericGreaterThan", "NumericGreaterThanEquals"}
DATE = {"DateEquals", "DateNotEquals", "DateLessThan", "DateLessThanEquals", "DateGreaterThan"}
DATE |= {"DateGreaterThanEquals"}
ARN = {"ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike"}
OTHER = {"Bool", "BinaryEquals", "IpAddress", "NotIpAddress", "Null"}
OPERATORS = STRING | NUMERIC | DATE | ARN | OTHER
NEGATED = {"StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike", "NumericNotEquals"}
NEGATED |= {"DateNotEquals", "ArnNotEquals", "ArnNotLike", "NotIpAddress"}
SET_OPERATORS = ("ForAnyValue", "ForAllValues")
MAX_VALUES = 100  # per key: more is a document we refuse rather than a cost we take on
VARIABLE = re.compile(r"\$\{([^}]*)\}")
ESCAPES = {"*": "*", "?": "?", "$": "$"}


class ConditionError(ValueError):
    """A Condition block IAM would refuse; the message says where."""


@dataclass(frozen=True)
class Condition:
    operator: str  # the base operator: StringEquals, IpAddress, ...
    key: str  # lower case
    values: tuple[str, ...]
    if_exists: bool = False
    set_operator: str | None = None  # ForAnyValue, ForAllValues


def _value(raw: object, where: str) -> str:
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, int | float | str):
        return str(raw)
    raise ConditionError(f"{where}: a condition value must be a string, a number or a boolean")


def parse_conditions(block: object, where: str = "Condition") -> tuple[Condition, ...]:
    if not isinstance(block, dict):
        raise ConditionError(f"{where} must be an object of operators")
    parsed = []
    for name, keys in block.items():
        set_operator, _, operator = name.rpartition(":")
        if set_operator and set_operator not in SET_OPERATORS:
            raise ConditionError(f"{where}: {name!r} is not a condition operator")
        if_exists = operator.endswith("IfExists") and operator != "Null"
        base = operator[: -len("IfExists")] if if_exists else operator
        if base not in OPERATORS or (if_exists and base == "Null"):
            raise ConditionError(f"{where}: {name!r} is not a condition operator")
        if not isinstance(keys, dict) or not keys:
            raise ConditionError(f"{where}.{name} must be an object of condition keys")
        for key, raw in keys.items():
            values = raw if isinstance(raw, list) else [raw]
            if not values or len(values) > MAX_VALUES:
                raise ConditionError(f"{where}.{name}.{key}: between 1 and {MAX_VALUES} values")
            texts = tuple(_value(v, f"{where}.{name}.{key}") for v in values)
            for text in texts:
                _check(base, text, f"{where}.{name}.{key}")
            parsed.append(Condition(base, key.lower(), texts, if_exists, set_operator or None))
    return tuple(parsed)


def _check(operator: str, text: str, where: str) -> None:
    """Values that could never be compared are refused when the policy is set, not at a request."""
    try:
        if operator in NUMERIC:
            float(text)
        elif operator in DATE:
            _date(text)
        elif operator in ("IpAddress", "NotIpAddress"):
            ipaddress.ip_network(text, strict=False)
        elif operator in ("Bool", "Null") and text.lower() not in ("true", "false"):
            raise ValueError(text)
        elif operator == "BinaryEquals":
            base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        raise ConditionError(f"{where}: {text!r} is not a value {operator} can compare") from None


def _date(text: str) -> float:
    try:
        return float(text)  # epoch seconds (aws:EpochTime)
    except ValueError:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=datetime.UTC)
        return moment.timestamp()


def substitute(text: str, context: Context) -> str | None:
    """`text` with its policy variables put in; None when a variable names a key the request
    lacks and has no default (the value then matches nothing, as in IAM)."""
    if "${" not in text:
        return text
    missing = False

    def put(match: re.Match[str]) -> str:
        nonlocal missing
        inside = match.group(1)
        if inside in ESCAPES:
            return ESCAPES[inside]
        name, _, default = inside.partition(",")
        found = context.get(name.strip().lower())
        if isinstance(found, str):
            return found
        default = default.strip()
        if default.startswith("'") and default.endswith("'") and len(default) >= 2:
            return default[1:-1]
        missing = True
        return ""

    result = VARIABLE.sub(put, text)
    return None if missing else result


def _one(operator: str, policy: str, actual: str, context: Context) -> bool:
    """Whether one request value matches one policy value, for a positive operator."""
    if operator in STRING or operator in ARN:
        wanted = substitute(policy, context)
        if wanted is None:
            return False
        if operator.startswith("StringEquals"):
            return actual == wanted if "IgnoreCase" not in operator else actual.lower() == wanted.lower()
        if operator == "StringLike":
            return glob_match(wanted, actual)
        if operator == "ArnEquals":
            return actual == wanted
        return _arn_like(wanted, actual)
    try:
        if operator in NUMERIC:
            a, p = float(actual), float(policy)
            return {
                "NumericEquals": a == p,
                "NumericLessThan": a < p,
                "NumericLessThanEquals": a <= p,
                "NumericGreaterThan": a > p,
                "NumericGreaterThanEquals": a >= p,
            }[operator]
        if operator in DATE:
            a, p = _date(actual), _date(policy)
            return {
                "DateEquals": a == p,
                "DateLessThan": a < p,
                "DateLessThanEquals": a <= p,
                "DateGreaterThan": a > p,
                "DateGreaterThanEquals": a >= p,
            }[operator]
        if operator == "IpAddress":
            return _address(actual) in _network(policy)
    except (ValueError, TypeError):
        return False  # a request value of the wrong kind matches nothing
    if operator == "Bool":
        return actual.lower() == policy.lower()
    if operator == "BinaryEquals":
        return base64.b64encode(actual.encode()).decode() == policy or actual == policy
    return False


POSITIVE = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "NumericNotEquals": "NumericEquals",
    "DateNotEquals": "DateEquals",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
    "NotIpAddress": "IpAddress",
}


@lru_cache(maxsize=1024)
def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(text, strict=False)


@lru_cache(maxsize=1024)
def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


def _arn_like(pattern: str, arn: str) -> bool:
    """ArnLike: each of the six colon-separated parts matched on its own (a wildcard does not
    cross a colon, except in the last part, the resource, which may hold colons)."""
    wanted, actual = pattern.split(":", 5), arn.split(":", 5)
    if len(wanted) != 6 or len(actual) != 6:
        return False
    return all(glob_match(w, a) for w, a in zip(wanted, actual, strict=True))


def holds(condition: Condition, context: Context) -> bool:
    present = context.get(condition.key)
    if condition.operator == "Null":
        absent = present is None or (not isinstance(present, str) and len(present) == 0)
        return absent == (condition.values[0].lower() == "true")
    if present is None:
        if condition.set_operator == "ForAllValues":
            return True  # every value of an empty set matches
        return condition.if_exists or condition.operator in NEGATED
    values = (present,) if isinstance(present, str) else tuple(present)
    negated = condition.operator in NEGATED
    base = POSITIVE.get(condition.operator, condition.operator)

    def matches(value: str) -> bool:
        return any(_one(base, wanted, value, context) for wanted in condition.values)

    if condition.set_operator == "ForAllValues":
        return all(matches(v) != negated for v in values)
    if negated and condition.set_operator != "ForAnyValue":
        return not any(matches(v) for v in values)
    return any(matches(v) != negated for v in values)


def all_hold(conditions: tuple[Condition, ...], context: Context) -> bool:
    return all(holds(c, context) for c in conditions)
