"""POST / : the ECR API. Authenticate (SigV4), validate against the service model,
authorise (ecr:<Operation> on the repository), dispatch, and answer in AWS JSON 1.1."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
import uuid
from dataclasses import dataclass

from aiohttp import web
from botocore.model import OperationNotFoundError

from ...domain.ecr import repository_name_from_arn
from ...domain.errors import KikotoError, RegistryPolicyNotFound, Throttled, storage_full
from ...services.access import Access
from ...services.ecr.common import RegistryIdentity
from ...services.ecr.images import Images
from ...services.ecr.layers import Layers
from ...services.ecr.repositories import RepositoryAdmin
from ...services.identity import Identities, Principal
from ...services.lifecycle import Lifecycle
from ...storage.meta.ecr import EcrStore
from .. import sigv4
from ..errors import out_of_space
from ..limits import RATE_LIMITS, read_body
from .errors import EcrError, ecr_error_response, ecr_response
from .validation import service_model, validate

log = logging.getLogger("kikoto.ecr")
TARGET_PREFIX = "AmazonEC2ContainerRegistry_V20150921."
# The largest body each operation may send, read only once the signature's key is known to be
# active: an UploadLayerPart carries up to 20 MiB in base64 (28 MiB), a PutImage a manifest of
# up to 4 MiB characters (JSON escapes may double it), every other request a few KiB.
BODY_LIMITS = {"UploadLayerPart": 28 << 20 | 64 << 10, "PutImage": 8 << 20}
DEFAULT_BODY_LIMIT = 1 << 20


@dataclass
class EcrServices:
    registry: RegistryIdentity
    identities: Identities
    access: Access
    store: EcrStore
    repositories: RepositoryAdmin
    images: Images
    layers: Layers
    lifecycle: Lifecycle


ECR = web.AppKey("ecr", EcrServices)


async def _authorization_token(ecr: EcrServices, principal: Principal, params: dict) -> dict:
    password, expires = ecr.identities.issue(principal)
    token = base64.b64encode(f"AWS:{password}".encode()).decode()
    return {"authorizationData": [{"authorizationToken": token, "expiresAt": expires,
                                   "proxyEndpoint": ecr.registry.endpoint}]}


async def _registry_policy(ecr: EcrServices, params: dict, action: str) -> dict:
    account = ecr.registry.account
    if action == "put":
        try:
            json.loads(params["policyText"])
        except (ValueError, RecursionError):
            raise EcrError("InvalidParameterException", "Invalid parameter at 'PolicyText' failed to satisfy "
                           "constraint: 'Invalid registry policy provided'") from None
        await ecr.store.put_document("registry_policy", params["policyText"])
        return {"registryId": account, "policyText": params["policyText"]}
    text = await ecr.store.document("registry_policy")
    if text is None:
        raise RegistryPolicyNotFound(
            f"Registry policy does not exist in the registry with id '{account}'")
    if action == "delete":
        await ecr.store.put_document("registry_policy", None)
    return {"registryId": account, "policyText": text}


def _operations(ecr: EcrServices, principal: Principal):
    repos, images, layers, lifecycle = ecr.repositories, ecr.images, ecr.layers, ecr.lifecycle

    async def visible(name: str) -> bool:
        return await ecr.access.allowed(principal, "ecr:DescribeRepositories", name)

    return {
        "CreateRepository": repos.create,
        "DescribeRepositories": lambda p: repos.describe(
            p, visible, lambda name: ecr.access.require(principal, "ecr:DescribeRepositories", name)),
        "DeleteRepository": repos.delete,
        "PutImageTagMutability": repos.put_mutability,
        "PutImageScanningConfiguration": repos.put_scanning,
        "TagResource": repos.tag,
        "UntagResource": repos.untag,
        "ListTagsForResource": repos.list_tags,
        "SetRepositoryPolicy": repos.set_policy,
        "GetRepositoryPolicy": repos.get_policy,
        "DeleteRepositoryPolicy": lambda p: repos.get_policy(p, delete=True),
        "CreateRepositoryCreationTemplate": repos.create_template,
        "DescribeRepositoryCreationTemplates": repos.describe_templates,
        "UpdateRepositoryCreationTemplate": repos.update_template,
        "DeleteRepositoryCreationTemplate": repos.delete_template,
        "ListImages": images.list,
        "DescribeImages": images.describe,
        "BatchGetImage": images.batch_get,
        "BatchDeleteImage": images.batch_delete,
        "PutImage": images.put,
        "ListImageReferrers": images.referrers,
        "BatchCheckLayerAvailability": layers.check,
        "InitiateLayerUpload": layers.initiate,
        "UploadLayerPart": layers.upload_part,
        "CompleteLayerUpload": layers.complete,
        "GetDownloadUrlForLayer": layers.download_url,
        "PutLifecyclePolicy": lifecycle.put_policy,
        "GetLifecyclePolicy": lifecycle.get_policy,
        "DeleteLifecyclePolicy": lambda p: lifecycle.get_policy(p, delete=True),
        "StartLifecyclePolicyPreview": lifecycle.start_preview,
        "GetLifecyclePolicyPreview": lifecycle.get_preview,
        "UpdateImageStorageClass": lifecycle.update_storage_class,
        "GetAuthorizationToken": lambda p: _authorization_token(ecr, principal, p),
        "DescribeRegistry": lambda p: _describe_registry(ecr),
        "PutRegistryPolicy": lambda p: _registry_policy(ecr, p, "put"),
        "GetRegistryPolicy": lambda p: _registry_policy(ecr, p, "get"),
        "DeleteRegistryPolicy": lambda p: _registry_policy(ecr, p, "delete"),
    }


async def _describe_registry(ecr: EcrServices) -> dict:
    return {"registryId": ecr.registry.account, "replicationConfiguration": {"rules": []}}


async def _authenticate(request: web.Request, ecr: EcrServices, operation: str) -> tuple[Principal, bytes]:
    """The caller and the request body. Everything the headers can prove is checked before a
    byte of the body is read (form, clock, scope, an active key): an unauthenticated client
    costs a few KiB at most. The body is then hashed as it arrives, within its operation's
    limit and the worker's memory budget, and the signature checked over it."""
    signed = sigv4.parse_authorization(request.headers)
    sigv4.check_clock(signed.timestamp)
    if signed.service != "ecr":
        raise sigv4.SignatureError("InvalidSignatureException", "Credential should be scoped to correct service: 'ecr'.")
    if signed.region != ecr.registry.region:
        raise sigv4.SignatureError("InvalidSignatureException", f"Credential should be scoped to a valid region, "
                                   f"not '{signed.region}'. ")
    principal, secret = await ecr.identities.lookup(signed.key_id)
    if principal is None:
        raise sigv4.SignatureError("UnrecognizedClientException", "The security token included in the request is invalid.")
    hasher = hashlib.sha256()
    body = await read_body(request, BODY_LIMITS.get(operation, DEFAULT_BODY_LIMIT), hasher)
    url = f"{request.scheme}://{request.host}{request.raw_path}"
    sigv4.verify(signed, secret, request.method, url, request.headers, hasher.hexdigest())
    return principal, body


