"""Manifest parsing and validation: OCI image manifest and index, Docker schema2 and manifest list.

`parse_manifest` turns the pushed bytes into what the registry needs to know: the blobs and
manifests it references, its subject, its artifact type. The bytes themselves are stored as
pushed; nothing here re-serialises them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from .digests import parse_digest
from .errors import DigestInvalid, ManifestInvalid, ManifestTooLarge

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_SCHEMA1 = (
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
)
IMAGE_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
MANIFEST_TYPES = IMAGE_TYPES + INDEX_TYPES
MAX_MANIFEST_BYTES = 4 * 1024 * 1024

# Layers a registry is not expected to hold (they carry `urls` to an outside location).
FOREIGN_LAYER_MARKERS = (".nondistributable.", "rootfs.foreign.")


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    artifact_type: str | None = None
    annotations: dict[str, str] | None = None

    @property
    def is_foreign(self) -> bool:
        return any(marker in self.media_type for marker in FOREIGN_LAYER_MARKERS)


@dataclass(frozen=True)
class Manifest:
    media_type: str
    digest: str
    size: int
    blobs: tuple[Descriptor, ...] = ()  # config + layers of an image manifest
    manifests: tuple[Descriptor, ...] = ()  # children of an index
    subject: Descriptor | None = None
    artifact_type: str | None = None
    config_media_type: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES

    @property
    def referrer_artifact_type(self) -> str | None:
        """The artifactType a referrers response reports for this manifest (spec 'Listing Referrers')."""
        if self.artifact_type:
            return self.artifact_type
        return None if self.is_index else self.config_media_type


def _invalid(message: str) -> ManifestInvalid:
    return ManifestInvalid(message)


def _strip_params(content_type: str | None) -> str | None:
    if not content_type:
        return None
    return content_type.split(";", 1)[0].strip().lower() or None


def _annotations(value: Any, where: str) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise _invalid(f"{where}: annotations must be an object of strings")
    return value


def _descriptor(value: Any, where: str) -> Descriptor:
    if not isinstance(value, dict):
        raise _invalid(f"{where}: a descriptor must be an object")
    media_type, digest, size = value.get("mediaType"), value.get("digest"), value.get("size")
    if not isinstance(media_type, str) or not media_type:
        raise _invalid(f"{where}: mediaType is required")
    if not isinstance(digest, str):
        raise _invalid(f"{where}: digest is required")
    try:
        parse_digest(digest)
    except DigestInvalid as exc:
        raise _invalid(f"{where}: {exc.message}") from None
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_SIZE:
        raise _invalid(f"{where}: size must be an integer from 0 to 2^63-1")
    artifact_type = value.get("artifactType")
    if artifact_type is not None and not isinstance(artifact_type, str):
        raise _invalid(f"{where}: artifactType must be a string")
    return Descriptor(media_type, digest, size, artifact_type, _annotations(value.get("annotations"), where))


def _media_type(body: dict[str, Any], content_type: str | None) -> str:
    declared, header = body.get("mediaType"), _strip_params(content_type)
    if declared is not None and not isinstance(declared, str):
        raise _invalid("mediaType must be a string")
    if declared and header and header in MANIFEST_TYPES and declared != header:
        raise _invalid(f"mediaType {declared!r} does not match Content-Type {header!r}")
    media_type = declared or (header if header in MANIFEST_TYPES + DOCKER_SCHEMA1 else None)
    if media_type is None:  # OCI allows mediaType to be absent: tell image from index by shape
        media_type = OCI_INDEX if "manifests" in body else OCI_MANIFEST
    if media_type in DOCKER_SCHEMA1:
        raise _invalid("Docker schema 1 manifests are not supported; push schema 2 or OCI")
    if media_type not in MANIFEST_TYPES:
        raise _invalid(f"unsupported manifest media type {media_type!r}")
    return media_type


MAX_SIZE = 2**63 - 1  # what a signed 64-bit size column (and every registry) can hold


def parse_manifest(data: bytes, content_type: str | None, digest: str) -> Manifest:
    """Validate a pushed manifest; `digest` is the digest of `data`, computed by the caller."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise ManifestTooLarge(f"manifest exceeds the {MAX_MANIFEST_BYTES} byte limit")
    try:
        body = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _invalid(f"manifest is not valid JSON: {exc}") from None
    except RecursionError:
        raise _invalid("manifest is not valid JSON: nested too deeply") from None
    if not isinstance(body, dict):
        raise _invalid("manifest must be a JSON object")
    if body.get("schemaVersion") != 2:
        raise _invalid("schemaVersion must be 2")
    media_type = _media_type(body, content_type)
    artifact_type = body.get("artifactType")
    if artifact_type is not None and not isinstance(artifact_type, str):
        raise _invalid("artifactType must be a string")
    subject = _descriptor(body["subject"], "subject") if body.get("subject") is not None else None
    common = dict(
        media_type=media_type,
        digest=digest,
        size=len(data),
        subject=subject,
        artifact_type=artifact_type,
        annotations=_annotations(body.get("annotations"), "manifest") or {},
    )
    if media_type in INDEX_TYPES:
        children = body.get("manifests")
        if not isinstance(children, list):
            raise _invalid("an index needs a manifests list")
        manifests = tuple(_descriptor(c, f"manifests[{i}]") for i, c in enumerate(children))
        return Manifest(manifests=manifests, **common)
    if "manifests" in body:
        raise _invalid(f"{media_type} must not have a manifests list")
    config = _descriptor(body.get("config"), "config")
    layers = body.get("layers")
    if not isinstance(layers, list):
        raise _invalid("an image manifest needs a layers list")
    blobs = (config, *(_descriptor(layer, f"layers[{i}]") for i, layer in enumerate(layers)))
    if sum(d.size for d in blobs) > MAX_SIZE:  # the image's size is stored in the same 64-bit column
        raise _invalid("the sizes of the config and layers add up to more than 2^63-1")
    return Manifest(blobs=blobs, config_media_type=config.media_type, **common)


