"""ECR's response structures, built from the records the services return (a repository's or an
image's record: read by attribute, so the face needs no store types)."""

from __future__ import annotations

from typing import Any

from ...domain.lifecycle import PreviewResult
from ...domain.templates import CreationTemplate
from ...services.images.listing import ImageFailure, ImageId
from ...services.registry import RegistryIdentity


def repository(record, registry: RegistryIdentity) -> dict[str, Any]:
    shaped = {
        "repositoryArn": registry.arn(record.name),
        "registryId": registry.account,
        "repositoryName": record.name,
        "repositoryUri": registry.uri(record.name),
        "createdAt": record.created_at,
        "imageTagMutability": record.tag_mutability,
        "imageScanningConfiguration": {"scanOnPush": record.scan_on_push},
        "encryptionConfiguration": record.encryption or {"encryptionType": "AES256"},
    }
    if record.mutability_exclusions:
        shaped["imageTagMutabilityExclusionFilters"] = record.mutability_exclusions
    return shaped


def page(key: str, items: list[Any], token: str | None, **extra) -> dict[str, Any]:
    """A listing with ECR's nextToken when there is more."""
    return {**extra, key: items, **({"nextToken": token} if token else {})}


def image_id_in(shape: dict[str, Any]) -> ImageId:
    return ImageId(shape.get("imageDigest"), shape.get("imageTag"))


def image_id(image: ImageId) -> dict[str, Any]:
    return {k: v for k, v in (("imageDigest", image.digest), ("imageTag", image.tag)) if v is not None}


def failure(item: ImageFailure) -> dict[str, Any]:
    return {"imageId": image_id(item.image_id), "failureCode": item.code, "failureReason": item.reason}


SCAN_DESCRIPTIONS = {"PENDING": "The scan is queued.", "IN_PROGRESS": "The scan is in progress."}


def scan_status(scan) -> dict[str, Any]:
    return {"status": scan.status, "description": scan.description or SCAN_DESCRIPTIONS.get(scan.status, scan.status)}


def image_detail(name: str, image, registry: RegistryIdentity, scan=None) -> dict[str, Any]:
    detail = {
        "registryId": registry.account,
        "repositoryName": name,
        "imageDigest": image.digest,
        "imageSizeInBytes": image.size,
        "imagePushedAt": image.pushed_at,
        "imageManifestMediaType": image.media_type,
        "imageStatus": "ARCHIVED" if image.storage_class == "ARCHIVE" else "ACTIVE",
    }
    optional = {
        "lastArchivedAt": image.archived_at,
        "lastActivatedAt": image.activated_at,
        "imageTags": list(image.tags) or None,
        "artifactMediaType": image.config_media_type,
        "lastRecordedPullTime": image.last_pulled_at,
        "subjectManifestDigest": image.subject_digest,
    }
    if scan is not None:
        detail["imageScanStatus"] = scan_status(scan)
        if scan.completed_at and scan.status == "COMPLETE":
            optional["imageScanFindingsSummary"] = {
                "imageScanCompletedAt": scan.completed_at,
                "vulnerabilitySourceUpdatedAt": scan.completed_at,
                "findingSeverityCounts": scan.severity_counts,
            }
    return detail | {k: v for k, v in optional.items() if v}


def preview_result(result: PreviewResult) -> dict[str, Any]:
    """One of GetLifecyclePolicyPreview's previewResults."""
    action: dict[str, Any] = {"type": result.action}
    if result.action == "TRANSITION":
        action["targetStorageClass"] = "ARCHIVE"
    return {
        "imageTags": list(result.tags),
        "imageDigest": result.digest,
        "imagePushedAt": result.pushed_at,
        "action": action,
        "appliedRulePriority": result.rule,
        "storageClass": result.storage_class,
    }


# A creation template's members and its fields, in ECR's order.
TEMPLATE_MEMBERS = {
    "prefix": "prefix",
    "description": "description",
    "encryptionConfiguration": "encryption",
    "resourceTags": "resource_tags",
    "imageTagMutability": "tag_mutability",
    "imageTagMutabilityExclusionFilters": "mutability_exclusions",
    "repositoryPolicy": "repository_policy",
    "lifecyclePolicy": "lifecycle_policy",
    "appliedFor": "applied_for",
    "customRoleArn": "custom_role_arn",
}


def template_fields(params: dict[str, Any]) -> dict[str, Any]:
    """The CreationTemplate fields a request names (the others it leaves alone)."""
    fields = {field: params[member] for member, field in TEMPLATE_MEMBERS.items() if params.get(member) is not None}
    if "applied_for" in fields:
        fields["applied_for"] = tuple(fields["applied_for"])
    return fields


def template(found: CreationTemplate) -> dict[str, Any]:
    shaped: dict[str, Any] = {}
    for member, field in TEMPLATE_MEMBERS.items():
        value = getattr(found, field)
        if value not in (None, [], ()):
            shaped[member] = list(value) if isinstance(value, tuple) else value
    return {**shaped, "createdAt": found.created_at, "updatedAt": found.updated_at}
