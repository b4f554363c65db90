"""Every ECR operation Kikötő answers, registered once with `@operation`. Each turns a
validated request into typed calls of the services and builds the response document from what
they return (services never see or build ECR's wire structures)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Awaitable, Callable

from ...domain.errors import InvalidParameter, RegistryPolicyNotFound
from . import shapes
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
    config = await call.ecr.replication.configuration()
    return {"registryId": call.ecr.registry.account, "replicationConfiguration": config}


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
    repo_id, digest = await call.ecr.images.resolve(name, shapes.image_id_in(image_id))
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


# -- layers ---------------------------------------------------------------------------------------

PART_SIZE = 10 * 1024 * 1024  # ECR's advertised part size


def _upload_ids(call: Call) -> dict:
    return {
        "registryId": call.ecr.registry.account,
        "repositoryName": call.params["repositoryName"],
        "uploadId": call.params["uploadId"],
    }


@operation("BatchCheckLayerAvailability")
async def batch_check_layer_availability(call: Call) -> dict:
    layers, failures = [], []
    for check in await call.ecr.layers.check(call.params["repositoryName"], call.params["layerDigests"]):
        if check.failure:
            failures.append(
                {"layerDigest": check.digest, "failureCode": check.availability, "failureReason": check.failure}
            )
        else:
            layers.append(
                {
                    "layerDigest": check.digest,
                    "layerAvailability": check.availability,
                    **({"layerSize": check.size} if check.size is not None else {}),
                }
            )
    return {"layers": layers, "failures": failures}


@operation("InitiateLayerUpload")
async def initiate_layer_upload(call: Call) -> dict:
    return {"uploadId": await call.ecr.layers.initiate(call.params["repositoryName"]), "partSize": PART_SIZE}


@operation("UploadLayerPart")
async def upload_layer_part(call: Call) -> dict:
    p = call.params
    last = await call.ecr.layers.upload_part(
        p["repositoryName"], p["uploadId"], p["partFirstByte"], p["partLastByte"], p["layerPartBlob"]
    )
    return {**_upload_ids(call), "lastByteReceived": last}


@operation("CompleteLayerUpload")
async def complete_layer_upload(call: Call) -> dict:
    p = call.params
    digest = await call.ecr.layers.complete(p["repositoryName"], p["uploadId"], p["layerDigests"][0])
    return {**_upload_ids(call), "layerDigest": digest}


@operation("GetDownloadUrlForLayer")
async def get_download_url_for_layer(call: Call) -> dict:
    p = call.params
    return {
        "downloadUrl": await call.ecr.layers.download_url(p["repositoryName"], p["layerDigest"]),
        "layerDigest": p["layerDigest"],
    }


# -- repositories ---------------------------------------------------------------------------------


@operation("CreateRepository")
async def create_repository(call: Call) -> dict:
    p = call.params
    record = await call.ecr.repositories.create(
        p["repositoryName"],
        p.get("tags") or [],
        p.get("imageTagMutability"),
        p.get("imageTagMutabilityExclusionFilters"),
        bool((p.get("imageScanningConfiguration") or {}).get("scanOnPush", False)),
        p.get("encryptionConfiguration"),
    )
    return {"repository": shapes.repository(record, call.ecr.registry)}


@operation("DescribeRepositories")
async def describe_repositories(call: Call) -> dict:
    access, principal, p, registry = call.ecr.access, call.principal, call.params, call.ecr.registry

    async def visible(name: str) -> bool:
        return await access.allowed(principal, "ecr:DescribeRepositories", name)

    async def require(name: str) -> None:
        await access.require(principal, "ecr:DescribeRepositories", name)

    if p.get("repositoryNames") is not None:
        if p.get("maxResults") or p.get("nextToken"):
            raise InvalidParameter(
                "Invalid parameter at 'maxResults' failed to satisfy constraint: "
                "'maxResults and nextToken cannot be used with repositoryNames'"
            )
        records = await call.ecr.repositories.named(p["repositoryNames"], require)
        return {"repositories": [shapes.repository(r, registry) for r in records]}
    records, token = await call.ecr.repositories.listing(visible, p.get("maxResults"), p.get("nextToken"))
    return shapes.page("repositories", [shapes.repository(r, registry) for r in records], token)


@operation("DeleteRepository")
async def delete_repository(call: Call) -> dict:
    record = await call.ecr.repositories.delete(call.params["repositoryName"], bool(call.params.get("force")))
    return {"repository": shapes.repository(record, call.ecr.registry)}


@operation("PutImageTagMutability")
async def put_image_tag_mutability(call: Call) -> dict:
    p = call.params
    filters = p.get("imageTagMutabilityExclusionFilters")
    await call.ecr.repositories.put_mutability(p["repositoryName"], p["imageTagMutability"], filters)
    return {
        "registryId": call.ecr.registry.account,
        "repositoryName": p["repositoryName"],
        "imageTagMutability": p["imageTagMutability"],
        **({"imageTagMutabilityExclusionFilters": filters} if filters else {}),
    }


@operation("PutImageScanningConfiguration")
async def put_image_scanning_configuration(call: Call) -> dict:
    name, scan = call.params["repositoryName"], bool(call.params["imageScanningConfiguration"].get("scanOnPush"))
    await call.ecr.repositories.put_scanning(name, scan)
    return {
        "registryId": call.ecr.registry.account,
        "repositoryName": name,
        "imageScanningConfiguration": {"scanOnPush": scan},
    }


@operation("TagResource")
async def tag_resource(call: Call) -> dict:
    await call.ecr.repositories.tag(call.params["resourceArn"], call.params["tags"])
    return {}


@operation("UntagResource")
async def untag_resource(call: Call) -> dict:
    await call.ecr.repositories.untag(call.params["resourceArn"], call.params["tagKeys"])
    return {}


@operation("ListTagsForResource")
async def list_tags_for_resource(call: Call) -> dict:
    return {"tags": await call.ecr.repositories.list_tags(call.params["resourceArn"])}


@operation("SetRepositoryPolicy")
async def set_repository_policy(call: Call) -> dict:
    record = await call.ecr.repositories.set_policy(call.params["repositoryName"], call.params["policyText"])
    return {
        "registryId": call.ecr.registry.account,
        "repositoryName": record.name,
        "policyText": call.params["policyText"],
    }


async def _repository_policy(call: Call, delete: bool) -> dict:
    name, text = await call.ecr.repositories.get_policy(call.params["repositoryName"], delete=delete)
    return {"registryId": call.ecr.registry.account, "repositoryName": name, "policyText": text}


@operation("GetRepositoryPolicy")
async def get_repository_policy(call: Call) -> dict:
    return await _repository_policy(call, delete=False)


@operation("DeleteRepositoryPolicy")
async def delete_repository_policy(call: Call) -> dict:
    return await _repository_policy(call, delete=True)


def _template(call: Call, template: dict) -> dict:
    return {"registryId": call.ecr.registry.account, "repositoryCreationTemplate": template}


@operation("CreateRepositoryCreationTemplate")
async def create_repository_creation_template(call: Call) -> dict:
    return _template(call, await call.ecr.repositories.create_template(call.params))


@operation("UpdateRepositoryCreationTemplate")
async def update_repository_creation_template(call: Call) -> dict:
    return _template(call, await call.ecr.repositories.update_template(call.params))


@operation("DeleteRepositoryCreationTemplate")
async def delete_repository_creation_template(call: Call) -> dict:
    return _template(call, await call.ecr.repositories.delete_template(call.params["prefix"]))


@operation("DescribeRepositoryCreationTemplates")
async def describe_repository_creation_templates(call: Call) -> dict:
    p = call.params
    templates, token = await call.ecr.repositories.templates(p.get("prefixes"), p.get("maxResults"), p.get("nextToken"))
    return shapes.page("repositoryCreationTemplates", templates, token, registryId=call.ecr.registry.account)


# -- images ---------------------------------------------------------------------------------------


@operation("ListImages")
async def list_images(call: Call) -> dict:
    p = call.params
    wanted = p.get("filter") or {}
    ids, token = await call.ecr.images.page(
        p["repositoryName"], wanted.get("tagStatus"), wanted.get("imageStatus"), p.get("maxResults"), p.get("nextToken")
    )
    return shapes.page("imageIds", [shapes.image_id(i) for i in ids], token)


@operation("DescribeImages")
async def describe_images(call: Call) -> dict:
    p, name = call.params, call.params["repositoryName"]
    wanted = p.get("filter") or {}
    ids = [shapes.image_id_in(i) for i in p["imageIds"]] if p.get("imageIds") else None
    images, token = await call.ecr.images.describe(
        name, wanted.get("tagStatus"), wanted.get("imageStatus"), ids, p.get("maxResults"), p.get("nextToken")
    )
    record = await call.ecr.repositories.get(name)
    scans = await call.ecr.scanner.summaries(record.id, [i.digest for i in images])
    details = [shapes.image_detail(name, i, call.ecr.registry, scans.get(i.digest)) for i in images]
    return shapes.page("imageDetails", details, token)


@operation("BatchGetImage")
async def batch_get_image(call: Call) -> dict:
    name = call.params["repositoryName"]
    record_pull = not await call.ecr.settings.excluded(call.principal.arn)
    ids = [shapes.image_id_in(i) for i in call.params["imageIds"]]
    got, failures = await call.ecr.images.batch_get(name, ids, record_pull=record_pull)
    images = [
        {
            "registryId": call.ecr.registry.account,
            "repositoryName": name,
            "imageId": shapes.image_id(g.image_id),
            "imageManifest": g.manifest,
            "imageManifestMediaType": g.media_type,
        }
        for g in got
    ]
    return {"images": images, "failures": [shapes.failure(f) for f in failures]}


@operation("BatchDeleteImage")
async def batch_delete_image(call: Call) -> dict:
    ids = [shapes.image_id_in(i) for i in call.params["imageIds"]]
    deleted, failures = await call.ecr.images.batch_delete(call.params["repositoryName"], ids)
    return {"imageIds": [shapes.image_id(i) for i in deleted], "failures": [shapes.failure(f) for f in failures]}


@operation("PutImage")
async def put_image(call: Call) -> dict:
    p = call.params
    image, media_type = await call.ecr.images.put(
        p["repositoryName"],
        p["imageManifest"],
        p.get("imageManifestMediaType"),
        p.get("imageTag"),
        p.get("imageDigest"),
    )
    return {
        "image": {
            "registryId": call.ecr.registry.account,
            "repositoryName": p["repositoryName"],
            "imageId": shapes.image_id(image),
            "imageManifest": p["imageManifest"],
            "imageManifestMediaType": media_type,
        }
    }


@operation("ListImageReferrers")
async def list_image_referrers(call: Call) -> dict:
    p = call.params
    found, token = await call.ecr.images.referrers(
        p["repositoryName"],
        p["subjectId"]["imageDigest"],
        (p.get("filter") or {}).get("artifactTypes"),
        p.get("maxResults"),
        p.get("nextToken"),
    )
    referrers = [
        {
            "digest": r.digest,
            "mediaType": r.media_type,
            "size": r.size,
            "artifactStatus": "ACTIVE",
            **({"artifactType": r.artifact_type} if r.artifact_type else {}),
            **({"annotations": r.annotations} if r.annotations else {}),
        }
        for r in found
    ]
    return shapes.page("referrers", referrers, token)


# -- lifecycle policies ---------------------------------------------------------------------------


@operation("PutLifecyclePolicy")
async def put_lifecycle_policy(call: Call) -> dict:
    text = call.params["lifecyclePolicyText"]
    name = await call.ecr.lifecycle.put_policy(call.params["repositoryName"], text)
    return {"registryId": call.ecr.registry.account, "repositoryName": name, "lifecyclePolicyText": text}


async def _lifecycle_policy(call: Call, delete: bool) -> dict:
    name, text, evaluated = await call.ecr.lifecycle.get_policy(call.params["repositoryName"], delete=delete)
    return {
        "registryId": call.ecr.registry.account,
        "repositoryName": name,
        "lifecyclePolicyText": text,
        "lastEvaluatedAt": evaluated,
    }


@operation("GetLifecyclePolicy")
async def get_lifecycle_policy(call: Call) -> dict:
    return await _lifecycle_policy(call, delete=False)


@operation("DeleteLifecyclePolicy")
async def delete_lifecycle_policy(call: Call) -> dict:
    return await _lifecycle_policy(call, delete=True)


@operation("StartLifecyclePolicyPreview")
async def start_lifecycle_policy_preview(call: Call) -> dict:
    name, policy = await call.ecr.lifecycle.start_preview(
        call.params["repositoryName"], call.params.get("lifecyclePolicyText")
    )
    return {
        "registryId": call.ecr.registry.account,
        "repositoryName": name,
        "lifecyclePolicyText": policy,
        "status": "COMPLETE",
    }


@operation("GetLifecyclePolicyPreview")
async def get_lifecycle_policy_preview(call: Call) -> dict:
    p = call.params
    preview = await call.ecr.lifecycle.get_preview(
        p["repositoryName"],
        p.get("imageIds"),
        (p.get("filter") or {}).get("tagStatus"),
        p.get("maxResults"),
        p.get("nextToken"),
    )
    summary = {
        "expiringImageTotalCount": preview["expiring"],
        "transitioningImageTotalCounts": [
            {"targetStorageClass": "ARCHIVE", "imageTotalCount": preview["transitioning"]}
        ],
    }
    return shapes.page(
        "previewResults",
        preview["results"],
        preview["next_token"],
        registryId=call.ecr.registry.account,
        repositoryName=preview["repository"],
        lifecyclePolicyText=preview["policy"],
        status=preview["status"],
        summary=summary,
    )


@operation("UpdateImageStorageClass")
async def update_image_storage_class(call: Call) -> dict:
    p = call.params
    target = p["targetStorageClass"]
    name, digest = await call.ecr.lifecycle.update_storage_class(p["repositoryName"], p["imageId"], target)
    return {
        "registryId": call.ecr.registry.account,
        "repositoryName": name,
        "imageId": {
            "imageDigest": digest,
            **({"imageTag": p["imageId"]["imageTag"]} if "imageTag" in p["imageId"] else {}),
        },
        "imageStatus": "ACTIVE" if target == "STANDARD" else "ARCHIVED",
    }


# -- pull-through cache rules ------------------------------------------------------------------------


def _rule(call: Call, rule, *fields: str) -> dict:
    """A rule in ECR's structure, with the members the operation's output has."""
    every = {
        "ecrRepositoryPrefix": rule.prefix,
        "upstreamRegistryUrl": rule.upstream_url,
        "createdAt": rule.created_at,
        "updatedAt": rule.updated_at,
        "registryId": call.ecr.registry.account,
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


@operation("CreatePullThroughCacheRule")
async def create_pull_through_cache_rule(call: Call) -> dict:
    p = call.params
    rule = await call.ecr.pull_through.create(
        p["ecrRepositoryPrefix"],
        p["upstreamRegistryUrl"],
        p.get("upstreamRegistry"),
        p.get("credentialArn"),
        p.get("customRoleArn"),
        p.get("upstreamRepositoryPrefix"),
    )
    return _rule(call, rule, *RULE_FIELDS)


@operation("DescribePullThroughCacheRules")
async def describe_pull_through_cache_rules(call: Call) -> dict:
    p = call.params
    rules, token = await call.ecr.pull_through.describe(
        p.get("ecrRepositoryPrefixes"), p.get("maxResults"), p.get("nextToken")
    )
    return {
        "pullThroughCacheRules": [_rule(call, r, *RULE_FIELDS, "updatedAt") for r in rules],
        **({"nextToken": token} if token else {}),
    }


@operation("UpdatePullThroughCacheRule")
async def update_pull_through_cache_rule(call: Call) -> dict:
    p = call.params
    rule = await call.ecr.pull_through.update(p["ecrRepositoryPrefix"], p.get("credentialArn"), p.get("customRoleArn"))
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
async def delete_pull_through_cache_rule(call: Call) -> dict:
    rule = await call.ecr.pull_through.delete(call.params["ecrRepositoryPrefix"])
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
async def validate_pull_through_cache_rule(call: Call) -> dict:
    rule, valid, failure = await call.ecr.pull_through.validate(call.params["ecrRepositoryPrefix"])
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


# -- replication --------------------------------------------------------------------------------------


@operation("PutReplicationConfiguration")
async def put_replication_configuration(call: Call) -> dict:
    saved = await call.ecr.replication.put_configuration(call.params["replicationConfiguration"])
    return {"replicationConfiguration": saved}


@operation("DescribeImageReplicationStatus")
async def describe_image_replication_status(call: Call) -> dict:
    name, wanted = call.params["repositoryName"], shapes.image_id_in(call.params["imageId"])
    _, digest = await call.ecr.images.resolve(name, wanted)
    statuses = []
    for item in await call.ecr.replication.statuses(name, digest):
        status = {"region": item.region, "registryId": item.registry_id, "status": item.status}
        if item.failure and item.status != "COMPLETE":
            status["failureCode"] = item.failure[:200]
        statuses.append(status)
    image = {"imageDigest": digest, **({"imageTag": wanted.tag} if wanted.tag else {})}
    return {"repositoryName": name, "imageId": image, "replicationStatuses": statuses}


def _progress(counts: dict) -> dict:
    done, failed = counts.get("COMPLETE", 0), counts.get("FAILED", 0)
    total = done + failed + counts.get("IN_PROGRESS", 0)
    return {
        "totalReplicationCount": total,
        "completedReplicationCount": done,
        "failedReplicationCount": failed,
        "failureCodes": [],
    }


def _backfill(backfill, counts: dict | None = None) -> dict:
    shaped = {
        "replicationBackfillId": backfill.id,
        "destination": {"region": backfill.region, "registryId": backfill.registry_id},
        "status": backfill.status,
        "startedAt": backfill.started_at,
    }
    if counts is not None:
        shaped["progress"] = _progress(counts)
        if backfill.ended_at:
            shaped["endedAt"] = backfill.ended_at
    return shaped


@operation("StartReplicationBackfill")
async def start_replication_backfill(call: Call) -> dict:
    destination = call.params["destination"]
    backfill = await call.ecr.replication.start_backfill(destination["region"], destination["registryId"])
    return {"registryId": call.ecr.registry.account, **_backfill(backfill)}


@operation("StopReplicationBackfill")
async def stop_replication_backfill(call: Call) -> dict:
    backfill = await call.ecr.replication.stop_backfill(call.params["replicationBackfillId"])
    return {"registryId": call.ecr.registry.account, **_backfill(backfill)}


@operation("ListReplicationBackfills")
async def list_replication_backfills(call: Call) -> dict:
    found, token = await call.ecr.replication.backfills(call.params.get("maxResults"), call.params.get("nextToken"))
    return shapes.page(
        "backfills", [_backfill(b, counts) for b, counts in found], token, registryId=call.ecr.registry.account
    )


@operation("DescribeReplicationBackfillResults")
async def describe_replication_backfill_results(call: Call) -> dict:
    p = call.params
    backfill, counts, items, token = await call.ecr.replication.backfill_results(
        p["replicationBackfillId"], p.get("resultStatusFilter"), p.get("maxResults"), p.get("nextToken")
    )
    results = []
    for item in items:
        result = {"repositoryName": item.repository, "imageId": {"imageDigest": item.digest}, "status": item.status}
        if item.failure and item.status == "FAILED":
            result["failureCode"] = item.failure[:200]
        results.append(result)
    return shapes.page(
        "results",
        results,
        token,
        registryId=call.ecr.registry.account,
        replicationBackfillId=backfill.id,
        destination={"region": backfill.region, "registryId": backfill.registry_id},
        status=backfill.status,
        progress=_progress(counts),
    )


# -- scanning ---------------------------------------------------------------------------------------


@operation("PutRegistryScanningConfiguration")
async def put_registry_scanning_configuration(call: Call) -> dict:
    saved = await call.ecr.scanner.put_configuration(call.params.get("scanType"), call.params.get("rules"))
    return {"registryScanningConfiguration": saved}


@operation("GetRegistryScanningConfiguration")
async def get_registry_scanning_configuration(call: Call) -> dict:
    return {"registryId": call.ecr.registry.account, "scanningConfiguration": await call.ecr.scanner.configuration()}


@operation("BatchGetRepositoryScanningConfiguration")
async def batch_get_repository_scanning_configuration(call: Call) -> dict:
    configurations, failures = [], []
    scanning = await call.ecr.scanner.configuration()
    for name in call.params["repositoryNames"]:
        record = await call.ecr.repositories.find(name)
        if record is None:
            failures.append(
                {
                    "repositoryName": name,
                    "failureCode": "REPOSITORY_NOT_FOUND",
                    "failureReason": "The specified repository was not found.",
                }
            )
            continue
        frequency, filters = call.ecr.scanner.frequency(scanning, name, record.scan_on_push)
        configurations.append(
            {
                "repositoryArn": call.ecr.registry.arn(name),
                "repositoryName": name,
                "scanOnPush": record.scan_on_push,
                "scanFrequency": frequency,
                "appliedScanFilters": filters,
            }
        )
    return {"scanningConfigurations": configurations, "failures": failures}


@operation("StartImageScan")
async def start_image_scan(call: Call) -> dict:
    name, wanted = call.params["repositoryName"], shapes.image_id_in(call.params["imageId"])
    repo_id, digest = await call.ecr.images.resolve(name, wanted)
    scan = await call.ecr.scanner.start(name, repo_id, digest, await call.ecr.images.archived(repo_id, digest))
    return {
        "registryId": call.ecr.registry.account,
        "repositoryName": name,
        "imageId": {"imageDigest": digest, **({"imageTag": wanted.tag} if wanted.tag else {})},
        "imageScanStatus": {"status": "IN_PROGRESS", "description": shapes.scan_status(scan)["description"]},
    }


@operation("DescribeImageScanFindings")
async def describe_image_scan_findings(call: Call) -> dict:
    p = call.params
    name, wanted = p["repositoryName"], shapes.image_id_in(p["imageId"])
    repo_id, digest = await call.ecr.images.resolve(name, wanted)
    scan, findings, token = await call.ecr.scanner.findings(repo_id, digest, p.get("maxResults"), p.get("nextToken"))
    answer = {
        "registryId": call.ecr.registry.account,
        "repositoryName": name,
        "imageId": {"imageDigest": digest, **({"imageTag": wanted.tag} if wanted.tag else {})},
        "imageScanStatus": shapes.scan_status(scan),
    }
    if scan.status == "COMPLETE":
        answer["imageScanFindings"] = {
            "imageScanCompletedAt": scan.completed_at,
            "vulnerabilitySourceUpdatedAt": scan.completed_at,
            "findingSeverityCounts": scan.severity_counts,
            "findings": findings,
        }
    return {**answer, **({"nextToken": token} if token else {})}
