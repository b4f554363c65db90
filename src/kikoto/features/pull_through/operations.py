"""Pull-through cache rules."""

from __future__ import annotations

from typing import Any

from ...http.ecr.context import Call
from ...http.ecr.operations.table import registrar
from .rules import PullThroughRules

OPERATIONS: dict[str, Any] = {}  # bound to the feature's rules by its registration
operation = registrar("ecr", OPERATIONS)

# -- pull-through cache rules ------------------------------------------------------------------------


def _rule(call: Call, rule, *fields: str) -> dict[str, Any]:
    """A rule in ECR's structure, with the members the operation's output has."""
    every = {
        "ecrRepositoryPrefix": rule.prefix,
        "upstreamRegistryUrl": rule.upstream_url,
        "createdAt": rule.created_at,
        "updatedAt": rule.updated_at,
        "registryId": call.registry.account,
        "credentialArn": rule.credential_arn,
        "customRoleArn": rule.custom_role_arn,
        "upstreamRepositoryPrefix": rule.upstream_prefix,
        "upstreamRegistry": rule.upstream_registry,
    }
    return {k: every[k] for k in fields if every[k] is not None}


RULE_FIELDS = (
    "ecrRepositoryPrefix",
    "upstreamRegistryUrl",
    "createdAt",
    "registryId",
    "upstreamRegistry",
    "credentialArn",
    "customRoleArn",
    "upstreamRepositoryPrefix",
)


async def _may_read_secret(rules: PullThroughRules, call: Call, credential_arn: str | None) -> None:
    """A rule sends its secret's credentials to the rule's upstream, which the caller chooses: so
    naming a secret in a rule needs the right to read it (secretsmanager:GetSecretValue on its
    ARN), or a caller allowed only to manage rules could point one at its own host and collect
    any stored credentials."""
    if credential_arn:
        resource = rules.secrets.resource(credential_arn)
        await call.ecr.access.require(call.principal, "secretsmanager:GetSecretValue", None, resource)


@operation("CreatePullThroughCacheRule")
async def create_pull_through_cache_rule(rules: PullThroughRules, call: Call) -> dict[str, Any]:
    p = call.params
    await _may_read_secret(rules, call, p.get("credentialArn"))
    rule = await rules.create(
        p["ecrRepositoryPrefix"],
        p["upstreamRegistryUrl"],
        p.get("upstreamRegistry"),
        p.get("credentialArn"),
        p.get("customRoleArn"),
        p.get("upstreamRepositoryPrefix"),
    )
    return _rule(call, rule, *RULE_FIELDS)


@operation("DescribePullThroughCacheRules")
async def describe_pull_through_cache_rules(rules: PullThroughRules, call: Call) -> dict[str, Any]:
    p = call.params
    found, token = await rules.describe(p.get("ecrRepositoryPrefixes"), p.get("maxResults"), p.get("nextToken"))
    return {
        "pullThroughCacheRules": [_rule(call, r, *RULE_FIELDS, "updatedAt") for r in found],
        **({"nextToken": token} if token else {}),
    }


@operation("UpdatePullThroughCacheRule")
async def update_pull_through_cache_rule(rules: PullThroughRules, call: Call) -> dict[str, Any]:
    p = call.params
    await _may_read_secret(rules, call, p.get("credentialArn"))
    rule = await rules.update(p["ecrRepositoryPrefix"], p.get("credentialArn"), p.get("customRoleArn"))
    return _rule(
        call,
        rule,
        "ecrRepositoryPrefix",
        "registryId",
        "updatedAt",
        "credentialArn",
        "customRoleArn",
        "upstreamRepositoryPrefix",
    )


@operation("DeletePullThroughCacheRule")
async def delete_pull_through_cache_rule(rules: PullThroughRules, call: Call) -> dict[str, Any]:
    rule = await rules.delete(call.params["ecrRepositoryPrefix"])
    return _rule(
        call,
        rule,
        "ecrRepositoryPrefix",
        "upstreamRegistryUrl",
        "createdAt",
        "registryId",
        "credentialArn",
        "customRoleArn",
        "upstreamRepositoryPrefix",
    )


@operation("ValidatePullThroughCacheRule")
async def validate_pull_through_cache_rule(rules: PullThroughRules, call: Call) -> dict[str, Any]:
    rule, valid, failure = await rules.validate(call.params["ecrRepositoryPrefix"])
    answer = _rule(
        call,
        rule,
        "ecrRepositoryPrefix",
        "registryId",
        "upstreamRegistryUrl",
        "credentialArn",
        "customRoleArn",
        "upstreamRepositoryPrefix",
    )
    return {**answer, "isValid": valid, **({"failure": failure} if failure else {})}
