"""The upload protocol's headers (where an upload continues and how much it holds): needed by
the /v2/ handlers and by the OCI error renderer alike, so they depend on nothing."""

from __future__ import annotations


def upload_location(repository: str, upload_id: str) -> str:
    return f"/v2/{repository}/blobs/uploads/{upload_id}"


def range_headers(repository: str, upload_id: str, offset: int) -> dict[str, str]:
    """Location, Range (inclusive end; 0-0 for an empty upload, as Distribution does) and upload id."""
    return {
        "Location": upload_location(repository, upload_id),
        "Range": f"0-{max(offset - 1, 0)}",
        "Docker-Upload-UUID": upload_id,
    }
