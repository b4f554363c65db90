"""The Secrets Manager subset, on the ECR endpoint: what `aws secretsmanager` needs to store a
pull-through cache rule's upstream credentials (CreateSecret, PutSecretValue, DescribeSecret,
ListSecrets, DeleteSecret). Secret values go in and are never returned."""

from __future__ import annotations

from typing import Any

from ...domain.errors import InvalidParameter
from ...http.ecr.context import Call
from ...http.ecr.operations.table import registrar
from .model import SecretRow
from .secrets import Secrets

SECRETS_OPERATIONS: dict[str, Any] = {}  # bound to the feature's secrets by its registration
operation = registrar("secretsmanager", SECRETS_OPERATIONS)


def _value(params: dict[str, Any]) -> str | None:
    if params.get("SecretBinary") is not None:
        raise InvalidParameter("Kikötő stores SecretString values only; SecretBinary is not supported.")
    return params.get("SecretString")


def _description(row: SecretRow) -> dict[str, Any]:
    described = {
        "ARN": row.arn,
        "Name": row.name,
        "CreatedDate": row.created_at,
        "LastChangedDate": row.changed_at,
    }
    if row.description:
        described["Description"] = row.description
    if row.tags:
        described["Tags"] = row.tags
    if row.version_id:
        described["VersionIdsToStages"] = {row.version_id: ["AWSCURRENT"]}
    if row.deletion_date:
        described["DeletedDate"] = row.deletion_date
    return described


@operation("CreateSecret")
async def create_secret(secrets: Secrets, call: Call) -> dict[str, Any]:
    p = call.params
    row = await secrets.create(p["Name"], _value(p), p.get("Description"), p.get("Tags") or [])
    return {"ARN": row.arn, "Name": row.name, **({"VersionId": row.version_id} if row.version_id else {})}


@operation("PutSecretValue")
async def put_secret_value(secrets: Secrets, call: Call) -> dict[str, Any]:
    value = _value(call.params)
    if value is None:
        raise InvalidParameter("You must provide either SecretString or SecretBinary.")
    row, version = await secrets.put_value(call.params["SecretId"], value)
    return {"ARN": row.arn, "Name": row.name, "VersionId": version, "VersionStages": ["AWSCURRENT"]}


@operation("DescribeSecret")
async def describe_secret(secrets: Secrets, call: Call) -> dict[str, Any]:
    return _description(await secrets.describe(call.params["SecretId"]))


@operation("ListSecrets")
async def list_secrets(secrets: Secrets, call: Call) -> dict[str, Any]:
    rows, token = await secrets.listing(call.params.get("MaxResults"), call.params.get("NextToken"))
    return {"SecretList": [_description(r) for r in rows], **({"NextToken": token} if token else {})}


@operation("DeleteSecret")
async def delete_secret(secrets: Secrets, call: Call) -> dict[str, Any]:
    p = call.params
    row, when = await secrets.delete(
        p["SecretId"], p.get("RecoveryWindowInDays"), bool(p.get("ForceDeleteWithoutRecovery"))
    )
    return {"ARN": row.arn, "Name": row.name, "DeletionDate": when}
