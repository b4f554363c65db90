"""Every failure a client can cause, as a type. No HTTP status, header or wire name lives here.

Each face translates these at one place, by class (most specific first, as starlette looks up
its exception handlers): the OCI face to its error codes (http/errors.py), the ECR face to its
exception names (http/ecr/errors.py). A face never recognises an error by its message.
"""

from __future__ import annotations

from typing import Any


class KikotoError(Exception):
    """A failure a client can see. `message` is for people; `detail` is the OCI error detail."""

    default = "the request failed"

    def __init__(self, message: str | None = None, detail: Any = None) -> None:
        self.message = message or self.default
        self.detail = detail
        super().__init__(self.message)


# -- not found --------------------------------------------------------------------------------------


class NotFound(KikotoError):
    default = "not found"


class RepositoryNotFound(NotFound):
    default = "repository name not known to registry"

    def __init__(self, name: str, message: str | None = None) -> None:
        super().__init__(message or f"repository {name!r} not known to registry", {"name": name})
        self.name = name


class ImageNotFound(NotFound):
    default = "manifest unknown to registry"


class BlobNotFound(NotFound):
    default = "blob unknown to registry"

    def __init__(self, digest: str, message: str | None = None) -> None:
        super().__init__(message or f"blob unknown to registry: {digest}", {"digest": digest})
        self.digest = digest


class UploadNotFound(NotFound):
    default = "blob upload unknown to registry"


class LayerNotFound(NotFound):
    """A layer asked for by digest through the ECR API."""


class TemplateNotFound(NotFound):
    pass


class RepositoryPolicyNotFound(NotFound):
    pass


class RegistryPolicyNotFound(NotFound):
    pass


class LifecyclePolicyNotFound(NotFound):
    pass


class LifecyclePreviewNotFound(NotFound):
    pass


class SigningConfigurationNotFound(NotFound):
    pass


class PullThroughRuleNotFound(NotFound):
    default = "the pull through cache rule does not exist"


class SecretNotFound(NotFound):
    default = "Secrets Manager can't find the specified secret."


class AccessKeyNotFound(NotFound):
    default = "no such access key"


class ReplicationBackfillNotFound(NotFound):
    default = "The specified replication backfill could not be found."


class ReplicationBackfillInProgress(KikotoError):
    default = "A replication backfill is already in progress for the specified destination."


class ReplicationBackfillInvalidStatus(KikotoError):
    default = "The replication backfill is not in a valid status for that operation."


class ScanNotFound(NotFound):
    default = "Image scan does not exist for the image"


class ExclusionNotFound(NotFound):
    pass


# -- conflicts ------------------------------------------------------------------------------------


class AlreadyExists(KikotoError):
    pass


class RepositoryAlreadyExists(AlreadyExists):
    pass


class TemplateAlreadyExists(AlreadyExists):
    pass


class ImageAlreadyExists(AlreadyExists):
    pass


class LayerAlreadyExists(AlreadyExists):
    pass


class ExclusionAlreadyExists(AlreadyExists):
    pass


class PullThroughRuleAlreadyExists(AlreadyExists):
    pass


class SecretAlreadyExists(AlreadyExists):
    pass


class RepositoryNotEmpty(KikotoError):
    pass


class TagImmutable(KikotoError):
    """A tag that may not move to another image (the repository's tag mutability)."""


class LimitExceeded(KikotoError):
    pass


class EntityNotFound(NotFound):
    """An IAM user, access key or inline policy that does not exist (IAM's NoSuchEntity)."""


class EntityExists(KikotoError):
    """IAM's EntityAlreadyExists."""


class DeleteConflict(KikotoError):
    """IAM's DeleteConflict: a user with keys or policies is not deleted."""


# -- invalid input --------------------------------------------------------------------------------


class InvalidInput(KikotoError):
    default = "invalid request"


class InvalidParameter(InvalidInput):
    """A request parameter that is wrong, in the words of the API that received it."""


class NameInvalid(InvalidInput):
    default = "invalid repository name"


class DigestInvalid(InvalidInput):
    default = "provided digest did not match uploaded content"


class ImageDigestMismatch(DigestInvalid):
    """The digest given for an image is not the digest of its manifest."""


class ManifestInvalid(InvalidInput):
    default = "manifest invalid"


class ManifestTooLarge(ManifestInvalid):
    pass


