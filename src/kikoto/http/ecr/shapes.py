"""ECR's response structures, built from the records the services return."""

from __future__ import annotations

from ...services.ecr.common import RegistryIdentity
from ...storage.meta.ecr import RepositoryRecord


def repository(record: RepositoryRecord, registry: RegistryIdentity) -> dict:
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


def page(key: str, items: list, token: str | None, **extra) -> dict:
    """A listing with ECR's nextToken when there is more."""
    return {**extra, key: items, **({"nextToken": token} if token else {})}
