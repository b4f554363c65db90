"""POST / : the ECR API. Authenticate (SigV4), validate against the service model,
authorise (ecr:<Operation> on the repository), dispatch, and answer in AWS JSON 1.1."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import uuid
from typing import Any

from aiohttp import web
from botocore.model import OperationNotFoundError

from ...domain.audit import OK, Change, changes
from ...domain.errors import KikotoError, Throttled, storage_full
from ...services.access import request_facts
from ...services.identity import Principal
from .. import sigv4
from ..errors import out_of_space
from ..limits import RATE_LIMITS, read_body
from ..services import AUDIT
from .accounts import elsewhere, in_words, keyed, registry_for, unkeyed
from .context import ECR, Call, EcrServices

__all__ = ["ECR", "EcrServices", "handle"]
from .errors import ECR_ERRORS, EcrError, as_ecr, ecr_error_response, ecr_response
from .operations import OPERATIONS, AwsService, Handler
from .validation import service_model, validate

log = logging.getLogger("kikoto.ecr")
TARGET_PREFIX = "AmazonEC2ContainerRegistry_V20150921."
# The largest body each operation may send, read only once the signature's key is known to be
# active: an UploadLayerPart carries up to 20 MiB in base64 (28 MiB), a PutImage a manifest of
# up to 4 MiB characters (JSON escapes may double it), every other request a few KiB.
BODY_LIMITS = {"UploadLayerPart": 28 << 20 | 64 << 10, "PutImage": 8 << 20}
DEFAULT_BODY_LIMIT = 1 << 20


AWS_SERVICES = web.AppKey("aws_services", tuple)  # ECR first, then what features add


def aws_services(feature_operations: dict[str, Handler], others: list[AwsService]) -> tuple[AwsService, ...]:
    """The services this endpoint answers: ECR with the core's operations and the features'."""
    clash = OPERATIONS.keys() & feature_operations.keys()
    if clash:
        raise ValueError(f"operations registered twice: {sorted(clash)}")
    return (AwsService("ecr", TARGET_PREFIX, {**OPERATIONS, **feature_operations}, ECR_ERRORS), *others)


async def authenticate(
    request: web.Request,
    ecr: EcrServices,
    operation: str,
    service: str = "ecr",
    regions: tuple[str, ...] | None = None,
) -> tuple[Principal, bytes]:
    """The caller and the request body. Everything the headers can prove is checked before a
    byte of the body is read (form, clock, scope, an active key): an unauthenticated client
    costs a few KiB at most. The body is then hashed as it arrives, within its operation's
    limit and the worker's memory budget, and the signature checked over it."""
    signed = sigv4.parse_authorization(request.headers)
    sigv4.check_clock(signed.timestamp)
    if signed.service != service:
        raise sigv4.SignatureError(
            "InvalidSignatureException", f"Credential should be scoped to correct service: '{service}'."
        )
    if signed.region not in (regions or (ecr.registry.region,)):
        raise sigv4.SignatureError(
            "InvalidSignatureException", f"Credential should be scoped to a valid region, not '{signed.region}'. "
        )
    principal, secret = await ecr.identities.lookup(signed.key_id)
    if principal is None:
        if await ecr.identities.session_expired(signed.key_id):  # as AWS answers a lapsed session
            raise sigv4.SignatureError("ExpiredTokenException", "The security token included in the request is expired")
        raise sigv4.SignatureError(
            "UnrecognizedClientException", "The security token included in the request is invalid."
        )
    if principal.session_token_hash is not None:  # an assumed role's key goes with its session token
        token = request.headers.get("X-Amz-Security-Token", "")
        if not hmac.compare_digest(hashlib.sha256(token.encode()).hexdigest(), principal.session_token_hash):
            raise sigv4.SignatureError(
                "UnrecognizedClientException", "The security token included in the request is invalid."
            )
    hasher = hashlib.sha256()
    body = await read_body(request, BODY_LIMITS.get(operation, DEFAULT_BODY_LIMIT), hasher)
    url = f"{request.scheme}://{request.host}{request.raw_path}"
    sigv4.verify(signed, secret, request.method, url, request.headers, hasher.hexdigest())
    return principal, body


def _parse(body: bytes) -> dict[str, Any]:
    try:
        params = json.loads(body or b"{}")
    except (ValueError, RecursionError):  # RecursionError: JSON nested thousands deep
        raise EcrError("SerializationException", "The request body is not valid JSON") from None
    if not isinstance(params, dict):
        raise EcrError("SerializationException", "The request body must be a JSON object")
    return params


