"""ECR naming facts in one place: ARNs, tag mutability rules, resource tag limits."""

from __future__ import annotations

import re
from typing import Any

from .glob import glob_match

ARN = re.compile(r"arn:(?P<partition>[^:]+):ecr:(?P<region>[^:]+):(?P<account>[^:]+):repository/(?P<name>.+)")
MUTABILITY = ("MUTABLE", "IMMUTABLE", "IMMUTABLE_WITH_EXCLUSION", "MUTABLE_WITH_EXCLUSION")
MAX_RESOURCE_TAGS = 50


def repository_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:ecr:{region}:{account}:repository/{name}"


IAM_NAME = re.compile(r"[\w+=,.@-]{1,64}", re.ASCII)  # IAM's rule for user, role and group names


def principal_arn(account: str, name: str) -> str:
    return f"arn:aws:iam::{account}:user/{name}"


def repository_name_from_arn(arn: str) -> str | None:
    match = ARN.fullmatch(arn)
    return match.group("name") if match else None


def account_from_arn(arn: str) -> str | None:
    """The account of an ECR repository ARN, None for anything else."""
    match = ARN.fullmatch(arn)
    return match.group("account") if match else None


def tag_is_immutable(mode: str, exclusions: list[dict[str, Any]] | None, tag: str) -> bool:
    """Whether `tag` may not be moved to another image under the repository's setting.
    Exclusion filters name the tags that take the opposite of the base setting."""
    excluded = any(glob_match(f["filter"], tag, question_mark=False) for f in exclusions or [])
    if mode == "IMMUTABLE":
        return True
    if mode == "IMMUTABLE_WITH_EXCLUSION":
        return not excluded
    if mode == "MUTABLE_WITH_EXCLUSION":
        return excluded
    return False
