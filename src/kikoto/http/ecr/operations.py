"""Every ECR operation Kikötő answers, registered once with `@operation`. Each turns a
validated request into a call of the services and returns the response document."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Awaitable, Callable

from ...domain.errors import InvalidParameter, RegistryPolicyNotFound
from .context import Call
from .validation import service_model

Handler = Callable[[Call], Awaitable[dict]]
OPERATIONS: dict[str, Handler] = {}


def operation(name: str):
    """Register the handler of one operation of botocore's ECR model (checked at import)."""
    if name not in service_model().operation_names:
        raise ValueError(f"{name} is not an operation of the ECR model")

    def register(handler: Handler) -> Handler:
        if name in OPERATIONS:
            raise ValueError(f"{name} is registered twice")
        OPERATIONS[name] = handler
        return handler

    return register


def _delegate(name: str, service: str, method: str, **options) -> None:
    """Register an operation that is one call of a service method with the request."""

    async def handler(call: Call) -> dict:
        return await getattr(getattr(call.ecr, service), method)(call.params, **options)

    handler.__name__ = handler.__qualname__ = method
    operation(name)(handler)


for _name, _service, _method, _options in [
    ("CreateRepository", "repositories", "create", {}),
    ("DeleteRepository", "repositories", "delete", {}),
    ("PutImageTagMutability", "repositories", "put_mutability", {}),
    ("PutImageScanningConfiguration", "repositories", "put_scanning", {}),
    ("TagResource", "repositories", "tag", {}),
    ("UntagResource", "repositories", "untag", {}),
    ("ListTagsForResource", "repositories", "list_tags", {}),
    ("SetRepositoryPolicy", "repositories", "set_policy", {}),
    ("GetRepositoryPolicy", "repositories", "get_policy", {}),
    ("DeleteRepositoryPolicy", "repositories", "get_policy", {"delete": True}),
    ("CreateRepositoryCreationTemplate", "repositories", "create_template", {}),
    ("DescribeRepositoryCreationTemplates", "repositories", "describe_templates", {}),
    ("UpdateRepositoryCreationTemplate", "repositories", "update_template", {}),
    ("DeleteRepositoryCreationTemplate", "repositories", "delete_template", {}),
    ("ListImages", "images", "list", {}),
    ("DescribeImages", "images", "describe", {}),
    ("BatchDeleteImage", "images", "batch_delete", {}),
    ("PutImage", "images", "put", {}),
    ("ListImageReferrers", "images", "referrers", {}),
    ("BatchCheckLayerAvailability", "layers", "check", {}),
    ("InitiateLayerUpload", "layers", "initiate", {}),
    ("UploadLayerPart", "layers", "upload_part", {}),
    ("CompleteLayerUpload", "layers", "complete", {}),
    ("GetDownloadUrlForLayer", "layers", "download_url", {}),
    ("PutLifecyclePolicy", "lifecycle", "put_policy", {}),
    ("GetLifecyclePolicy", "lifecycle", "get_policy", {}),
    ("DeleteLifecyclePolicy", "lifecycle", "get_policy", {"delete": True}),
    ("StartLifecyclePolicyPreview", "lifecycle", "start_preview", {}),
    ("GetLifecyclePolicyPreview", "lifecycle", "get_preview", {}),
    ("UpdateImageStorageClass", "lifecycle", "update_storage_class", {}),
]:
    _delegate(_name, _service, _method, **_options)


@operation("DescribeRepositories")
async def describe_repositories(call: Call) -> dict:
    access, principal = call.ecr.access, call.principal

    async def visible(name: str) -> bool:
        return await access.allowed(principal, "ecr:DescribeRepositories", name)

    async def require(name: str) -> None:
        await access.require(principal, "ecr:DescribeRepositories", name)

    return await call.ecr.repositories.describe(call.params, visible, require)


@operation("BatchGetImage")
async def batch_get_image(call: Call) -> dict:
    record_pull = not await call.ecr.settings.excluded(call.principal.arn)
    return await call.ecr.images.batch_get(call.params, record_pull=record_pull)