async def _audit(
    request: web.Request, principal: Principal, operation: str, params: dict[str, Any], result: Any, outcome: str
) -> None:
    """Record a change (not a read) in the audit log, one entry per image it touched."""
    if not operation or not changes(operation):
        return
    touched: list[dict[str, Any]] = [params.get("imageId") or {}]
    if isinstance(result, dict) and operation == "PutImage":
        touched = [result["image"]["imageId"]]
    elif isinstance(result, dict) and operation == "BatchDeleteImage":
        touched = result.get("imageIds") or [{}]
    elif operation == "PutImage":
        touched = [{"imageTag": params.get("imageTag"), "imageDigest": params.get("imageDigest")}]
    await request.app[AUDIT].record(
        *(
            Change(
                principal.arn,
                operation,
                request.remote or "",
                outcome,
                params.get("repositoryName"),
                image.get("imageDigest"),
                image.get("imageTag"),
            )
            for image in touched
        )
    )


async def invoke(app: web.Application, principal: Principal, operation: str, params: dict[str, Any]) -> Any:
    """An ECR operation for another face acting for a signed-in principal (the console's settings
    forms): the API's model validation, authorisation and handler, so a form gets exactly the
    API's checks and messages. Raises what the API would answer (`refusal` words it)."""
    ecr, service = app[ECR], app[AWS_SERVICES][0]
    validate(params, service_model(service.name).operation_model(operation).input_shape)
    registry = ecr.registry.of(principal.account or ecr.registry.account)
    repository = keyed(registry, params)
    await ecr.access.require(principal, f"{service.name}:{operation}", repository, None, registry.account)
    return await service.operations[operation](Call(ecr, principal, params, registry))


def refusal(app: web.Application, failure: KikotoError | EcrError) -> tuple[str, str]:
    """(ECR's error type, its message) for a failure `invoke` raised."""
    body, _, _ = as_ecr(failure, app[ECR].registry.account, app[AWS_SERVICES][0].errors)
    return body.get("__type", ""), body.get("message", "")


async def handle(request: web.Request) -> web.Response:
    request_id = str(uuid.uuid4())
    ecr = request.app[ECR]
    params: dict[str, Any] = {}
    target = request.headers.get("X-Amz-Target", "")
    services = request.app[AWS_SERVICES]
    service = next((s for s in services[1:] if target.startswith(s.target_prefix)), services[0])
    operation = target[len(service.target_prefix) :] if target.startswith(service.target_prefix) else ""
    principal: Principal | None = None
    registry = ecr.registry
    try:
        try:
            principal, body = await authenticate(request, ecr, operation, service.name)
        except sigv4.SignatureError as exc:
            raise EcrError(exc.error_type, exc.message, status=403) from None
        if wait := request.app[RATE_LIMITS].check("principal", principal.key_id or ""):
            raise Throttled(f"Rate exceeded for {principal.arn}", wait)
        try:
            model = service_model(service.name).operation_model(operation)
        except OperationNotFoundError:
            raise EcrError("UnknownOperationException", f"Unknown operation {target[:200]!r}") from None
        params = _parse(body)
        validate(params, model.input_shape)
        handler = service.operations.get(operation)
        if handler is None:
            unsupported = "UnsupportedOperationException" if service.resource is None else "InvalidRequestException"
            raise EcrError(unsupported, f"Kikötő does not support {operation} yet.")
        if (facts := request_facts()) is not None and isinstance(params.get("tags"), list):
            facts.request_tags = {
                t["Key"]: t.get("Value", "") for t in params["tags"] if isinstance(t, dict) and "Key" in t
            }
        repository, resource = None, None
        if service.resource is None:
            registry = registry_for(request, ecr.registry, principal, operation, params)
            repository = keyed(registry, params)
        else:
            resource = service.resource(params)
        await ecr.access.require(principal, f"{service.name}:{operation}", repository, resource, registry.account)
        canned = elsewhere(registry, operation, set(model.input_shape.members)) if service.resource is None else None
        started = time.perf_counter()
        result = canned or unkeyed(registry, await handler(Call(ecr, principal, params, registry)))
        log.debug("%s by %s in %.1f ms", operation, principal.name, (time.perf_counter() - started) * 1000)
        await _audit(request, principal, operation, params, result, OK)
        return ecr_response(result, request_id)
    except (KikotoError, EcrError) as failure:
        failure = in_words(registry, failure, params)
        answer = ecr_error_response(failure, request_id, registry.account, service.errors)
        if principal is not None:  # an unauthenticated caller's noise is not a change anyone made
            await _audit(request, principal, operation, params, None, json.loads(answer.text or "{}").get("__type", ""))
        return answer
    except Exception as exc:
        if out_of_space(exc):
            log.error("out of storage space in %s: %s", operation, exc)
            return ecr_error_response(storage_full(), request_id, ecr.registry.account)
        log.exception("unhandled error in %s", operation)
        return ecr_error_response(
            EcrError("ServerException", "internal error; see the server log", 500), request_id, ecr.registry.account
        )
