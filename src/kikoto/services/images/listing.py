"""Images through the ECR API: list, describe, get, delete, put, referrers."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from ...domain.digests import digest_bytes, parse_digest
from ...domain.errors import (
    DigestInvalid,
    ImageAlreadyExists,
    ImageArchived,
    ImageDigestMismatch,
    ImageNotFound,
    InvalidParameter,
    ScanNotFound,
)
from ...domain.names import is_valid_tag
from ...domain.paging import fill_page, sign_token
from ...storage.meta.ports import ImageRecord, Referrer, Stores
from ..registry import RegistryIdentity, token_position
from .manifests import Manifests


@dataclass(frozen=True)
class ImageId:
    """An image named by digest, tag, or both (ECR's imageId)."""

    digest: str | None = None
    tag: str | None = None

    def text(self) -> str:
        """The imageId as ECR writes it in messages: `{imageDigest:'null', imageTag:'v1'}`."""
        return f"{{imageDigest:'{self.digest or 'null'}', imageTag:'{self.tag or 'null'}'}}"


@dataclass(frozen=True)
class ImageFailure:
    image_id: ImageId
    code: str
    reason: str


@dataclass(frozen=True)
class GotImage:
    image_id: ImageId
    manifest: str
    media_type: str


class Images:
    def __init__(
        self,
        stores: Stores,
        manifests: Manifests,
        repositories,
        registry: RegistryIdentity,
        token_key: bytes = b"",
    ) -> None:
        self.token_key = token_key  # signs nextTokens (keyset positions)
        self.records, self.store = stores.images, stores.manifests
        self.manifests = manifests
        self.repositories = repositories  # RepositoryAdmin
        self.registry = registry

    def _not_found(self, image_id: ImageId, name: str) -> ImageNotFound:
        return ImageNotFound(
            f"The image with imageId {image_id.text()} does not exist within the "
            f"repository with name '{name}' in the registry with id '{self.registry.account}'"
        )

    def scan_not_found(self, image_id: ImageId, name: str) -> ScanNotFound:
        """ECR's ScanNotFoundException for an image as the request named it."""
        return ScanNotFound(
            f"Image scan does not exist for the image with '{image_id.text()}' in the repository with name "
            f"'{name}' in the registry with id '{self.registry.account}'"
        )

    @staticmethod
    def _find(images: list[ImageRecord], image_id: ImageId) -> ImageRecord | None:
        for image in images:
            if (image_id.digest is None or image.digest == image_id.digest) and (
                image_id.tag is None or image_id.tag in image.tags
            ):
                return image
        return None

    async def _named(self, name: str, image_ids: list[ImageId]) -> tuple[int, list[ImageRecord]]:
        """The repository's id and just the images these ids name (one indexed query)."""
        record = await self.repositories.get(name)
        digests = [i.digest for i in image_ids if i.digest]
        tags = [i.tag for i in image_ids if i.tag]
        return record.id, await self.records.find_images(record.id, digests, tags)

    def _page(self, name: str, kind: str, max_results: int | None, next_token: str | None) -> tuple[int, list[Any]]:
        if max_results is not None and not 1 <= max_results <= 1000:
            raise InvalidParameter(
                "Invalid parameter at 'maxResults' failed to satisfy constraint: "
                "'Member must have value between 1 and 1000'"
            )
        after = token_position(self.token_key, f"{kind}:{name}", next_token) or []
        return max_results or 100, after

    async def browse(
        self, name: str, order: str, descending: bool, after: tuple[float, str] | None, limit: int
    ) -> tuple[list[ImageRecord], list[ImageRecord]]:
        """A page of images as a person browses them (newest or largest first, by key; index
        children and referrers not among them), and the referrers of those on the page."""
        record = await self.repositories.get(name)
        images = await self.records.browse(record.id, order, descending, after, limit)
        return images, await self.records.referrers_of(record.id, [i.digest for i in images])

    async def present(self, name: str, digests: list[str], tags: list[str]) -> list[ImageRecord]:
        """Those of the images these digests and tags name that the repository holds (one query)."""
        return (await self._named(name, [ImageId(d, None) for d in digests] + [ImageId(None, t) for t in tags]))[1]

    async def archived(self, repo_id: int, digest: str) -> bool:
        images = await self.records.find_images(repo_id, [digest], [])
        return bool(images) and images[0].storage_class == "ARCHIVE"

    async def resolve(self, name: str, image_id: ImageId) -> tuple[int, str]:
        """(repository id, digest) of the image an imageId names; ImageNotFound otherwise."""
        repo_id, images = await self._named(name, [image_id])
        image = self._find(images, image_id)
        if image is None:
            raise self._not_found(image_id, name)
        return repo_id, image.digest

    async def page(
        self,
        name: str,
        tag_status: str | None,
        image_status: str | None,
        max_results: int | None,
        next_token: str | None,
    ) -> tuple[list[ImageId], str | None]:
        """A page of imageIds (one per tag, or the digest alone), by digest then tag: a keyset page."""
        limit, after = self._page(name, "ListImages", max_results, next_token)
        record = await self.repositories.get(name)
        position = (after[0], after[1]) if after else ("", "")
        ids: list[ImageId] = []
        cursor, inclusive = position[0], bool(after)
        while len(ids) <= limit:
            # inclusive: the token's image comes back first (its later tags may be due), so one more
            batch = await self.records.image_ids_page(
                record.id, cursor, limit + 1 + inclusive, tag_status or "ANY", image_status or "ANY", inclusive
            )
            for digest, tag_names in batch:
                for tag in tag_names or ("",):
                    if (digest, tag) > position:
                        ids.append(ImageId(digest, tag or None))
            if len(batch) <= limit + inclusive:
                break
            cursor, inclusive = batch[-1][0], False
        page = ids[:limit]
        token = None
        if len(ids) > limit:
            last = page[-1]
            token = sign_token(self.token_key, f"ListImages:{name}", [last.digest, last.tag or ""])
        return page, token

    async def describe(
        self,
        name: str,
        tag_status: str | None,
        image_status: str | None,
        image_ids: list[ImageId] | None,
        max_results: int | None,
        next_token: str | None,
    ) -> tuple[list[ImageRecord], str | None]:
        if image_ids:
            if max_results or next_token:
                raise InvalidParameter(
                    "Invalid parameter at 'maxResults' failed to satisfy "
                    "constraint: 'maxResults and nextToken cannot be used with imageIds'"
                )
            _, images = await self._named(name, image_ids)
            found = []
            for image_id in image_ids:
                image = self._find(images, image_id)
                if image is None:
                    raise self._not_found(image_id, name)
                found.append(image)
            return found, None
        limit, after = self._page(name, "DescribeImages", max_results, next_token)
        record = await self.repositories.get(name)
        images = await self.records.images_page(
            record.id, after[0] if after else "", limit + 1, tag_status or "ANY", image_status or "ANY"
        )
        token = None
        if len(images) > limit:
            images = images[:limit]
            token = sign_token(self.token_key, f"DescribeImages:{name}", [images[-1].digest])
        return images, token

    async def batch_get(
        self, name: str, image_ids: list[ImageId], record_pull: bool = True
    ) -> tuple[list[GotImage], list[ImageFailure]]:
        _, images = await self._named(name, image_ids)
        result, failures = [], []
        for image_id in image_ids:
            failure = self._id_failure(image_id)
            image = None if failure else self._find(images, image_id)
            if failure or image is None:
                failures.append(failure or ImageFailure(image_id, "ImageNotFound", "Requested image not found"))
                continue
            try:
                pulled = await self.manifests.pull(name, image.digest, record_pull=record_pull)  # like a docker pull
            except (ImageArchived, ImageNotFound) as exc:  # archived, or deleted meanwhile
                failures.append(ImageFailure(image_id, "ImageInaccessible", exc.message))
                continue
            content = pulled.content or b""
            result.append(GotImage(ImageId(image.digest, image_id.tag), content.decode(), image.media_type))
        return result, failures

    @staticmethod
    def _id_failure(image_id: ImageId) -> ImageFailure | None:
        if image_id.digest is None and image_id.tag is None:
            return ImageFailure(
                image_id, "MissingDigestAndTag", "Invalid request parameters: both tag and digest cannot be null"
            )
        if image_id.digest is not None:
            try:
                parse_digest(image_id.digest)
            except DigestInvalid:
                return ImageFailure(
                    image_id,
                    "InvalidImageDigest",
                    "Invalid request parameters: image digest should satisfy the regex '[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+'",
                )
        if image_id.tag is not None and not is_valid_tag(image_id.tag):
            return ImageFailure(image_id, "InvalidImageTag", "Invalid request parameters: image tag is not valid")
        return None

    async def batch_delete(self, name: str, image_ids: list[ImageId]) -> tuple[list[ImageId], list[ImageFailure]]:
        """A tag removes that tag (and the image with its last tag); a digest removes the image."""
        repo_id, images = await self._named(name, image_ids)  # read once, kept in step with the deletions
        deleted: list[ImageId] = []
        failures = []
        for image_id in image_ids:
            failure = self._id_failure(image_id)
            image = None if failure else self._find(images, image_id)
            if failure is None and image is None:
                digest_only = (
                    self._find(images, ImageId(image_id.digest))
                    if image_id.digest is not None and image_id.tag is not None
                    else None
                )
                code = "ImageTagDoesNotMatchDigest" if digest_only else "ImageNotFound"
                failure = ImageFailure(image_id, code, "Requested image not found")
            if failure is None and image is not None and (len(image.tags) <= 1 or image_id.tag is None):
                parents = await self.records.parents(repo_id, image.digest)
                if parents:
                    failure = ImageFailure(
                        image_id,
                        "ImageReferencedByManifestList",
                        f"Requested image is referenced by manifest list(s): {parents}",
                    )
            if failure or image is None:
                failures.append(failure)
                continue
            images.remove(image)
            if image_id.tag is not None and len(image.tags) > 1:
                await self.store.delete_tag(repo_id, image_id.tag)
                images.append(dataclasses.replace(image, tags=tuple(t for t in image.tags if t != image_id.tag)))
                deleted.append(ImageId(image.digest, image_id.tag))
                continue
            await self.store.delete_manifest(repo_id, image.digest, image_id.tag)
            # As ECR: one entry per tag the deletion removed (a digest alone when it had none).
            removed = [image_id.tag] if image_id.tag is not None else list(image.tags)
            deleted += [ImageId(image.digest, t) for t in removed] or [ImageId(image.digest)]
        return deleted, failures

    async def put(
        self, name: str, text: str, media_type: str | None, tag: str | None, wanted: str | None
    ) -> tuple[ImageId, str]:
        """Store a manifest; (its imageId, its media type)."""
        await self.repositories.get(name)
        content = text.encode()
        algorithm = wanted.split(":", 1)[0] if wanted and ":" in wanted else "sha256"
        digest = str(digest_bytes(content, algorithm if algorithm in ("sha256", "sha512") else "sha256"))
        if wanted and wanted != digest:
            raise ImageDigestMismatch(
                f"Invalid parameter at 'imageDigest' failed to satisfy constraint: 'The provided image "
                f"digest {wanted} does not match the calculated digest {digest}'"
            )
        if not media_type and not _declared_media_type(text):
            # ECR will not guess: a manifest with no mediaType, given none, is refused in its words
            raise InvalidParameter(
                "Invalid parameter at 'ImageManifest' failed to satisfy constraint: 'Invalid JSON syntax'"
            )
        existing = (
            await self.store.find_manifest(name, tag=tag)
            if tag
            else await self.store.find_manifest(name, digest=digest)
        )
        if existing is not None and existing.digest == digest:
            raise ImageAlreadyExists(
                f"Image with digest '{digest}'"
                + (f" and tag '{tag}'" if tag else "")
                + f" already exists in the repository with name '{name}' in registry with id "
                f"'{self.registry.account}'"
            )
        pushed = await self.manifests.push(name, tag or digest, content, media_type, [])
        return ImageId(digest, tag), pushed.media_type

    async def referrers(
        self,
        name: str,
        subject: str,
        artifact_types: list[str] | None,
        max_results: int | None,
        next_token: str | None,
    ):
        """(a page of the referrers of `subject`, filtered by artifact type, the next token): by
        digest from the token's position, reading batches until the page is full."""
        await self.repositories.get(name)
        if max_results is not None and not 1 <= max_results <= 50:
            raise InvalidParameter(
                "Invalid parameter at 'maxResults' failed to satisfy constraint: "
                "'Member must have value between 1 and 50'"
            )
        limit = max_results or 50
        scope = f"ListImageReferrers:{name}:{subject}"
        after = (token_position(self.token_key, scope, next_token) or [""])[0]
        wanted = set(artifact_types or [])

        async def fetch(after: str) -> list[Referrer]:
            return await self.manifests.referrers(name, subject, None, limit + 1, after or None)

        async def keep(batch: list[Referrer]) -> list[Referrer]:
            return [r for r in batch if not wanted or r.artifact_type in wanted]

        found, more = await fill_page(fetch, keep, lambda r: r.digest, after, limit)
        return found, sign_token(self.token_key, scope, [found[-1].digest]) if more else None


def _declared_media_type(text: str) -> str | None:
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        return None  # the manifest parser says what is wrong with it
    media_type = document.get("mediaType") if isinstance(document, dict) else None
    return media_type if isinstance(media_type, str) and media_type else None
