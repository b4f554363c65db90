"""The core, built once from the settings: stores, then one service per concept. Features and
faces receive it whole (`Core`); nothing here knows of a feature."""

from __future__ import annotations

import os
import socket
import uuid

from .config import Settings
from .features import Core
from .services.access import Access
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
from .storage.meta.audit import AuditStore
from .storage.meta.ecr import EcrStore
from .storage.meta.engine import create_engine
from .storage.meta.housekeeping import HousekeepingStore
from .storage.meta.leases import LeaseStore
from .storage.meta.lifecycle import LifecycleStore
from .storage.meta.outbox import OutboxStore
from .storage.meta.store import MetadataStore
from .storage.meta.usage import UsageStore


def build_core(settings: Settings) -> Core:
    engine, changes = create_engine(settings.database), ChangeCounter(settings.data_dir / "changes")
    max_age = cache_max_age(settings)

    def cache() -> VersionedCache:
        return VersionedCache(changes, max_age)

    meta, ecr_store = MetadataStore(engine, changes=changes), EcrStore(engine, changes=changes)
    blob_store = open_blob_store(settings)
    identities = identities_for(settings, engine, changes)
    lifecycles, housekeeping = LifecycleStore(meta), HousekeepingStore(meta)
    usage, audit = UsageStore(engine, changes=changes), AuditStore(engine, changes=changes)
    keys = identities.key_material
    registry = RegistryIdentity(settings.account_id, settings.region, settings.public, settings.scheme)
    access = Access(ecr_store, settings.account_id, settings.region, cache(), decisions=cache())
    admin = RepositoryAdmin(ecr_store, access, registry, keys.tokens)
    repositories = Repositories(meta, settings.create_on_push, admin.create_from_template, cache=cache())
    blobs = Blobs(meta, blob_store, repositories, cache=cache(), min_free_space=settings.min_free_space)
    manifests = Manifests(meta, repositories, allow_sparse_index=settings.allow_sparse_index, cache=cache())
    lifecycle = Lifecycle(
        meta, ecr_store, lifecycles, housekeeping, usage, audit, blob_store, registry.account, token_key=keys.tokens
    )
    return Core(
        settings=settings,
        keys=keys,
        engine=engine,
        changes=changes,
        holder=f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}",
        meta=meta,
        ecr_store=ecr_store,
        leases=LeaseStore(engine, changes=changes),
        lifecycle_store=lifecycles,
        housekeeping=housekeeping,
        usage=usage,
        audit=audit,
        outbox=OutboxStore(engine, changes=changes),
        blob_store=blob_store,
        registry=registry,
        identities=identities,
        access=access,
        repositories=repositories,
        admin=admin,
        blobs=blobs,
        manifests=manifests,
        attachments=Attachments(blobs, manifests),
        images=Images(ecr_store, meta, manifests, admin, registry, keys.tokens),
        layers=Layers(blobs, ecr_store, admin, registry, keys.urls),
        lifecycle=lifecycle,
        registry_settings=RegistrySettings(ecr_store, cache(), keys.tokens),
        gc=GarbageCollector(
            meta, housekeeping, usage, audit, blob_store, settings.gc_grace_period, settings.upload_ttl
        ),
        fsck=Fsck(housekeeping, blob_store, settings.gc_grace_period),
        max_age=max_age,
    )
