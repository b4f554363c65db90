"""What an ECR operation is called with: the services, the caller and the validated request."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ...services.access import Access
from ...services.blobs.layers import Layers
from ...services.identity import Identities, Principal
from ...services.images.listing import Images
from ...services.lifecycle import Lifecycle
from ...services.registry import RegistryIdentity
from ...services.registry_settings import RegistrySettings
from ...services.repositories.admin import RepositoryAdmin


@dataclass
class EcrServices:
    registry: RegistryIdentity
    identities: Identities
    access: Access
    repositories: RepositoryAdmin
    images: Images
    layers: Layers
    lifecycle: Lifecycle
    settings: RegistrySettings
    # an image's scan, for DescribeImages: (repository id, digests) -> {digest: scan}, from a feature
    scans: Callable[[int, list[str]], Awaitable[dict[str, Any]]]


ECR = web.AppKey("ecr", EcrServices)


@dataclass(frozen=True)
class Call:
    ecr: EcrServices
    principal: Principal
    params: dict[str, Any]  # repository names in them are keys (domain/accounts.py)
    registry: RegistryIdentity  # the account the request is for

    def of_registry(self, **members: Any) -> dict[str, Any]:
        """An answer about this registry: its members after ECR's `registryId`."""
        return {"registryId": self.registry.account, **members}
