"""Pushing small images over /v2/ with requests, for the ECR API tests."""

from __future__ import annotations

import json

import requests

from kikoto.domain.manifests import OCI_MANIFEST

from ..helpers import image_manifest, sha256


def push(
    server, repo: str, tag: str | None, seed: str, password: str | None = None, layers: int = 2
) -> tuple[bytes, str]:
    auth = ("AWS", password or server.password())
    config = json.dumps({"architecture": "amd64", "os": "linux", "seed": seed}).encode()
    blobs = [f"{seed} layer {i}".encode() * 300 for i in range(layers)]
    for blob in [config, *blobs]:
        response = requests.post(f"{server.url}/v2/{repo}/blobs/uploads/?digest={sha256(blob)}", data=blob, auth=auth)
        assert response.status_code == 201, response.text
    body = image_manifest(config, blobs)
    response = requests.put(
        f"{server.url}/v2/{repo}/manifests/{tag or sha256(body)}",
        data=body,
        auth=auth,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert response.status_code == 201, response.text
    return body, sha256(body)


def attach(server, repo: str, subject: str, subject_size: int, artifact_type: str, document: bytes) -> str:
    """Push a referrer (an SBOM, a signature) of `subject`, untagged, as oras would; its digest."""
    auth = ("AWS", server.password())
    empty = b"{}"
    for blob in (empty, document):
        response = requests.post(f"{server.url}/v2/{repo}/blobs/uploads/?digest={sha256(blob)}", data=blob, auth=auth)
        assert response.status_code == 201, response.text
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": artifact_type,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha256(empty), "size": 2},
            "layers": [{"mediaType": artifact_type, "digest": sha256(document), "size": len(document)}],
            "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": subject_size},
        }
    ).encode()
    response = requests.put(
        f"{server.url}/v2/{repo}/manifests/{sha256(body)}", data=body, auth=auth, headers={"Content-Type": OCI_MANIFEST}
    )
    assert response.status_code == 201, response.text
    return sha256(body)
