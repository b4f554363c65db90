"""Every ECR operation Kikötő answers, one module per area; each registers its handlers in
table.OPERATIONS with `@operation` when imported here."""

from __future__ import annotations

from . import images, layers, pull_through, registry, replication, repositories, scanning  # noqa: F401
from .table import OPERATIONS, Handler, operation, registrar

__all__ = ["OPERATIONS", "Handler", "operation", "registrar"]
