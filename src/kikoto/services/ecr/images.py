"""Images through the ECR API: list, describe, get, delete, put, referrers."""

from __future__ import annotations

import dataclasses
import json

from ...domain.digests import digest_bytes, parse_digest
from ...domain.errors import (
    DigestInvalid,
    ImageAlreadyExists,
    ImageArchived,
    ImageDigestMismatch,
    ImageNotFound,
    InvalidParameter,
)
from ...domain.names import is_valid_tag
from ...storage.meta.ecr import EcrStore, ImageRecord
from ...storage.meta.store import MetadataStore
from ..manifests import Manifests
from .common import RegistryIdentity, paginate

TAG_STATUS = {"TAGGED": lambda i: bool(i.tags), "UNTAGGED": lambda i: not i.tags, "ANY": lambda i: True}
IMAGE_STATUS = {
    "ACTIVE": lambda i: i.storage_class == "STANDARD",
    "ARCHIVED": lambda i: i.storage_class == "ARCHIVE",
    "ACTIVATING": lambda i: False,
    "ANY": lambda i: True,
}


def _image_id_text(image_id: dict) -> str:
    return json.dumps({k: image_id[k] for k in ("imageDigest", "imageTag") if k in image_id}, separators=(", ", "="))


class Images:
    def __init__(
        self, ecr: EcrStore, meta: MetadataStore, manifests: Manifests, repositories, registry: RegistryIdentity
    ):
        self.ecr = ecr
        self.meta = meta
        self.manifests = manifests
        self.repositories = repositories  # RepositoryAdmin
        self.registry = registry

    async def _images(self, name: str, params: dict) -> tuple[int, list[ImageRecord]]:
        record = await self.repositories.get(name)
        images = await self.ecr.images(record.id)
        wanted = params.get("filter") or {}
        tagged, stored = TAG_STATUS[wanted.get("tagStatus") or "ANY"], IMAGE_STATUS[wanted.get("imageStatus") or "ANY"]
        return record.id, [i for i in images if tagged(i) and stored(i)]

    def _not_found(self, image_id: dict, name: str) -> ImageNotFound:
        return ImageNotFound(
            f"The image with imageId {{{_image_id_text(image_id)[1:-1]}}} does not exist within the "
            f"repository with name '{name}' in the registry with id '{self.registry.account}'"
        )

    @staticmethod
    def _find(images: list[ImageRecord], image_id: dict) -> ImageRecord | None:
        digest, tag = image_id.get("imageDigest"), image_id.get("imageTag")
        for image in images:
            if (digest is None or image.digest == digest) and (tag is None or tag in image.tags):
                return image
        return None

    async def resolve(self, name: str, image_id: dict) -> tuple[int, str]:
        """(repository id, digest) of the image an imageId names; ImageNotFound otherwise."""
        repo_id, images = await self._images(name, {})
        image = self._find(images, image_id)
        if image is None:
            raise self._not_found(image_id, name)
        return repo_id, image.digest

    async def list(self, params: dict) -> dict:
        _, images = await self._images(params["repositoryName"], params)
        ids = []
        for image in images:
            ids += [{"imageDigest": image.digest, "imageTag": t} for t in image.tags] or [{"imageDigest": image.digest}]
        page, token = paginate(ids, params)
        return {"imageIds": page, **({"nextToken": token} if token else {})}

    def _detail(self, name: str, image: ImageRecord) -> dict:
        detail = {
            "registryId": self.registry.account,
            "repositoryName": name,
            "imageDigest": image.digest,
            "imageSizeInBytes": image.size,
            "imagePushedAt": image.pushed_at,
            "imageManifestMediaType": image.media_type,
            "imageStatus": "ARCHIVED" if image.storage_class == "ARCHIVE" else "ACTIVE",
        }
        if image.archived_at:
            detail["lastArchivedAt"] = image.archived_at
        if image.activated_at:
            detail["lastActivatedAt"] = image.activated_at
        if image.tags:
            detail["imageTags"] = list(image.tags)
        if image.config_media_type:
            detail["artifactMediaType"] = image.config_media_type
        if image.last_pulled_at:
            detail["lastRecordedPullTime"] = image.last_pulled_at
        if image.subject_digest:
            detail["subjectManifestDigest"] = image.subject_digest
        return detail

    async def describe(self, params: dict) -> dict:
        name = params["repositoryName"]
        _, images = await self._images(name, params)
        if params.get("imageIds"):
            if params.get("maxResults") or params.get("nextToken"):
                raise InvalidParameter(
                    "Invalid parameter at 'maxResults' failed to satisfy "
                    "constraint: 'maxResults and nextToken cannot be used with imageIds'"
                )
            found = []
            for image_id in params["imageIds"]:
                image = self._find(images, image_id)
                if image is None:
                    raise self._not_found(image_id, name)
                found.append(image)
            return {"imageDetails": [self._detail(name, i) for i in found]}
        page, token = paginate(images, params)
        return {"imageDetails": [self._detail(name, i) for i in page], **({"nextToken": token} if token else {})}

    async def batch_get(self, params: dict, record_pull: bool = True) -> dict:
        name = params["repositoryName"]
        repo_id, images = await self._images(name, {})
        result, failures = [], []
        for image_id in params["imageIds"]:
            failure = self._id_failure(image_id)
            image = None if failure else self._find(images, image_id)
            if failure or image is None:
                failures.append(
                    failure
                    or {
                        "imageId": image_id,
                        "failureCode": "ImageNotFound",
                        "failureReason": "Requested image not found",
                    }
                )
                continue
            try:
                pulled = await self.manifests.pull(name, image.digest, record_pull=record_pull)  # like a docker pull
            except (ImageArchived, ImageNotFound) as exc:  # archived, or deleted meanwhile
                failures.append({"imageId": image_id, "failureCode": "ImageInaccessible", "failureReason": exc.message})
                continue
            result.append(
                {
                    "registryId": self.registry.account,
                    "repositoryName": name,
                    "imageId": {
                        "imageDigest": image.digest,
                        **({"imageTag": image_id["imageTag"]} if "imageTag" in image_id else {}),
                    },
                    "imageManifest": pulled.content.decode(),
                    "imageManifestMediaType": image.media_type,
                }
            )
        return {"images": result, "failures": failures}

    @staticmethod
    def _id_failure(image_id: dict) -> dict | None:
        if "imageDigest" not in image_id and "imageTag" not in image_id:
            return {
                "imageId": image_id,
                "failureCode": "MissingDigestAndTag",
                "failureReason": "Invalid request parameters: both tag and digest cannot be null",
            }
        if "imageDigest" in image_id:
            try:
                parse_digest(image_id["imageDigest"])
            except DigestInvalid:
                return {
                    "imageId": image_id,
                    "failureCode": "InvalidImageDigest",
                    "failureReason": "Invalid request parameters: image digest should satisfy the regex "
                    "'[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+'",
                }
        if "imageTag" in image_id and not is_valid_tag(image_id["imageTag"]):
            return {
                "imageId": image_id,
                "failureCode": "InvalidImageTag",
                "failureReason": "Invalid request parameters: image tag is not valid",
            }
        return None

    async def batch_delete(self, params: dict) -> dict:
        """A tag removes that tag (and the image with its last tag); a digest removes the image."""
        name = params["repositoryName"]
        repo_id, images = await self._images(name, {})  # read once, then kept in step with the deletions
        deleted, failures = [], []
        for image_id in params["imageIds"]:
            failure = self._id_failure(image_id)
            image = None if failure else self._find(images, image_id)
            if failure is None and image is None:
                digest_only = (
                    self._find(images, {"imageDigest": image_id["imageDigest"]})
                    if "imageDigest" in image_id and "imageTag" in image_id
                    else None
                )
                failure = {
                    "imageId": image_id,
                    "failureCode": "ImageTagDoesNotMatchDigest" if digest_only else "ImageNotFound",
                    "failureReason": "Requested image not found",
                }
            if failure is None and (len(image.tags) <= 1 or "imageTag" not in image_id):
                parents = await self.ecr.parents(repo_id, image.digest)
                if parents:
                    failure = {
                        "imageId": image_id,
                        "failureCode": "ImageReferencedByManifestList",
                        "failureReason": f"Requested image is referenced by manifest list(s): {parents}",
                    }
            if failure:
                failures.append(failure)
                continue
            images.remove(image)
            if "imageTag" in image_id and len(image.tags) > 1:
                await self.meta.delete_tag(repo_id, image_id["imageTag"])
                images.append(
                    dataclasses.replace(image, tags=tuple(t for t in image.tags if t != image_id["imageTag"]))
                )
                deleted.append({"imageDigest": image.digest, "imageTag": image_id["imageTag"]})
                continue
            await self.meta.delete_manifest(repo_id, image.digest)
            # As ECR: one entry per tag the deletion removed (a digest alone when it had none).
            removed = [image_id["imageTag"]] if "imageTag" in image_id else list(image.tags)
            deleted += [{"imageDigest": image.digest, "imageTag": t} for t in removed] or [
                {"imageDigest": image.digest}
            ]
        return {"imageIds": deleted, "failures": failures}

    async def put(self, params: dict) -> dict:
        name, text = params["repositoryName"], params["imageManifest"]
        await self.repositories.get(name)
        content = text.encode()
        tag, wanted = params.get("imageTag"), params.get("imageDigest")
        algorithm = wanted.split(":", 1)[0] if wanted and ":" in wanted else "sha256"
        digest = str(digest_bytes(content, algorithm if algorithm in ("sha256", "sha512") else "sha256"))
        if wanted and wanted != digest:
            raise ImageDigestMismatch(
                f"Invalid parameter at 'imageDigest' failed to satisfy constraint: 'The provided image "
                f"digest {wanted} does not match the calculated digest {digest}'"
            )
        if not params.get("imageManifestMediaType") and not _declared_media_type(text):
            # ECR will not guess: a manifest without mediaType needs imageManifestMediaType
            raise InvalidParameter(
                "Invalid parameter at 'imageManifestMediaType' failed to satisfy constraint: "
                "'the manifest has no mediaType and none was provided'"
            )
        existing = (
            await self.meta.find_manifest(name, tag=tag) if tag else await self.meta.find_manifest(name, digest=digest)
        )
        if existing is not None and existing.digest == digest:
            raise ImageAlreadyExists(
                f"Image with digest '{digest}'"
                + (f" and tag '{tag}'" if tag else "")
                + f" already exists in the repository with name '{name}' in registry with id "
                f"'{self.registry.account}'"
            )
        await self.manifests.push(name, tag or digest, content, params.get("imageManifestMediaType"), [])
        image_id = {"imageDigest": digest, **({"imageTag": tag} if tag else {})}
        media_type = (await self.meta.find_manifest(name, digest=digest)).media_type
        return {
            "image": {
                "registryId": self.registry.account,
                "repositoryName": name,
                "imageId": image_id,
                "imageManifest": text,
                "imageManifestMediaType": media_type,
            }
        }

    async def referrers(self, params: dict) -> dict:
        name = params["repositoryName"]
        await self.repositories.get(name)
        subject = params["subjectId"]["imageDigest"]
        wanted = set((params.get("filter") or {}).get("artifactTypes") or [])
        found = await self.manifests.referrers(name, subject, None, 100_000, None)
        shaped = [
            {
                "digest": r.digest,
                "mediaType": r.media_type,
                "size": r.size,
                "artifactStatus": "ACTIVE",
                **({"artifactType": r.artifact_type} if r.artifact_type else {}),
                **({"annotations": r.annotations} if r.annotations else {}),
            }
            for r in found
            if not wanted or r.artifact_type in wanted
        ]
        page, token = paginate(shaped, params, default=50)
        return {"referrers": page, **({"nextToken": token} if token else {})}


def _declared_media_type(text: str) -> str | None:
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        return None  # the manifest parser says what is wrong with it
    media_type = document.get("mediaType") if isinstance(document, dict) else None
    return media_type if isinstance(media_type, str) and media_type else None