class ReferencedImageUnknown(InvalidInput):
    """An index lists a manifest the repository does not have."""

    def __init__(self, digest: str) -> None:
        super().__init__(f"manifest unknown to registry: {digest}", {"digest": digest})


class ReferencedBlobUnknown(InvalidInput):
    """A manifest references a blob the repository cannot see."""

    def __init__(self, digest: str) -> None:
        super().__init__(f"blob unknown to registry: {digest}", {"digest": digest})


class PageSizeInvalid(InvalidInput):
    default = "invalid number of results requested"


class SizeInvalid(InvalidInput):
    default = "provided length did not match content length"


class LengthRequired(SizeInvalid):
    pass


class BodyTooLarge(SizeInvalid):
    pass


class UploadInvalid(InvalidInput):
    default = "blob upload invalid"


class UploadOutOfOrder(UploadInvalid):
    """A chunk that does not start where the upload ends (416 with the upload's Range)."""

    def __init__(self, message: str, repository: str, upload_id: str, offset: int) -> None:
        super().__init__(message)
        self.repository, self.upload_id, self.offset = repository, upload_id, offset


class UploadBusy(UploadInvalid):
    """Another request is writing to, or has just moved, the same upload (416)."""


class EmptyUpload(UploadInvalid):
    pass


class LayerPartInvalid(UploadInvalid):
    """An ECR layer part that is not base64, or does not continue the upload where it ends."""

    def __init__(
        self,
        message: str,
        repository: str | None = None,
        upload_id: str | None = None,
        last_valid_byte: int | None = None,
    ) -> None:
        super().__init__(message)
        self.repository, self.upload_id, self.last_valid_byte = repository, upload_id, last_valid_byte


class LayerInvalid(InvalidInput):
    """Finished layer content that is not what its digest says."""


class LayerInaccessible(KikotoError):
    pass


class ResourceTagInvalid(InvalidInput):
    pass


class TooManyResourceTags(InvalidInput):
    pass


class SignatureMalformed(InvalidInput):
    """Bytes that do not parse as the document they claim to be."""


# -- access ---------------------------------------------------------------------------------------


class AccessDenied(KikotoError):
    default = "requested access to the resource is denied"

    def __init__(self, message: str | None = None, detail: Any = None, action: str | None = None) -> None:
        super().__init__(message, detail)
        self.action = action  # the API action refused, for faces that say it in their own words


class ImageArchived(KikotoError):
    """The image's blobs are in the archive tier: it must be restored before a pull."""


class Unsupported(KikotoError):
    default = "the operation is unsupported"


class UnsupportedImageType(InvalidInput):
    """An artifact that is not a container image (or an index of them) cannot be scanned."""


class UnsupportedUpstream(InvalidInput):
    """A pull-through cache rule names an upstream Kikötő cannot (or may not) pull from."""


class SecretUnusable(InvalidInput):
    """The secret exists but cannot be used now (scheduled for deletion, or not JSON with the
    fields a pull-through cache rule needs)."""


class PullThroughPushRefused(AccessDenied):
    """A pull-through cache repository receives images from its upstream only."""


class UpstreamFailed(KikotoError):
    """The upstream registry of a pull-through cache could not give what was never cached
    (unreachable, refused the credentials, sent something wrong); the message says how."""


class UpstreamMissing(UpstreamFailed):
    """The upstream has no such manifest or blob."""


class UpstreamRateLimited(UpstreamFailed):
    """The upstream refused for now (its rate limit); `retry_after` seconds, when it said."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


# -- capacity -------------------------------------------------------------------------------------


class Throttled(KikotoError):
    default = "too many requests"

    def __init__(self, message: str | None = None, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RequestTimeout(KikotoError):
    default = "the request body stopped arriving"


class StoreUnavailable(KikotoError):
    """A backing store (the database, the object store) cannot be reached or refused for now:
    nothing was changed, and the same request may succeed in `retry_after` seconds."""

    default = "the registry's storage is unavailable; try again shortly"

    def __init__(self, message: str | None = None, retry_after: float = 2.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StorageFull(KikotoError):
    default = "the registry is out of storage space"


def storage_full(detail: str = "") -> StorageFull:
    """The registry has no room for more bytes: an operator's problem, said plainly."""
    return StorageFull(
        "the registry is out of storage space"
        + (f": {detail}" if detail else "")
        + "; nothing was stored, try again once space is freed"
    )


class MalformedPolicy(InvalidInput):
    """IAM's MalformedPolicyDocument."""
