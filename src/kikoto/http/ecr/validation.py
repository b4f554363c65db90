"""Validating ECR requests against botocore's service model: one generic walker over the
shapes (required, type, min/max, pattern, enum) instead of a validator per field."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import botocore.session
import re2

from .errors import EcrError

JAVA_ESCAPE = re.compile(r"\\u([0-9A-Fa-f]{4})")


@lru_cache(maxsize=4)
def service_model(name: str = "ecr"):
    """botocore's model of `name`: ecr, secretsmanager (the subset a pull-through cache needs), iam."""
    return botocore.session.get_session().get_service_model(name)


@lru_cache(maxsize=512)
def _pattern(text: str):
    """The model's patterns run on RE2: linear in the input, whatever the pattern's nesting.
    IAM's models write characters Java's way (backslash, u, four hex digits); RE2 wants x{...}."""
    return re2.compile(JAVA_ESCAPE.sub(r"\\x{\1}", text))


def _fail(path: str, constraint: str) -> EcrError:
    return EcrError(
        "InvalidParameterException", f"Invalid parameter at '{path}' failed to satisfy constraint: '{constraint}'"
    )


def _type_error(path: str, expected: str) -> EcrError:
    return EcrError("SerializationException", f"Expected {expected} at '{path}'")


def validate(value, shape, path: str = "") -> None:
    kind, meta = shape.type_name, shape.metadata
    if kind == "structure":
        if not isinstance(value, dict):
            raise _type_error(path or "request", "an object")
        for name in shape.required_members:
            if value.get(name) is None:
                raise _fail(f"{path}.{name}".lstrip("."), "Member must not be null")
        for name, member in shape.members.items():
            if value.get(name) is not None:
                validate(value[name], member, f"{path}.{name}".lstrip("."))
        return
    if kind == "list":
        if not isinstance(value, list):
            raise _type_error(path, "a list")
        _length(len(value), meta, path)
        for i, item in enumerate(value):
            validate(item, shape.member, f"{path}.{i + 1}")
        return
    if kind == "map":
        if not isinstance(value, dict):
            raise _type_error(path, "a map")
        for key, item in value.items():
            validate(key, shape.key, f"{path}.key")
            validate(item, shape.value, f"{path}.{key}")
        return
    if kind == "string":
        if not isinstance(value, str):
            raise _type_error(path, "a string")
        _length(len(value), meta, path)
        if "pattern" in meta and not _pattern(meta["pattern"]).fullmatch(value):
            raise _fail(path, f"must satisfy regular expression '{meta['pattern']}'")
        if shape.enum and value not in shape.enum:
            raise _fail(path, f"Member must satisfy enum value set: [{', '.join(shape.enum)}]")
        return
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _type_error(path, "an integer")
        if "min" in meta and value < meta["min"]:
            raise _fail(path, f"Member must have value greater than or equal to {meta['min']}")
        if "max" in meta and value > meta["max"]:
            raise _fail(path, f"Member must have value less than or equal to {meta['max']}")
        return
    if kind == "boolean" and not isinstance(value, bool):
        raise _type_error(path, "a boolean")
    if kind == "blob" and not isinstance(value, str):
        raise _type_error(path, "a base64 string")


def _length(length: int, meta: dict[str, Any], path: str) -> None:
    if "min" in meta and length < meta["min"]:
        raise _fail(path, f"Member must have length greater than or equal to {meta['min']}")
    if "max" in meta and length > meta["max"]:
        raise _fail(path, f"Member must have length less than or equal to {meta['max']}")