@operation("GetAuthorizationToken")
async def get_authorization_token(call: Call) -> dict:
    password, expires = call.ecr.identities.issue(call.principal)
    token = base64.b64encode(f"AWS:{password}".encode()).decode()
    return {
        "authorizationData": [
            {"authorizationToken": token, "expiresAt": expires, "proxyEndpoint": call.ecr.registry.endpoint}
        ]
    }


@operation("DescribeRegistry")
async def describe_registry(call: Call) -> dict:
    return {"registryId": call.ecr.registry.account, "replicationConfiguration": {"rules": []}}


@operation("PutRegistryPolicy")
async def put_registry_policy(call: Call) -> dict:
    text = call.params["policyText"]
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        raise InvalidParameter(
            "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid registry policy provided'"
        ) from None
    await call.ecr.settings.put_registry_policy(text)
    return {"registryId": call.ecr.registry.account, "policyText": text}


async def _registry_policy(call: Call) -> str:
    text = await call.ecr.settings.registry_policy()
    if text is None:
        raise RegistryPolicyNotFound(
            f"Registry policy does not exist in the registry with id '{call.ecr.registry.account}'"
        )
    return text


@operation("GetRegistryPolicy")
async def get_registry_policy(call: Call) -> dict:
    return {"registryId": call.ecr.registry.account, "policyText": await _registry_policy(call)}


@operation("DeleteRegistryPolicy")
async def delete_registry_policy(call: Call) -> dict:
    text = await _registry_policy(call)
    await call.ecr.settings.put_registry_policy(None)
    return {"registryId": call.ecr.registry.account, "policyText": text}


@operation("GetAccountSetting")
async def get_account_setting(call: Call) -> dict:
    name = call.params["name"]
    return {"name": name, "value": await call.ecr.settings.get(name)}


@operation("PutAccountSetting")
async def put_account_setting(call: Call) -> dict:
    name, value = call.params["name"], call.params["value"]
    return {"name": name, "value": await call.ecr.settings.put(name, value)}


@operation("RegisterPullTimeUpdateExclusion")
async def register_pull_time_update_exclusion(call: Call) -> dict:
    arn = call.params["principalArn"]
    await call.ecr.settings.register(arn)
    return {"principalArn": arn, "createdAt": time.time()}


@operation("DeregisterPullTimeUpdateExclusion")
async def deregister_pull_time_update_exclusion(call: Call) -> dict:
    arn = call.params["principalArn"]
    await call.ecr.settings.deregister(arn)
    return {"principalArn": arn}


@operation("ListPullTimeUpdateExclusions")
async def list_pull_time_update_exclusions(call: Call) -> dict:
    page, token = await call.ecr.settings.list_exclusions(call.params)
    return {"pullTimeUpdateExclusions": page, **({"nextToken": token} if token else {})}


@operation("PutSigningConfiguration")
async def put_signing_configuration(call: Call) -> dict:
    saved = await call.ecr.signing.put_configuration(call.params["signingConfiguration"])
    return {"signingConfiguration": saved}


@operation("GetSigningConfiguration")
async def get_signing_configuration(call: Call) -> dict:
    return {"registryId": call.ecr.registry.account, "signingConfiguration": await call.ecr.signing.configuration()}


@operation("DeleteSigningConfiguration")
async def delete_signing_configuration(call: Call) -> dict:
    deleted = await call.ecr.signing.delete_configuration()
    return {"registryId": call.ecr.registry.account, "signingConfiguration": deleted}


@operation("DescribeImageSigningStatus")
async def describe_image_signing_status(call: Call) -> dict:
    name, image_id = call.params["repositoryName"], call.params["imageId"]
    repo_id, digest = await call.ecr.images.resolve(name, image_id)
    statuses = []
    for status in await call.ecr.signing.statuses(repo_id, digest):
        entry = {"signingProfileArn": status.profile_arn, "status": status.status}
        if status.failure_code:
            entry |= {"failureCode": status.failure_code, "failureReason": status.failure_reason or ""}
        statuses.append(entry)
    return {
        "repositoryName": name,
        "imageId": {**image_id, "imageDigest": digest},
        "registryId": call.ecr.registry.account,
        "signingStatuses": statuses,
    }
