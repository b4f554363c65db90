"""The table of ECR operations and the decorator that fills it (`@operation`, used by one
module per area). Each operation turns a validated request into typed calls of the services and builds the response
document from what they return (services never see or build ECR's wire structures)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ..context import Call
from ..validation import service_model

Handler = Callable[[Call], Awaitable[dict]]
OPERATIONS: dict[str, Handler] = {}


def registrar(service: str, table: dict[str, Handler]):
    """A decorator registering handlers of `service`'s operations (each checked against botocore's
    model at import) into `table`."""

    def operation(name: str):
        if name not in service_model(service).operation_names:
            raise ValueError(f"{name} is not an operation of the {service} model")

        def register(handler: Handler) -> Handler:
            if name in table:
                raise ValueError(f"{name} is registered twice")
            table[name] = handler
            return handler

        return register

    return operation


operation = registrar("ecr", OPERATIONS)
