"""The wire shapes of image changes: ECR's EventBridge events, and CloudEvents 1.0 around them.
Pure code; the only place the outbox's typed changes meet EventBridge's field names."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from ...domain.events import (
    ImageCached,
    ImageChanged,
    ImageReplicated,
    ImageScanned,
    StorageClassChanged,
)

DETAIL_TYPES = {
    "PUSH": "ECR Image Action",
    "DELETE": "ECR Image Action",
    "UPDATE_STORAGE_CLASS": "ECR Image Action",
    "PULL_THROUGH_CACHE": "ECR Pull Through Cache Action",
    "REPLICATE": "ECR Replication Action",
    "SCAN": "ECR Image Scan",
}
NAMESPACE = uuid.UUID("6f1c5a52-63b1-4d0e-9a47-6b6b1f0c9c1e")  # event ids: stable per outbox row


def event_id(account: str, change: ImageChanged) -> str:
    """The event's id: the same on every delivery and redelivery (receivers deduplicate by it)."""
    return str(uuid.uuid5(NAMESPACE, f"{account}/{change.id}"))


def _iso(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _media_types(change: ImageChanged) -> dict[str, Any]:
    found = {"manifest-media-type": change.media_type} if change.media_type else {}
    if change.artifact_media_type:
        found["artifact-media-type"] = change.artifact_media_type
    return found


def _detail(change: ImageChanged) -> dict[str, Any]:
    """The `detail` of ECR's event for this change."""
    if isinstance(change, ImageScanned):
        return {
            "scan-status": "COMPLETE",
            "repository-name": change.repository,
            "finding-severity-counts": change.severity_counts,
            "image-digest": change.digest,
            "image-tags": list(change.tags),
        }
    if isinstance(change, ImageCached):
        return {
            "sync-status": "SUCCESS",
            "repository-name": change.repository,
            "ecr-repository-prefix": change.rule_prefix,
            "upstream-registry-url": change.upstream_url,
            "image-digest": change.digest,
        }
    succeeded = change.succeeded if isinstance(change, ImageReplicated) else True
    detail = {
        "result": "SUCCESS" if succeeded else "FAILURE",
        "repository-name": change.repository,
        "image-digest": change.digest,
        "action-type": change.KIND,
    }
    if isinstance(change, StorageClassChanged):
        detail["target-storage-class"] = change.storage_class
        detail |= _media_types(change)
        if change.activated_at is not None:
            detail["last-activated-at"] = _iso(change.activated_at)
    elif isinstance(change, ImageReplicated):
        detail |= {
            "source-account": change.source_account,
            "source-region": change.source_region,
            "destination-region": change.destination_region,
            "destination-registry-id": change.destination_registry_id,
        }
    else:
        detail |= _media_types(change)
    return detail


def envelope(change: ImageChanged, account: str, region: str, repository_arn: str) -> dict[str, Any]:
    """The change in ECR's EventBridge shape."""
    detail = _detail(change)
    if change.tag:
        detail["image-tag"] = change.tag
    resources = [] if DETAIL_TYPES[change.KIND] == "ECR Image Action" else [repository_arn]
    return {
        "version": "0",
        "id": event_id(account, change),
        "detail-type": DETAIL_TYPES[change.KIND],
        "source": "aws.ecr",
        "account": account,
        "time": _iso(change.at),
        "region": region,
        "resources": resources,
        "detail": detail,
    }


def cloud_event(bridge_event: dict[str, Any]) -> dict[str, Any]:
    """CloudEvents 1.0 structured mode around the same event (Knative, Argo Events)."""
    return {
        "specversion": "1.0",
        "id": bridge_event["id"],
        "source": f"aws.ecr/{bridge_event['region']}/{bridge_event['account']}",
        "type": f"aws.ecr.{bridge_event['detail-type'].replace(' ', '')}",
        "time": bridge_event["time"],
        "datacontenttype": "application/json",
        "subject": bridge_event["detail"].get("repository-name"),
        "data": bridge_event,
    }
