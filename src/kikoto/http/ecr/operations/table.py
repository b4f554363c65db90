"""The table of ECR operations and the decorator that fills it (`@operation`, used by one
module per area). Each operation turns a validated request into typed calls of the services and builds the response
document from what they return (services never see or build ECR's wire structures)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from ..context import Call
from ..validation import service_model

Handler = Callable[[Call], Awaitable[dict[str, Any]]]
OPERATIONS: dict[str, Handler] = {}


@dataclass(frozen=True)
class AwsService:
    """An AWS JSON 1.1 service answered on this endpoint, chosen by the X-Amz-Target prefix."""

    name: str  # the SigV4 service name, the model's name and the IAM action prefix
    target_prefix: str
    operations: Mapping[str, Handler]
    errors: Mapping[type, tuple[str, int]]
    # the resource ARN a request is authorised on (None: ECR's, from the repository it names)
    resource: Callable[[dict[str, Any]], str] | None = None


H = TypeVar("H", bound=Callable[..., Awaitable[dict[str, Any]]])


def registrar(service: str, table: dict[str, Any]) -> Callable[[str], Callable[[H], H]]:
    """A decorator registering handlers of `service`'s operations (each checked against botocore's
    model at import) into `table`."""

    def operation(name: str) -> Callable[[H], H]:
        if name not in service_model(service).operation_names:
            raise ValueError(f"{name} is not an operation of the {service} model")

        def register(handler: H) -> H:
            if name in table:
                raise ValueError(f"{name} is registered twice")
            table[name] = handler
            return handler

        return register

    return operation


operation = registrar("ecr", OPERATIONS)


def bound(table: Mapping[str, Callable[[Any, Call], Awaitable[dict[str, Any]]]], service: object) -> dict[str, Handler]:
    """A feature's handlers, which take its service first, bound to it: plain handlers."""
    return {name: functools.partial(handler, service) for name, handler in table.items()}
