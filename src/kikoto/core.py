"""The core, built once from the settings: stores, then one service per concept. Features and
faces receive it whole (`Core`); nothing here knows of a feature."""

from __future__ import annotations

import os
import socket
import uuid

from sqlalchemy.ext.asyncio import AsyncEngine

from .config import Settings
from .features import Core
from .services.access import Access
from .services.accounts import Accounts
from .services.audit import AuditLog
from .services.blobs.layers import Layers
from .services.blobs.service import Blobs
from .services.fsck import Fsck
from .services.gc import GarbageCollector
from .services.images.attachments import Attachments
from .services.images.listing import Images
from .services.images.manifests import Manifests
from .services.lifecycle import Lifecycle
from .services.registry import RegistryIdentity
from .services.registry_settings import RegistrySettings
from .services.repositories.admin import RepositoryAdmin
from .services.repositories.lookup import Repositories
from .startup import cache_max_age, identities_for, open_blob_store
from .storage.changes import ChangeCounter, VersionedCache
from .storage.meta.accounts import SqlAccountStore
from .storage.meta.audit import SqlAuditStore
from .storage.meta.blobs import SqlBlobIndexStore
from .storage.meta.documents import SqlDocumentStore
from .storage.meta.engine import create_engine
from .storage.meta.housekeeping import SqlHousekeepingStore
from .storage.meta.images import SqlImageStore
from .storage.meta.inline import InlineEngine
from .storage.meta.leases import SqlLeaseStore
from .storage.meta.lifecycle import SqlLifecycleStore
from .storage.meta.manifests import SqlManifestStore
from .storage.meta.outbox import SqlOutboxStore
from .storage.meta.ports import Stores
from .storage.meta.repositories import SqlRepositoryStore
from .storage.meta.uploads import SqlUploadStore
from .storage.meta.usage import SqlUsageStore


def open_stores(engine: AsyncEngine | InlineEngine, changes: ChangeCounter) -> Stores:
    """One store per aggregate, all on the one engine (mypy checks each against its port)."""
    return Stores(
        repositories=SqlRepositoryStore(engine, changes=changes),
        manifests=SqlManifestStore(engine, changes=changes),
        images=SqlImageStore(engine, changes=changes),
        blobs=SqlBlobIndexStore(engine, changes=changes),
        uploads=SqlUploadStore(engine, changes=changes),
        documents=SqlDocumentStore(engine, changes=changes),
        leases=SqlLeaseStore(engine, changes=changes),
        lifecycle=SqlLifecycleStore(engine, changes=changes),
        housekeeping=SqlHousekeepingStore(engine, changes=changes),
        usage=SqlUsageStore(engine, changes=changes),
        audit=SqlAuditStore(engine, changes=changes),
        outbox=SqlOutboxStore(engine, changes=changes),
        accounts=SqlAccountStore(engine, changes=changes),
    )


def build_core(settings: Settings) -> Core:
    engine, changes = create_engine(settings.database), ChangeCounter(settings.data_dir / "changes")
    max_age = cache_max_age(settings)

    def cache() -> VersionedCache:
        return VersionedCache(changes, max_age)

    stores, blob_store = open_stores(engine, changes), open_blob_store(settings)
    identities = identities_for(settings, engine, changes)
    keys = identities.key_material
    registry = RegistryIdentity(
        settings.account_id,
        settings.region,
        settings.public,
        settings.scheme,
        first=settings.account_id,
        domain=settings.registry_domain,
    )
    registry_settings = RegistrySettings(stores.documents, cache(), keys.tokens, first=settings.account_id)
    access = Access(
        stores.repositories,
        settings.account_id,
        settings.region,
        cache(),
        decisions=cache(),
        registry_policy=registry_settings.registry_policy,
    )
    admin = RepositoryAdmin(stores.repositories, stores.images, stores.documents, access, registry, keys.tokens)
    repositories = Repositories(stores.repositories, settings.create_on_push, admin.create_from_template, cache=cache())
    blobs = Blobs(
        stores.blobs, stores.uploads, blob_store, repositories, cache=cache(), min_free_space=settings.min_free_space
    )
    manifests = Manifests(stores.manifests, repositories, allow_sparse_index=settings.allow_sparse_index, cache=cache())
    return Core(
        settings=settings,
        keys=keys,
        engine=engine,
        changes=changes,
        holder=f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}",
        stores=stores,
        blob_store=blob_store,
        registry=registry,
        identities=identities,
        access=access,
        repositories=repositories,
        admin=admin,
        blobs=blobs,
        manifests=manifests,
        attachments=Attachments(blobs, manifests),
        images=Images(stores, manifests, admin, registry, keys.tokens),
        layers=Layers(blobs, stores.images, admin, registry, keys.urls),
        lifecycle=Lifecycle(stores, blob_store, registry.account, token_key=keys.tokens),
        audit=AuditLog(stores.audit),
        registry_settings=registry_settings,
        gc=GarbageCollector(stores, blob_store, settings.gc_grace_period, settings.upload_ttl),
        fsck=Fsck(stores.housekeeping, blob_store, settings.gc_grace_period),
        accounts=Accounts(stores.accounts, settings.account_id),
        max_age=max_age,
    )
