"""The layer API (BatchCheckLayerAvailability, Initiate/UploadLayerPart/Complete, GetDownloadUrlForLayer),
mapped onto the same upload sessions and blob store as the /v2/ API, so an image pushed one
way pulls the other."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from dataclasses import dataclass
from urllib.parse import urlencode

from ...domain.accounts import split_key
from ...domain.digests import parse_digest
from ...domain.errors import (
    DigestInvalid,
    EmptyUpload,
    InvalidParameter,
    LayerAlreadyExists,
    LayerInaccessible,
    LayerInvalid,
    LayerNotFound,
    LayerPartInvalid,
    SizeInvalid,
    UploadInvalid,
    UploadNotFound,
)
from ...storage.meta.ports import ImageStore
from ..registry import RegistryIdentity
from .service import Blobs

DOWNLOAD_URL_TTL = 3600


@dataclass(frozen=True)
class LayerCheck:
    digest: str
    availability: str  # AVAILABLE | UNAVAILABLE | ARCHIVED, or a failure code
    size: int | None = None
    failure: str | None = None  # why the digest could not be checked at all


class Layers:
    def __init__(
        self, blobs: Blobs, images: ImageStore, repositories, registry: RegistryIdentity, url_key: bytes
    ) -> None:
        self.blobs = blobs
        self.images = images
        self.repositories = repositories  # RepositoryAdmin
        self.registry = registry
        self._url_key = url_key

    async def check(self, name: str, digests: list[str]) -> list[LayerCheck]:
        await self.repositories.get(name)
        checks = []
        tiers = await self.blobs.index.blob_tiers(digests)
        sizes = await self.blobs.index.repo_blob_sizes(name, digests)
        for digest in digests:
            try:
                parse_digest(digest)
            except DigestInvalid:
                checks.append(LayerCheck(digest, "InvalidLayerDigest", failure="Invalid layer digest"))
                continue
            size = sizes.get(digest)
            availability = (
                "UNAVAILABLE" if size is None else "ARCHIVED" if tiers.get(digest) == "archive" else "AVAILABLE"
            )
            checks.append(LayerCheck(digest, availability, size))
        return checks

    async def initiate(self, name: str) -> str:
        """A new upload's id."""
        await self.repositories.get(name)
        return (await self.blobs.start_upload(name)).id

    async def upload_part(self, name: str, upload_id: str, first: int, last: int, encoded: str) -> int:
        """Append a base64 part; the offset of the last byte received."""
        await self.repositories.get(name)
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise LayerPartInvalid("The layer part blob is not valid base64.") from None
        try:
            status = await self.blobs.status(name, upload_id)
        except UploadNotFound:
            raise self._unknown(upload_id) from None
        if first != status.offset or last - first + 1 != len(data):
            raise LayerPartInvalid(
                f"The layer part must start at byte {status.offset} and be partLastByte - "
                f"partFirstByte + 1 bytes long.",
                name,
                upload_id,
                max(status.offset - 1, 0),
            )

        async def body():
            yield data

        state = await self.blobs.append(name, upload_id, body(), f"{first}-{last}", len(data))
        return state.offset - 1

    def _unknown(self, upload_id: str) -> UploadNotFound:
        return UploadNotFound(
            f"The upload with id '{upload_id}' does not exist in the registry with id '{self.registry.account}'"
        )

    async def complete(self, name: str, upload_id: str, digest: str) -> str:
        """Finish an upload as the layer `digest`; the digest stored."""
        await self.repositories.get(name)
        try:
            status = await self.blobs.status(name, upload_id)
        except UploadNotFound:
            raise self._unknown(upload_id) from None
        if status.offset == 0:
            raise EmptyUpload(f"The upload with id '{upload_id}' does not contain any layer parts")
        if await self.blobs.index.repo_blob_size(name, digest) is not None:
            await self.blobs.cancel(name, upload_id)
            raise LayerAlreadyExists(
                f"The layer with digest '{digest}' already exists in the repository with name '{name}' in "
                f"the registry with id '{self.registry.account}'"
            )

        async def nothing():
            return
            yield

        try:
            stored = await self.blobs.finish(name, upload_id, digest, nothing(), None, None)
        except (DigestInvalid, SizeInvalid, UploadInvalid) as exc:
            raise LayerInvalid(exc.message) from None
        return stored

    async def download_url(self, name: str, digest: str) -> str:
        record = await self.repositories.get(name)
        try:
            parse_digest(digest)
        except DigestInvalid:
            raise InvalidParameter(
                f"Invalid parameter at 'layerDigest' failed to satisfy constraint: 'invalid digest {digest}'"
            ) from None
        if await self.blobs.index.repo_blob_size(name, digest) is None:
            raise LayerNotFound(
                f"The layer with digest '{digest}' does not exist in the "
                f"repository with name '{name}' in the registry with id '{self.registry.account}'"
            )
        if not await self.images.blob_is_referenced(record.id, digest):
            raise LayerInaccessible(
                f"The layer with digest '{digest}' is not referenced by any image in the repository with name '{name}'"
            )
        return self.presign(name, digest)

    # -- presigned blob URLs: the client follows them without credentials, as with ECR's S3 URLs

    def _signature(self, path: str, expires: int, account: str = "") -> str:
        signed = f"{path}\n{expires}" + (f"\n{account}" if account else "")
        return hmac.new(self._url_key, signed.encode(), hashlib.sha256).hexdigest()

    def presign(self, key: str, digest: str) -> str:
        """A URL for the blob: the repository's name in the path, and its account (when it is
        not the first) signed with it, so the URL reaches the same account's repository."""
        first = self.registry.first_account
        account, name = split_key(key, first)
        path = f"/v2/{name}/blobs/{digest}"
        expires = int(time.time()) + DOWNLOAD_URL_TTL
        other = {"X-Kikoto-Account": account} if account != first else {}
        signature = self._signature(path, expires, *other.values())
        query = urlencode({"X-Kikoto-Expires": expires, **other, "X-Kikoto-Signature": signature})
        return f"{self.registry.of(account).endpoint}{path}?{query}"

    def presigned_ok(self, path: str, query) -> bool:
        try:
            expires = int(query.get("X-Kikoto-Expires", ""))
        except ValueError:
            return False
        signature = query.get("X-Kikoto-Signature", "").encode("utf-8", "replace")
        expected = self._signature(path, expires, query.get("X-Kikoto-Account", ""))
        return expires >= time.time() and hmac.compare_digest(signature, expected.encode())
