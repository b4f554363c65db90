"""Every ECR answer the tests receive is checked against botocore's model: a success against the
operation's output shape (no member the model lacks, every value of its type and enum), an
error against the errors the operation declares (plus the ones every AWS JSON API may send)."""

from __future__ import annotations

import json

from kikoto.http.ecr.validation import service_model

# Errors of the protocol and of authentication, which no operation lists but every one may send.
COMMON_ERRORS = {
    "AccessDeniedException",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "IncompleteSignatureException",
    "MissingAuthenticationTokenException",
    "ThrottlingException",
    "SerializationException",
    "UnknownOperationException",
    "RequestEntityTooLargeException",
    "RequestTimeoutException",
    "UnsupportedOperationException",
    "ValidationException",
    "ServerException",
    "InvalidParameterException",
}


class ShapeViolation(AssertionError):
    pass


def check_value(value, shape, path: str) -> None:
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            raise ShapeViolation(f"{path}: expected an object, got {value!r:.80}")
        for name, member in value.items():
            if name not in shape.members:
                raise ShapeViolation(f"{path}: {name!r} is not a member of {shape.name}")
            check_value(member, shape.members[name], f"{path}.{name}")
    elif kind == "list":
        if not isinstance(value, list):
            raise ShapeViolation(f"{path}: expected a list")
        for i, item in enumerate(value):
            check_value(item, shape.member, f"{path}[{i}]")
    elif kind == "map":
        if not isinstance(value, dict):
            raise ShapeViolation(f"{path}: expected a map")
        for key, item in value.items():
            check_value(item, shape.value, f"{path}.{key}")
    elif kind == "string":
        if not isinstance(value, str):
            raise ShapeViolation(f"{path}: expected a string, got {value!r:.80}")
        if shape.enum and value not in shape.enum:
            raise ShapeViolation(f"{path}: {value!r} is not one of {shape.enum}")
    elif kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ShapeViolation(f"{path}: expected an integer, got {value!r}")
    elif kind in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ShapeViolation(f"{path}: expected a number")
    elif kind == "boolean":
        if not isinstance(value, bool):
            raise ShapeViolation(f"{path}: expected a boolean")
    elif kind == "timestamp":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ShapeViolation(f"{path}: expected epoch seconds")
    elif kind == "blob":
        if not isinstance(value, str):
            raise ShapeViolation(f"{path}: expected base64 text")


def check_response(operation: str, status: int, body: bytes) -> None:
    model = service_model().operation_model(operation)
    document = json.loads(body or b"{}")
    if status >= 400:
        declared = {shape.name for shape in model.error_shapes} | COMMON_ERRORS
        if document.get("__type") not in declared:
            raise ShapeViolation(f"{operation} answered {document.get('__type')!r}, which it does not declare")
        if not isinstance(document.get("message"), str):
            raise ShapeViolation(f"{operation}: an error without a message")
        return
    if model.output_shape is not None:
        check_value(document, model.output_shape, operation)


def validate_every_response(client) -> None:
    """Hook the check into a boto3 ECR client: every call it makes is checked."""

    def after_call(http_response, model, **_kwargs):
        check_response(model.name, http_response.status_code, http_response.content)

    client.meta.events.register("after-call.ecr", after_call)
