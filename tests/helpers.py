"""Building blobs and manifests for tests, and pushing them through the OCI API."""

from __future__ import annotations

import hashlib
import json

from kikoto.domain.manifests import OCI_INDEX, OCI_MANIFEST

CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def descriptor(data: bytes, media_type: str, **extra) -> dict:
    return {"mediaType": media_type, "digest": sha256(data), "size": len(data), **extra}


def image_manifest(config: bytes, layers: list[bytes], media_type: str = OCI_MANIFEST, **extra) -> bytes:
    body = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": descriptor(
            config, CONFIG_TYPE if media_type == OCI_MANIFEST else "application/vnd.docker.container.image.v1+json"
        ),
        "layers": [
            descriptor(
                layer, LAYER_TYPE if media_type == OCI_MANIFEST else "application/vnd.docker.image.rootfs.diff.tar.gzip"
            )
            for layer in layers
        ],
        **extra,
    }
    return json.dumps(body).encode()


def index_manifest(children: list[bytes], media_type: str = OCI_INDEX, **extra) -> bytes:
    child_type = OCI_MANIFEST if media_type == OCI_INDEX else "application/vnd.docker.distribution.manifest.v2+json"
    manifests = [
        descriptor(c, child_type, platform={"architecture": arch, "os": "linux"})
        for c, arch in zip(children, ["amd64", "arm64", "s390x", "ppc64le"], strict=False)
    ]
    return json.dumps({"schemaVersion": 2, "mediaType": media_type, "manifests": manifests, **extra}).encode()


async def push_blob(client, repo: str, data: bytes) -> str:
    digest = sha256(data)
    response = await client.post(
        f"/v2/{repo}/blobs/uploads/?digest={digest}", data=data, headers={"Content-Type": "application/octet-stream"}
    )
    assert response.status == 201, await response.text()
    return digest


async def put_manifest(client, repo: str, reference: str, body: bytes, media_type: str = OCI_MANIFEST):
    return await client.put(f"/v2/{repo}/manifests/{reference}", data=body, headers={"Content-Type": media_type})


async def push_image(client, repo: str, tag: str, seed: str = "x", layers: int = 2, **extra) -> tuple[bytes, str]:
    config = json.dumps({"architecture": "amd64", "os": "linux", "seed": seed}).encode()
    blobs = [f"layer {seed} {i}".encode() * 100 for i in range(layers)]
    for blob in [config, *blobs]:
        await push_blob(client, repo, blob)
    body = image_manifest(config, blobs, **extra)
    response = await put_manifest(client, repo, tag, body)
    assert response.status == 201, await response.text()
    return body, sha256(body)


async def error_code(response) -> str:
    body = await response.json()
    return body["errors"][0]["code"]


SHARED_CONFIG = b'{"architecture":"amd64","os":"linux"}'


def numbered_manifest(n: int) -> bytes:
    """The n-th of many distinct manifests sharing one config and no layers (cheap to push by
    the thousand: push SHARED_CONFIG once)."""
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor(SHARED_CONFIG, CONFIG_TYPE),
            "layers": [],
            "annotations": {"n": str(n)},
        }
    ).encode()
