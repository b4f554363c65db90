"""EventBridge event patterns, which choose the events a webhook target receives. Pure code.

Pattern matching follows EventBridge: every field the pattern names must match; a list of
values matches when any of them does (exact values, or `prefix`, `suffix`, `anything-but`,
`exists`, `equals-ignore-case`, `numeric`); nested objects match nested fields. No regular
expressions: time is linear in the pattern and the event.
"""

from __future__ import annotations

import json
from typing import Any


class PatternError(ValueError):
    pass


OPERATORS = {"prefix", "suffix", "anything-but", "exists", "equals-ignore-case", "numeric"}


def parse_pattern(text: str) -> dict[str, Any]:
    """An EventBridge event pattern, checked; PatternError says what is wrong."""
    try:
        pattern = json.loads(text)
    except ValueError as exc:
        raise PatternError(f"the event pattern is not JSON: {exc}") from None
    if not isinstance(pattern, dict) or not pattern:
        raise PatternError("an event pattern is a non-empty JSON object")
    _check(pattern, "")
    return pattern


def _check(pattern: dict[str, Any], path: str) -> None:
    for key, value in pattern.items():
        where = f"{path}.{key}".lstrip(".")
        if isinstance(value, dict):
            _check(value, where)
        elif isinstance(value, list):
            if not value:
                raise PatternError(f"'{where}' has an empty list of values")
            for item in value:
                if isinstance(item, dict) and (len(item) != 1 or next(iter(item)) not in OPERATORS):
                    raise PatternError(f"'{where}' has an unknown matcher {json.dumps(item)}")
        else:
            raise PatternError(f"'{where}' must be a list of values or an object")


def matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    for key, wanted in pattern.items():
        value = event.get(key) if isinstance(event, dict) else None
        if isinstance(wanted, dict):
            if not isinstance(value, dict) or not matches(wanted, value):
                return False
        elif not any(_match_one(m, value, key in event if isinstance(event, dict) else False) for m in wanted):
            return False
    return True


def _match_one(matcher, value, present: bool) -> bool:
    values = value if isinstance(value, list) else [value]
    if not isinstance(matcher, dict):
        return present and any(v == matcher for v in values)
    ((operator, argument),) = matcher.items()
    if operator == "exists":
        return present == bool(argument)
    if not present:
        return False
    if operator == "prefix":
        return any(isinstance(v, str) and v.startswith(_text(argument)) for v in values)
    if operator == "suffix":
        return any(isinstance(v, str) and v.endswith(_text(argument)) for v in values)
    if operator == "equals-ignore-case":
        return any(isinstance(v, str) and v.lower() == str(argument).lower() for v in values)
    if operator == "anything-but":
        if isinstance(argument, dict):
            return not any(_match_one(argument, v, True) for v in values)
        excluded = argument if isinstance(argument, list) else [argument]
        return all(v not in excluded for v in values)
    if operator == "numeric":
        return any(_numeric(argument, v) for v in values)
    return False


def _text(argument) -> str:
    return argument if isinstance(argument, str) else str(argument)


def _numeric(conditions: list[Any], value) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    checks = {
        "<": value.__lt__,
        "<=": value.__le__,
        "=": value.__eq__,
        ">": value.__gt__,
        ">=": value.__ge__,
    }
    for operator, bound in zip(conditions[::2], conditions[1::2], strict=False):
        if operator not in checks or not checks[operator](bound):
            return False
    return True
