"""The ECR face's errors: the one place a failure becomes `{"__type", "message"}`.

Domain errors are translated by class through `ECR_ERRORS` (the most specific class wins);
`EcrError` is for the failures of the face itself (signatures, JSON, validation against the
model, unknown operations), which only exist in the protocol's own terms.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from ...domain import errors as e
from ..errors import lookup

JSON_11 = "application/x-amz-json-1.1"

# class -> (ECR exception name, HTTP status). AWS JSON 1.1 sends client errors as 400.
ECR_ERRORS: dict[type, tuple[str, int]] = {
    e.KikotoError: ("InvalidParameterException", 400),
    e.RepositoryNotFound: ("RepositoryNotFoundException", 400),
    e.ImageNotFound: ("ImageNotFoundException", 400),
    e.BlobNotFound: ("LayersNotFoundException", 400),
    e.LayerNotFound: ("LayersNotFoundException", 400),
    e.UploadNotFound: ("UploadNotFoundException", 400),
    e.TemplateNotFound: ("TemplateNotFoundException", 400),
    e.RepositoryPolicyNotFound: ("RepositoryPolicyNotFoundException", 400),
    e.RegistryPolicyNotFound: ("RegistryPolicyNotFoundException", 400),
    e.LifecyclePolicyNotFound: ("LifecyclePolicyNotFoundException", 400),
    e.LifecyclePreviewNotFound: ("LifecyclePolicyPreviewNotFoundException", 400),
    e.SigningConfigurationNotFound: ("SigningConfigurationNotFoundException", 400),
    e.ExclusionNotFound: ("ExclusionNotFoundException", 400),
    e.RepositoryAlreadyExists: ("RepositoryAlreadyExistsException", 400),
    e.TemplateAlreadyExists: ("TemplateAlreadyExistsException", 400),
    e.ImageAlreadyExists: ("ImageAlreadyExistsException", 400),
    e.LayerAlreadyExists: ("LayerAlreadyExistsException", 400),
    e.ExclusionAlreadyExists: ("ExclusionAlreadyExistsException", 400),
    e.RepositoryNotEmpty: ("RepositoryNotEmptyException", 400),
    e.TagImmutable: ("ImageTagAlreadyExistsException", 400),
    e.LimitExceeded: ("LimitExceededException", 400),
    e.ReferencedImageUnknown: ("ReferencedImagesNotFoundException", 400),
    e.ReferencedBlobUnknown: ("LayersNotFoundException", 400),
    e.ImageDigestMismatch: ("ImageDigestDoesNotMatchException", 400),
    e.LayerInvalid: ("InvalidLayerException", 400),
    e.UploadInvalid: ("InvalidLayerPartException", 400),
    e.EmptyUpload: ("EmptyUploadException", 400),
    e.LayerInaccessible: ("LayerInaccessibleException", 400),
    e.ResourceTagInvalid: ("InvalidTagParameterException", 400),
    e.TooManyResourceTags: ("TooManyTagsException", 400),
    e.BodyTooLarge: ("RequestEntityTooLargeException", 413),
    e.AccessDenied: ("AccessDeniedException", 400),
    e.Unsupported: ("UnsupportedOperationException", 400),
    e.Throttled: ("ThrottlingException", 400),
    e.RequestTimeout: ("RequestTimeoutException", 408),
    e.StorageFull: ("ServerException", 500),
    e.StoreUnavailable: ("ServerException", 503),  # SDKs retry a 503 (after Retry-After)
    e.PullThroughRuleNotFound: ("PullThroughCacheRuleNotFoundException", 400),
    e.PullThroughRuleAlreadyExists: ("PullThroughCacheRuleAlreadyExistsException", 400),
    e.UnsupportedUpstream: ("UnsupportedUpstreamRegistryException", 400),
    e.SecretNotFound: ("SecretNotFoundException", 400),
    e.SecretUnusable: ("UnableToAccessSecretException", 400),
    e.UpstreamFailed: ("ServerException", 500),
    e.ScanNotFound: ("ScanNotFoundException", 400),
    e.UnsupportedImageType: ("UnsupportedImageTypeException", 400),
    e.ImageArchived: ("ImageArchivedException", 400),
    e.ReplicationBackfillNotFound: ("ReplicationBackfillNotFoundException", 400),
    e.ReplicationBackfillInProgress: ("ReplicationBackfillInProgressException", 400),
    e.ReplicationBackfillInvalidStatus: ("ReplicationBackfillInvalidStatusException", 400),
}

# The Secrets Manager subset answers on the same endpoint in its own exception names.
SECRETS_ERRORS: dict[type, tuple[str, int]] = {
    e.KikotoError: ("InvalidParameterException", 400),
    e.SecretNotFound: ("ResourceNotFoundException", 400),
    e.SecretAlreadyExists: ("ResourceExistsException", 400),
    e.SecretUnusable: ("InvalidRequestException", 400),
    e.AccessDenied: ("AccessDeniedException", 400),
    e.Throttled: ("ThrottlingException", 400),
    e.BodyTooLarge: ("InvalidRequestException", 413),
    e.RequestTimeout: ("InvalidRequestException", 408),
    e.StorageFull: ("InternalServiceError", 500),
    e.StoreUnavailable: ("InternalServiceError", 503),
}


class EcrError(Exception):
    """A failure of the ECR protocol itself, already in ECR's terms (`extra`: more members)."""

    def __init__(self, error_type: str, message: str, status: int = 400, **extra: Any) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type, self.message, self.status, self.extra = error_type, message, status, extra


def as_ecr(
    error: e.KikotoError | EcrError, account: str, table=ECR_ERRORS
) -> tuple[dict[str, Any], int, dict[str, Any]]:
    """(body, status, headers) of an error in ECR's wire format (or, with SECRETS_ERRORS,
    in Secrets Manager's: the same protocol)."""
    if isinstance(error, EcrError):
        return {"__type": error.error_type, "message": error.message, **error.extra}, error.status, {}
    name, status = lookup(table, error)
    message, extra, headers = error.message, {}, {}
    if isinstance(error, e.RepositoryNotFound):  # whichever service noticed, ECR words it so
        message = f"The repository with name '{error.name}' does not exist in the registry with id '{account}'"
    elif isinstance(error, e.LayerPartInvalid) and error.upload_id:
        extra = {
            "registryId": account,
            "repositoryName": error.repository,
            "uploadId": error.upload_id,
            "lastValidByteReceived": error.last_valid_byte,
        }
    elif isinstance(error, e.Throttled | e.StoreUnavailable):
        headers = {"Retry-After": str(max(1, int(error.retry_after + 0.999)))}
    return {"__type": name, "message": message, **extra}, status, headers


def ecr_response(
    body: dict[str, Any], request_id: str, status: int = 200, headers: dict[str, Any] | None = None
) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(body).encode(),
        content_type=JSON_11,
        headers={"x-amzn-RequestId": request_id, **(headers or {})},
    )


def ecr_error_response(
    error: e.KikotoError | EcrError, request_id: str, account: str, table=ECR_ERRORS
) -> web.Response:
    body, status, headers = as_ecr(error, account, table)
    return ecr_response(body, request_id, status, headers)
