"""The core's ECR operations, one module per area; each registers its handlers in
table.OPERATIONS with `@operation` when imported here. Features add theirs at composition."""

from __future__ import annotations

from . import images, layers, registry, repositories  # noqa: F401
from .table import OPERATIONS, AwsService, Handler, bound, operation, registrar

__all__ = ["OPERATIONS", "AwsService", "Handler", "bound", "operation", "registrar"]
