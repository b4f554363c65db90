"""Images (list, describe, get, delete, put, referrers) and their lifecycle policies."""

from __future__ import annotations

import functools
from typing import Any

from .. import shapes
from ..context import Call
from .table import operation

# -- images ---------------------------------------------------------------------------------------


@operation("ListImages")
async def list_images(call: Call) -> dict[str, Any]:
    p = call.params
    wanted = p.get("filter") or {}
    ids, token = await call.ecr.images.page(
        p["repositoryName"], wanted.get("tagStatus"), wanted.get("imageStatus"), p.get("maxResults"), p.get("nextToken")
    )
    return shapes.page("imageIds", [shapes.image_id(i) for i in ids], token)


@operation("DescribeImages")
async def describe_images(call: Call) -> dict[str, Any]:
    p, name = call.params, call.params["repositoryName"]
    wanted = p.get("filter") or {}
    ids = [shapes.image_id_in(i) for i in p["imageIds"]] if p.get("imageIds") else None
    images, token = await call.ecr.images.describe(
        name, wanted.get("tagStatus"), wanted.get("imageStatus"), ids, p.get("maxResults"), p.get("nextToken")
    )
    record = await call.ecr.repositories.get(name)
    scans = await call.ecr.scans(record.id, [i.digest for i in images])
    details = [shapes.image_detail(name, i, call.registry, scans.get(i.digest)) for i in images]
    return shapes.page("imageDetails", details, token)


@operation("BatchGetImage")
async def batch_get_image(call: Call) -> dict[str, Any]:
    name = call.params["repositoryName"]
    record_pull = not await call.ecr.settings.excluded(call.principal.arn, call.registry.account)
    ids = [shapes.image_id_in(i) for i in call.params["imageIds"]]
    got, failures = await call.ecr.images.batch_get(name, ids, record_pull=record_pull)
    images = [
        call.of_registry(
            repositoryName=name,
            imageId=shapes.image_id(g.image_id),
            imageManifest=g.manifest,
            imageManifestMediaType=g.media_type,
        )
        for g in got
    ]
    return {"images": images, "failures": [shapes.failure(f) for f in failures]}


@operation("BatchDeleteImage")
async def batch_delete_image(call: Call) -> dict[str, Any]:
    ids = [shapes.image_id_in(i) for i in call.params["imageIds"]]
    deleted, failures = await call.ecr.images.batch_delete(call.params["repositoryName"], ids)
    return {"imageIds": [shapes.image_id(i) for i in deleted], "failures": [shapes.failure(f) for f in failures]}


@operation("PutImage")
async def put_image(call: Call) -> dict[str, Any]:
    p = call.params
    image, media_type = await call.ecr.images.put(
        p["repositoryName"],
        p["imageManifest"],
        p.get("imageManifestMediaType"),
        p.get("imageTag"),
        p.get("imageDigest"),
    )
    return {
        "image": call.of_registry(
            repositoryName=p["repositoryName"],
            imageId=shapes.image_id(image),
            imageManifest=p["imageManifest"],
            imageManifestMediaType=media_type,
        )
    }


@operation("ListImageReferrers")
async def list_image_referrers(call: Call) -> dict[str, Any]:
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
async def put_lifecycle_policy(call: Call) -> dict[str, Any]:
    text = call.params["lifecyclePolicyText"]
    name = await call.ecr.lifecycle.put_policy(call.params["repositoryName"], text)
    return call.of_registry(repositoryName=name, lifecyclePolicyText=text)


async def _lifecycle_policy(call: Call, delete: bool) -> dict[str, Any]:
    name, text, evaluated = await call.ecr.lifecycle.get_policy(call.params["repositoryName"], delete=delete)
    return call.of_registry(repositoryName=name, lifecyclePolicyText=text, lastEvaluatedAt=evaluated)


for _name, _delete in (("GetLifecyclePolicy", False), ("DeleteLifecyclePolicy", True)):  # the same answer
    operation(_name)(functools.partial(_lifecycle_policy, delete=_delete))


@operation("StartLifecyclePolicyPreview")
async def start_lifecycle_policy_preview(call: Call) -> dict[str, Any]:
    name, policy = await call.ecr.lifecycle.start_preview(
        call.params["repositoryName"], call.params.get("lifecyclePolicyText")
    )
    return call.of_registry(repositoryName=name, lifecyclePolicyText=policy, status="COMPLETE")


@operation("GetLifecyclePolicyPreview")
async def get_lifecycle_policy_preview(call: Call) -> dict[str, Any]:
    p = call.params
    preview = await call.ecr.lifecycle.get_preview(
        p["repositoryName"],
        [shapes.image_id_in(i) for i in p["imageIds"]] if p.get("imageIds") else None,
        (p.get("filter") or {}).get("tagStatus"),
        p.get("maxResults"),
        p.get("nextToken"),
    )
    summary = {
        "expiringImageTotalCount": preview.expiring,
        "transitioningImageTotalCounts": [{"targetStorageClass": "ARCHIVE", "imageTotalCount": preview.transitioning}],
    }
    return shapes.page(
        "previewResults",
        [shapes.preview_result(r) for r in preview.results],
        preview.next_token,
        registryId=call.registry.account,
        repositoryName=preview.repository,
        lifecyclePolicyText=preview.policy,
        status=preview.status,
        summary=summary,
    )


@operation("UpdateImageStorageClass")
async def update_image_storage_class(call: Call) -> dict[str, Any]:
    p = call.params
    target = p["targetStorageClass"]
    name, digest = await call.ecr.lifecycle.update_storage_class(p["repositoryName"], p["imageId"], target)
    return call.of_registry(
        repositoryName=name,
        imageId={
            "imageDigest": digest,
            **({"imageTag": p["imageId"]["imageTag"]} if "imageTag" in p["imageId"] else {}),
        },
        imageStatus="ACTIVE" if target == "STANDARD" else "ARCHIVED",
    )
