"""Platform features as plug-ins: each folder here is one feature (its rules, store, service,
background work, face operations and commands), built from the core by its `feature(core)`
and wired in through the one `Feature` record it returns; a feature's `COMMANDS`, if any, join
the `kikoto` command line.

A feature wraps the core (as Distribution's proxy blob store wraps the blob store) and adds to
the faces; the core never imports a feature, and no feature imports another
(tests/unit/test_architecture.py). What a feature may hold of the core is `Core`: typed
services, stores and settings; the master key only inside `Keys` (services/keys.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from ..config import Settings
from ..http.console.common import SettingsSection
from ..http.ecr.operations.table import AwsService, Handler
from ..services.access import Access
from ..services.accounts import Accounts
from ..services.audit import AuditLog
from ..services.blobs.layers import Layers
from ..services.blobs.service import Blobs
from ..services.fsck import Fsck
from ..services.gc import GarbageCollector
from ..services.identity import Identities
from ..services.images.attachments import Attachments
from ..services.images.listing import Images
from ..services.images.manifests import Manifests, PushedManifest
from ..services.images.reads import Reads
from ..services.keys import Keys
from ..services.lifecycle import Lifecycle
from ..services.registry import RegistryIdentity
from ..services.registry_settings import RegistrySettings
from ..services.repositories.admin import RepositoryAdmin
from ..services.repositories.lookup import Repositories
from ..storage.blobs.port import BlobStore
from ..storage.changes import ChangeCounter, VersionedCache
from ..storage.meta.inline import InlineEngine
from ..storage.meta.ports import Stores


@dataclass(frozen=True)
class Core:
    """What the composition root hands every feature."""

    settings: Settings
    keys: Keys
    engine: AsyncEngine | InlineEngine
    changes: ChangeCounter
    holder: str  # this process, in lease rows
    stores: Stores
    blob_store: BlobStore
    registry: RegistryIdentity
    identities: Identities
    access: Access
    repositories: Repositories
    admin: RepositoryAdmin
    blobs: Blobs
    manifests: Manifests
    attachments: Attachments
    images: Images
    layers: Layers
    lifecycle: Lifecycle
    audit: AuditLog
    registry_settings: RegistrySettings
    gc: GarbageCollector
    fsck: Fsck
    accounts: Accounts
    max_age: float  # how long a cached read may be trusted without a change signal

    def cache(self) -> VersionedCache:
        return VersionedCache(self.changes, self.max_age)


@dataclass
class Feature:
    """Everything a feature adds, in one record. Empty fields add nothing."""

    name: str
    service: Any  # the feature's own service, for its commands
    wraps_reads: Callable[[Reads], Reads] | None = None  # the pull path it wraps
    operations: Mapping[str, Handler] = field(default_factory=dict)  # ECR operations it answers
    aws_services: list[AwsService] = field(default_factory=list)  # other AWS APIs on the endpoint
    image_scans: Callable[[int, list[str]], Awaitable[dict[str, Any]]] | None = None  # DescribeImages' scan fields
    settings_sections: list[SettingsSection] = field(default_factory=list)  # on the console
    console_pages: list[tuple[str, Callable[..., Awaitable[Any]]]] = field(default_factory=list)  # GET path, handler
    on_push: list[Callable[[str, PushedManifest], Awaitable[None]]] = field(default_factory=list)  # after a push
    outbox_loops: list[Callable[[], Awaitable[int]]] = field(default_factory=list)  # a pass each: work done
    periodic: list[tuple[str, float, Callable[[], Awaitable[object]]]] = field(default_factory=list)  # leased jobs
    counters: list[tuple[str, str, Counter[str]]] = field(default_factory=list)  # /metrics: name, help, counts
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
