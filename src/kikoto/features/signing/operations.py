"""Managed signing through the ECR API: the registry's signing configuration and an image's
signing statuses."""

from __future__ import annotations

from typing import Any

from ...http.ecr import shapes
from ...http.ecr.context import Call
from ...http.ecr.operations.table import registrar
from .service import Signing

OPERATIONS: dict[str, Any] = {}  # bound to the feature's service by its registration
operation = registrar("ecr", OPERATIONS)


@operation("PutSigningConfiguration")
async def put_signing_configuration(signing: Signing, call: Call) -> dict[str, Any]:
    saved = await signing.put_configuration(call.params["signingConfiguration"])
    return {"signingConfiguration": saved}


@operation("GetSigningConfiguration")
async def get_signing_configuration(signing: Signing, call: Call) -> dict[str, Any]:
    return call.of_registry(signingConfiguration=await signing.configuration())


@operation("DeleteSigningConfiguration")
async def delete_signing_configuration(signing: Signing, call: Call) -> dict[str, Any]:
    deleted = await signing.delete_configuration()
    return call.of_registry(signingConfiguration=deleted)


@operation("DescribeImageSigningStatus")
async def describe_image_signing_status(signing: Signing, call: Call) -> dict[str, Any]:
    name, image_id = call.params["repositoryName"], call.params["imageId"]
    repo_id, digest = await call.ecr.images.resolve(name, shapes.image_id_in(image_id))
    statuses = []
    for status in await signing.statuses(repo_id, digest):
        entry = {"signingProfileArn": status.profile_arn, "status": status.status}
        if status.failure_code:
            entry |= {"failureCode": status.failure_code, "failureReason": status.failure_reason or ""}
        statuses.append(entry)
    return {
        "repositoryName": name,
        "imageId": {**image_id, "imageDigest": digest},
        "registryId": call.registry.account,
        "signingStatuses": statuses,
    }
