"""Image events: the outbox's records, ECR's EventBridge envelope around them, and EventBridge
event patterns to choose which a webhook target receives. Pure code.

Pattern matching follows EventBridge: every field the pattern names must match; a list of
values matches when any of them does (exact values, or `prefix`, `suffix`, `anything-but`,
`exists`, `equals-ignore-case`, `numeric`); nested objects match nested fields. No regular
expressions: time is linear in the pattern and the event.
"""

from __future__ import annotations

import datetime
import json
import uuid
from dataclasses import dataclass, field

DETAIL_TYPES = {
    "PUSH": "ECR Image Action",
    "DELETE": "ECR Image Action",
    "UPDATE_STORAGE_CLASS": "ECR Image Action",
    "PULL_THROUGH_CACHE": "ECR Pull Through Cache Action",
    "REPLICATE": "ECR Replication Action",
    "SCAN": "ECR Image Scan",
}
NAMESPACE = uuid.UUID("6f1c5a52-63b1-4d0e-9a47-6b6b1f0c9c1e")  # event ids: stable per outbox row


@dataclass(frozen=True)
class OutboxEvent:
    id: int
    at: float
    action: str
    repository: str
    digest: str
    tag: str | None
    detail: dict = field(default_factory=dict)


def event_id(account: str, event: OutboxEvent) -> str:
    """The event's id: the same on every delivery and redelivery (receivers deduplicate by it)."""
    return str(uuid.uuid5(NAMESPACE, f"{account}/{event.id}"))


def envelope(event: OutboxEvent, account: str, region: str, repository_arn: str) -> dict:
    """The event in ECR's EventBridge shape."""
    detail: dict = {"result": event.detail.get("result", "SUCCESS"), "repository-name": event.repository}
    if event.action == "SCAN":
        detail = {
            "scan-status": event.detail.get("scan-status", "COMPLETE"),
            "repository-name": event.repository,
            "finding-severity-counts": event.detail.get("finding-severity-counts", {}),
            "image-digest": event.digest,
            "image-tags": event.detail.get("image-tags", []),
        }
    elif event.action == "PULL_THROUGH_CACHE":
        detail = {
            "sync-status": "SUCCESS",
            "repository-name": event.repository,
            "ecr-repository-prefix": event.detail.get("ecr-repository-prefix"),
            "upstream-registry-url": event.detail.get("upstream-registry-url"),
            "image-digest": event.digest,
        }
    else:
        detail["image-digest"] = event.digest
        detail["action-type"] = event.action
        extra = {k: v for k, v in event.detail.items() if k not in ("result", "resources")}
        detail.update(extra)
    if event.tag:
        detail["image-tag"] = event.tag
    resources = [] if DETAIL_TYPES[event.action] == "ECR Image Action" else [repository_arn]
    return {
        "version": "0",
        "id": event_id(account, event),
        "detail-type": DETAIL_TYPES[event.action],
        "source": "aws.ecr",
        "account": account,
        "time": datetime.datetime.fromtimestamp(event.at, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": resources,
        "detail": detail,
    }


def cloud_event(bridge_event: dict) -> dict:
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


# -- event patterns ------------------------------------------------------------------------------


class PatternError(ValueError):
    pass


OPERATORS = {"prefix", "suffix", "anything-but", "exists", "equals-ignore-case", "numeric"}


def parse_pattern(text: str) -> dict:
    """An EventBridge event pattern, checked; PatternError says what is wrong."""
    try:
        pattern = json.loads(text)
    except ValueError as exc:
        raise PatternError(f"the event pattern is not JSON: {exc}") from None
    if not isinstance(pattern, dict) or not pattern:
        raise PatternError("an event pattern is a non-empty JSON object")
    _check(pattern, "")
    return pattern


def _check(pattern: dict, path: str) -> None:
    for key, value in pattern.items():
        where = f"{path}.{key}".lstrip(".")
        if isinstance(value, dict):
            _check(value, where)
        elif isinstance(value, list):
            if not value:
                raise PatternError(f"'{where}' has an empty list of values")
            for item in value:
                if isinstance(item, dict) and (len(item) != 1 or next(iter(item)) not in OPERATORS):
                    raise PatternError(f"'{where}' has an unknown matcher {json.dumps(item)}")
        else:
            raise PatternError(f"'{where}' must be a list of values or an object")


def matches(pattern: dict, event: dict) -> bool:
    for key, wanted in pattern.items():
        value = event.get(key) if isinstance(event, dict) else None
        if isinstance(wanted, dict):
            if not isinstance(value, dict) or not matches(wanted, value):
                return False
        elif not any(_match_one(m, value, key in event if isinstance(event, dict) else False) for m in wanted):
            return False
    return True


def _match_one(matcher, value, present: bool) -> bool:
    values = value if isinstance(value, list) else [value]
    if not isinstance(matcher, dict):
        return present and any(v == matcher for v in values)
    ((operator, argument),) = matcher.items()
    if operator == "exists":
        return present == bool(argument)
    if not present:
        return False
    if operator == "prefix":
        return any(isinstance(v, str) and v.startswith(_text(argument)) for v in values)
    if operator == "suffix":
        return any(isinstance(v, str) and v.endswith(_text(argument)) for v in values)
    if operator == "equals-ignore-case":
        return any(isinstance(v, str) and v.lower() == str(argument).lower() for v in values)
    if operator == "anything-but":
        if isinstance(argument, dict):
            return not any(_match_one(argument, v, True) for v in values)
        excluded = argument if isinstance(argument, list) else [argument]
        return all(v not in excluded for v in values)
    if operator == "numeric":
        return any(_numeric(argument, v) for v in values)
    return False


def _text(argument) -> str:
    return argument if isinstance(argument, str) else str(argument)


def _numeric(conditions: list, value) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    checks = {
        "<": value.__lt__,
        "<=": value.__le__,
        "=": value.__eq__,
        ">": value.__gt__,
        ">=": value.__ge__,
    }
    for operator, bound in zip(conditions[::2], conditions[1::2], strict=False):
        if operator not in checks or not checks[operator](bound):
            return False
    return True
