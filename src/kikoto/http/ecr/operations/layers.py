"""The layer upload API (the ECR way to push blobs) and layer downloads."""

from __future__ import annotations

from typing import Any

from ..context import Call
from .table import operation

# -- layers ---------------------------------------------------------------------------------------

PART_SIZE = 10 * 1024 * 1024  # ECR's advertised part size


def _upload_ids(call: Call) -> dict[str, Any]:
    return call.of_registry(repositoryName=call.params["repositoryName"], uploadId=call.params["uploadId"])


@operation("BatchCheckLayerAvailability")
async def batch_check_layer_availability(call: Call) -> dict[str, Any]:
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
async def initiate_layer_upload(call: Call) -> dict[str, Any]:
    return {"uploadId": await call.ecr.layers.initiate(call.params["repositoryName"]), "partSize": PART_SIZE}


@operation("UploadLayerPart")
async def upload_layer_part(call: Call) -> dict[str, Any]:
    p = call.params
    last = await call.ecr.layers.upload_part(
        p["repositoryName"], p["uploadId"], p["partFirstByte"], p["partLastByte"], p["layerPartBlob"]
    )
    return {**_upload_ids(call), "lastByteReceived": last}


@operation("CompleteLayerUpload")
async def complete_layer_upload(call: Call) -> dict[str, Any]:
    p = call.params
    digest = await call.ecr.layers.complete(p["repositoryName"], p["uploadId"], p["layerDigests"][0])
    return {**_upload_ids(call), "layerDigest": digest}


@operation("GetDownloadUrlForLayer")
async def get_download_url_for_layer(call: Call) -> dict[str, Any]:
    p = call.params
    return {
        "downloadUrl": await call.ecr.layers.download_url(p["repositoryName"], p["layerDigest"]),
        "layerDigest": p["layerDigest"],
    }