def _parse(body: bytes) -> dict:
    try:
        params = json.loads(body or b"{}")
    except (ValueError, RecursionError):  # RecursionError: JSON nested thousands deep
        raise EcrError("SerializationException", "The request body is not valid JSON") from None
    if not isinstance(params, dict):
        raise EcrError("SerializationException", "The request body must be a JSON object")
    return params


async def handle(request: web.Request) -> web.Response:
    request_id = str(uuid.uuid4())
    ecr = request.app[ECR]
    params: dict = {}
    target = request.headers.get("X-Amz-Target", "")
    operation = target[len(TARGET_PREFIX):] if target.startswith(TARGET_PREFIX) else ""
    try:
        try:
            principal, body = await _authenticate(request, ecr, operation)
        except sigv4.SignatureError as exc:
            raise EcrError(exc.error_type, exc.message, status=403) from None
        if wait := request.app[RATE_LIMITS].check("principal", principal.key_id or ""):
            raise Throttled(f"Rate exceeded for {principal.arn}", wait)
        try:
            model = service_model().operation_model(operation)
        except OperationNotFoundError:
            raise EcrError("UnknownOperationException", f"Unknown operation {target[:200]!r}") from None
        params = _parse(body)
        validate(params, model.input_shape)
        handler = _operations(ecr, principal).get(operation)
        if handler is None:
            raise EcrError("UnsupportedOperationException", f"Kikötő does not support {operation} yet.")
        repository = params.get("repositoryName") or repository_name_from_arn(params.get("resourceArn") or "")
        await ecr.access.require(principal, f"ecr:{operation}", repository)
        started = time.perf_counter()
        result = await handler(params)
        log.debug("%s by %s in %.1f ms", operation, principal.name, (time.perf_counter() - started) * 1000)
        return ecr_response(result, request_id)
    except (KikotoError, EcrError) as failure:
        return ecr_error_response(failure, request_id, ecr.registry.account)
    except Exception as exc:
        if out_of_space(exc):
            log.error("out of storage space in %s: %s", operation, exc)
            return ecr_error_response(storage_full(), request_id, ecr.registry.account)
        log.exception("unhandled error in %s", operation)
        return ecr_error_response(EcrError("ServerException", "internal error; see the server log", 500), request_id,
                                  ecr.registry.account)
