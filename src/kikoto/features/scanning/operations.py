"""Image scanning: registry configuration, scans and findings."""

from __future__ import annotations

from typing import Any

from ...http.ecr import shapes
from ...http.ecr.context import Call
from ...http.ecr.operations.table import registrar
from .scanner import Scanner

OPERATIONS: dict[str, Any] = {}  # bound to the feature's scanner by its registration
operation = registrar("ecr", OPERATIONS)

# -- scanning ---------------------------------------------------------------------------------------


@operation("PutRegistryScanningConfiguration")
async def put_registry_scanning_configuration(scanner: Scanner, call: Call) -> dict[str, Any]:
    saved = await scanner.put_configuration(call.params.get("scanType"), call.params.get("rules"))
    return {"registryScanningConfiguration": saved}


@operation("GetRegistryScanningConfiguration")
async def get_registry_scanning_configuration(scanner: Scanner, call: Call) -> dict[str, Any]:
    return call.of_registry(scanningConfiguration=await scanner.configuration())


@operation("BatchGetRepositoryScanningConfiguration")
async def batch_get_repository_scanning_configuration(scanner: Scanner, call: Call) -> dict[str, Any]:
    configurations, failures = [], []
    scanning = await scanner.configuration()
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
        frequency, filters = scanner.frequency(scanning, name, record.scan_on_push)
        configurations.append(
            {
                "repositoryArn": call.registry.arn(name),
                "repositoryName": name,
                "scanOnPush": record.scan_on_push,
                "scanFrequency": frequency,
                "appliedScanFilters": filters,
            }
        )
    return {"scanningConfigurations": configurations, "failures": failures}


@operation("StartImageScan")
async def start_image_scan(scanner: Scanner, call: Call) -> dict[str, Any]:
    name, wanted = call.params["repositoryName"], shapes.image_id_in(call.params["imageId"])
    repo_id, digest = await call.ecr.images.resolve(name, wanted)
    await scanner.start(name, repo_id, digest, await call.ecr.images.archived(repo_id, digest))
    return call.of_registry(
        repositoryName=name,
        imageId={"imageDigest": digest, **({"imageTag": wanted.tag} if wanted.tag else {})},
        imageScanStatus={"status": "IN_PROGRESS"},
    )


@operation("DescribeImageScanFindings")
async def describe_image_scan_findings(scanner: Scanner, call: Call) -> dict[str, Any]:
    p = call.params
    name, wanted = p["repositoryName"], shapes.image_id_in(p["imageId"])
    repo_id, digest = await call.ecr.images.resolve(name, wanted)
    missing = call.ecr.images.scan_not_found(wanted, name)
    scan, findings, token = await scanner.findings(repo_id, digest, p.get("maxResults"), p.get("nextToken"), missing)
    answer = call.of_registry(
        repositoryName=name,
        imageId={"imageDigest": digest, **({"imageTag": wanted.tag} if wanted.tag else {})},
        imageScanStatus=shapes.scan_status(scan),
    )
    if scan.status == "COMPLETE":
        answer["imageScanFindings"] = {
            "imageScanCompletedAt": scan.completed_at,
            "vulnerabilitySourceUpdatedAt": scan.completed_at,
            "findingSeverityCounts": scan.severity_counts,
            "findings": findings,
        }
    return {**answer, **({"nextToken": token} if token else {})}
