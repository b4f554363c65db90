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