EMPTY_CONFIG, EMPTY_MEDIA_TYPE = b"{}", "application/vnd.oci.empty.v1+json"


def artifact_manifest(
    artifact_type: str,
    layer_type: str,
    layer: bytes,
    subject: Descriptor,
    annotations: dict[str, str] | None = None,
) -> bytes:
    """An OCI 1.1 artifact: an empty config, one layer, and the image it refers to (its subject)."""

    def descriptor(media_type: str, content: bytes) -> dict[str, Any]:
        return {
            "mediaType": media_type,
            "digest": "sha256:" + hashlib.sha256(content).hexdigest(),
            "size": len(content),
        }

    document = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": descriptor(EMPTY_MEDIA_TYPE, EMPTY_CONFIG),
        "layers": [descriptor(layer_type, layer)],
        "subject": {"mediaType": subject.media_type, "digest": subject.digest, "size": subject.size},
        **({"annotations": annotations} if annotations else {}),
    }
    return json.dumps(document, separators=(",", ":")).encode()


# What a manifest is, in a person's words: the console shows these, with the raw type on hover.
KINDS = (  # (substring of the artifact or config media type, kind), the first that matches
    ("signature", "signature"),
    ("cosign", "signature"),
    ("sigstore", "signature"),
    ("spdx", "sbom"),
    ("cyclonedx", "sbom"),
    ("sbom", "sbom"),
    ("in-toto", "attestation"),
    ("helm", "helm"),
    ("wasm", "wasm"),
    ("image.config", "image"),
    ("container.image", "image"),
)


def kind_of(media_type: str, artifact_type: str | None, config_media_type: str | None) -> str:
    """image, index, signature, sbom, attestation, helm, wasm, or artifact."""
    if media_type in (OCI_INDEX, DOCKER_LIST):
        return "index"
    declared = (artifact_type or config_media_type or "").lower()
    if not declared:  # a schema 1 manifest, or one without a config type: an image
        return "image"
    return next((kind for needle, kind in KINDS if needle in declared), "artifact")
