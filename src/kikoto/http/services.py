"""The services the faces read, one application key each. The composition root sets them; a face
takes the ones it uses (the ECR face keeps its own record, `ecr.context.EcrServices`), so no
face reaches the others' services through a shared bag."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from ..services.access import Access
from ..services.audit import AuditLog
from ..services.blobs.layers import Layers
from ..services.identity import Identities
from ..services.images.listing import Images
from ..services.lifecycle import Lifecycle
from ..services.registry import RegistryIdentity
from ..services.registry_settings import RegistrySettings
from ..services.repositories.admin import RepositoryAdmin

IDENTITIES = web.AppKey("identities", Identities)
ACCESS = web.AppKey("access", Access)
REGISTRY = web.AppKey("registry", RegistryIdentity)
ADMIN = web.AppKey("repository_admin", RepositoryAdmin)
IMAGES = web.AppKey("images", Images)
LAYERS = web.AppKey("layers", Layers)
LIFECYCLE = web.AppKey("lifecycle", Lifecycle)
AUDIT = web.AppKey("audit", AuditLog)
REGISTRY_SETTINGS = web.AppKey("registry_settings", RegistrySettings)
# an image's scan: (repository id, digests) -> {digest: scan}, from the scanning feature if present
ScanSummaries = Callable[[int, list[str]], Awaitable[dict[str, Any]]]
SCANS: web.AppKey[ScanSummaries] = web.AppKey("scans")
