"""Replication configuration, status and backfills."""

from __future__ import annotations

from typing import Any

from ...http.ecr import shapes
from ...http.ecr.context import Call
from ...http.ecr.operations.table import registrar
from .service import Replication

OPERATIONS: dict[str, Any] = {}  # bound to the feature's service by its registration
operation = registrar("ecr", OPERATIONS)

# -- replication --------------------------------------------------------------------------------------


@operation("DescribeRegistry")
async def describe_registry(replication: Replication, call: Call) -> dict[str, Any]:
    config = await replication.configuration()
    return call.of_registry(replicationConfiguration=config)


@operation("PutReplicationConfiguration")
async def put_replication_configuration(replication: Replication, call: Call) -> dict[str, Any]:
    saved = await replication.put_configuration(call.params["replicationConfiguration"])
    return {"replicationConfiguration": saved}


@operation("DescribeImageReplicationStatus")
async def describe_image_replication_status(replication: Replication, call: Call) -> dict[str, Any]:
    name, wanted = call.params["repositoryName"], shapes.image_id_in(call.params["imageId"])
    _, digest = await call.ecr.images.resolve(name, wanted)
    statuses = []
    for item in await replication.statuses(name, digest):
        status = {"region": item.region, "registryId": item.registry_id, "status": item.status}
        if item.failure and item.status != "COMPLETE":
            status["failureCode"] = item.failure[:200]
        statuses.append(status)
    image = {"imageDigest": digest, **({"imageTag": wanted.tag} if wanted.tag else {})}
    return {"repositoryName": name, "imageId": image, "replicationStatuses": statuses}


def _progress(counts: dict[str, Any]) -> dict[str, Any]:
    done, failed = counts.get("COMPLETE", 0), counts.get("FAILED", 0)
    total = done + failed + counts.get("IN_PROGRESS", 0)
    return {
        "totalReplicationCount": total,
        "completedReplicationCount": done,
        "failedReplicationCount": failed,
        "failureCodes": [],
    }


def _backfill(backfill, counts: dict[str, Any] | None = None) -> dict[str, Any]:
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
async def start_replication_backfill(replication: Replication, call: Call) -> dict[str, Any]:
    destination = call.params["destination"]
    backfill = await replication.start_backfill(destination["region"], destination["registryId"])
    return call.of_registry(**_backfill(backfill))


@operation("StopReplicationBackfill")
async def stop_replication_backfill(replication: Replication, call: Call) -> dict[str, Any]:
    backfill = await replication.stop_backfill(call.params["replicationBackfillId"])
    return call.of_registry(**_backfill(backfill))


@operation("ListReplicationBackfills")
async def list_replication_backfills(replication: Replication, call: Call) -> dict[str, Any]:
    found, token = await replication.backfills(call.params.get("maxResults"), call.params.get("nextToken"))
    return shapes.page(
        "backfills", [_backfill(b, counts) for b, counts in found], token, registryId=call.registry.account
    )


@operation("DescribeReplicationBackfillResults")
async def describe_replication_backfill_results(replication: Replication, call: Call) -> dict[str, Any]:
    p = call.params
    backfill, counts, items, token = await replication.backfill_results(
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
        registryId=call.registry.account,
        replicationBackfillId=backfill.id,
        destination={"region": backfill.region, "registryId": backfill.registry_id},
        status=backfill.status,
        progress=_progress(counts),
    )
