"""Composition root: settings -> stores -> services -> HTTP application (or CLI commands)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from .config import Settings
from .features import Core, Feature, Keys, pull_through
from .http import console
from .http.auth import AUTH_CHALLENGE, auth_middleware
from .http.ecr.api import AWS_SERVICES, aws_services
from .http.ecr.api import handle as ecr_api
from .http.ecr.context import ECR, EcrServices
from .http.errors import error_middleware
from .http.limits import BODY_IDLE, BUDGET, RATE_LIMITS, BodyBudget, RateLimits
from .http.metrics import healthz, metrics_handler, readyz_handler
from .http.oci.common import BLOBS, MANIFESTS, READS, REPOSITORIES
from .http.oci.routes import add_routes, name_middleware
from .http.rates import address_rate_middleware
from .jobs.outbox import OutboxWorker
from .jobs.scheduler import Scheduler
from .remote.peer import Peers
from .services.access import Access
from .services.blobs import Blobs
from .services.ecr.common import RegistryIdentity
from .services.ecr.images import Images
from .services.ecr.layers import Layers
from .services.ecr.repositories import RepositoryAdmin
from .services.ecr.settings import RegistrySettings
from .services.events import Events
from .services.fsck import Fsck
from .services.gc import GarbageCollector
from .services.identity import Identities, load_master_key
from .services.lifecycle import Lifecycle
from .services.manifests import Manifests
from .services.reads import Reads
from .services.replication import Replication
from .services.repositories import Repositories
from .services.scanning.scanner import Scanner
from .services.scanning.vulndb import VulnerabilityData
from .services.signing import Signing
from .storage.blobs.filesystem import FilesystemBlobStore
from .storage.blobs.s3 import S3BlobStore
from .storage.changes import ChangeCounter, VersionedCache
from .storage.meta.ecr import EcrStore
from .storage.meta.engine import create_engine, migrate
from .storage.meta.identities import IdentityStore
from .storage.meta.lifecycle import LifecycleStore
from .storage.meta.listen import listen_for_changes
from .storage.meta.outbox import OutboxStore
from .storage.meta.scanning import ScanStore
from .storage.meta.signing import SigningStore
from .storage.meta.store import MetadataStore

FEATURES = (pull_through,)  # the plug-ins: each package's feature(core) wires it in

META = web.AppKey("meta", MetadataStore)
SETTINGS = web.AppKey("settings", Settings)
SERVICES = web.AppKey("services", object)


@dataclass
class Registry:
    """Every service, wired once; the HTTP app and the admin commands share it."""

    settings: Settings
    meta: MetadataStore
    ecr: EcrServices
    repositories: Repositories
    blobs: Blobs
    manifests: Manifests
    lifecycle: Lifecycle
    lifecycle_store: LifecycleStore
    gc: GarbageCollector
    fsck: Fsck
    signing: Signing
    changes: ChangeCounter
    blob_store: object
    replication: Replication
    events: Events
    scanner: Scanner
    reads: Reads
    features: list[Feature]

    async def close(self) -> None:
        for feature in self.features:
            for close in feature.closers:
                await close()
        await self.replication.peers.close()
        await self.meta.close()


class StartupError(Exception):
    """Kikötő cannot start with this configuration or data; the message says why and what to do."""


def prepare(settings: Settings) -> tuple[str, str] | None:
    """Blocking start-up work done once, before any worker runs: directories, migrations, the
    admin principal. Returns the admin key pair when it was just generated (shown once)."""
    private_directory(settings.data_dir)
    migrate(settings.database)
    return asyncio.run(_bootstrap(settings))


def private_directory(path: Path) -> None:
    """The data dir is the registry's alone: 0700, and the files Kikötő keeps at its top (the
    database, its WAL, the master key) 0600, tightening what an older version left wider."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    for child in path.iterdir():
        if child.is_file() and child.stat().st_mode & 0o077:
            child.chmod(0o600)


def identities_for(settings: Settings, engine, changes: ChangeCounter | None = None) -> Identities:
    return Identities(
        IdentityStore(engine, changes=changes),
        load_master_key(settings.master_key, settings.data_dir),
        settings.account_id,
        cache=VersionedCache(changes, cache_max_age(settings)),
    )


def cache_max_age(settings: Settings) -> float:
    """How long a cached read may be trusted without a change signal: on one host the change
    counter tells every process at once; replicas on other hosts only share the database."""
    return 300.0 if settings.database.startswith("sqlite") else 2.0


async def _bootstrap(settings: Settings) -> tuple[str, str] | None:
    engine = create_engine(settings.database)
    try:
        store = IdentityStore(engine)
        if not settings.master_key and not (settings.data_dir / "master.key").exists() and await store.keys():
            raise StartupError(
                f"{settings.data_dir / 'master.key'} is missing, but the database holds secrets "
                f"encrypted with it: restore that file (or set master_key), or the registry "
                f"cannot verify any access key"
            )
        try:
            identities = identities_for(settings, engine)
            identities.check_master_key(await store.keys())
            pair = None
            if settings.admin_access_key_id:
                pair = (settings.admin_access_key_id, settings.admin_secret_access_key)
            return await identities.bootstrap_admin(pair)
        except ValueError as exc:
            raise StartupError(str(exc)) from None
    finally:
        await engine.dispose()


def open_blob_store(settings: Settings):
    if settings.blob_store and settings.blob_store.startswith("s3://"):
        return S3BlobStore(
            settings.blob_store, endpoint_url=settings.s3_endpoint_url, proxy_downloads=settings.s3_proxy_downloads
        )
    if settings.blob_store:
        return FilesystemBlobStore(Path(settings.blob_store.removeprefix("file://")))
    return FilesystemBlobStore(settings.data_dir)


def compose(settings: Settings) -> Registry:
    engine = create_engine(settings.database)
    changes = ChangeCounter(settings.data_dir / "changes")
    max_age = cache_max_age(settings)
    meta = MetadataStore(engine, changes=changes)
    ecr_store = EcrStore(engine, changes=changes)
    blob_store = open_blob_store(settings)
    identities = identities_for(settings, engine, changes)
    registry = RegistryIdentity(settings.account_id, settings.region, settings.public, settings.scheme)
    access = Access(
        ecr_store,
        settings.account_id,
        settings.region,
        VersionedCache(changes, max_age),
        decisions=VersionedCache(changes, max_age),
    )
    token_key = hashlib.sha256(b"kikoto paging tokens\0" + identities.master_key).digest()
    admin = RepositoryAdmin(ecr_store, access, registry, token_key)
    repositories = Repositories(
        meta,
        create_on_push=settings.create_on_push,
        from_template=admin.create_from_template,
        cache=VersionedCache(changes, max_age),
    )
    blobs = Blobs(
        meta, blob_store, repositories, cache=VersionedCache(changes, max_age), min_free_space=settings.min_free_space
    )
    registry_settings = RegistrySettings(ecr_store, VersionedCache(changes, max_age), token_key)
    manifests = Manifests(
        meta, repositories, allow_sparse_index=settings.allow_sparse_index, cache=VersionedCache(changes, max_age)
    )
    lifecycle_store = LifecycleStore(meta)
    signing = Signing(
        SigningStore(engine, changes=changes),
        ecr_store,
        blobs,
        manifests,
        identities.master_key,
        settings.account_id,
        settings.region,
    )
    manifests.pushed_listeners.append(signing.image_pushed)
    url_key = hashlib.sha256(b"kikoto presigned urls\0" + identities.master_key).digest()
    holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    outbox_store = OutboxStore(engine, changes=changes)
    peers = Peers()
    replication = Replication(
        outbox_store,
        ecr_store,
        meta,
        blob_store,
        lifecycle_store,
        peers,
        identities.master_key,
        settings.account_id,
        settings.region,
        holder,
        token_key,
        settings.replication_retry_cap,
    )
    events = Events(
        outbox_store,
        lifecycle_store,
        peers,
        identities.master_key,
        settings.account_id,
        settings.region,
        holder,
        settings.event_max_attempts,
        settings.event_retry_cap,
        settings.event_timeout,
    )
    scan_store = ScanStore(engine, changes=changes)
    scanner = Scanner(
        scan_store,
        VulnerabilityData(scan_store, ecr_store),
        meta,
        ecr_store,
        blob_store,
        blobs,
        manifests,
        outbox_store,
        token_key,
        settings.scan_cyclonedx,
        timeout=settings.scan_timeout,
        max_layer_bytes=settings.scan_max_layer_bytes,
    )
    ecr = EcrServices(
        registry=registry,
        identities=identities,
        access=access,
        repositories=admin,
        images=Images(ecr_store, meta, manifests, admin, registry, token_key),
        layers=Layers(blobs, ecr_store, admin, registry, url_key),
        lifecycle=Lifecycle(meta, ecr_store, lifecycle_store, blob_store, settings.account_id, token_key=token_key),
        settings=registry_settings,
        signing=signing,
        replication=replication,
        scanner=scanner,
    )
    images = ecr.images
    core = Core(
        settings,
        Keys(identities.master_key),
        engine,
        changes,
        holder,
        meta,
        ecr_store,
        lifecycle_store,
        outbox_store,
        blob_store,
        registry,
        access,
        repositories,
        admin,
        blobs,
        manifests,
        images,
        max_age,
    )
    features = [package.feature(core) for package in FEATURES]
    reads = Reads(manifests, blobs)
    for feature in features:
        if feature.wraps_reads:
            reads = feature.wraps_reads(reads)
    gc = GarbageCollector(meta, lifecycle_store, blob_store, settings.gc_grace_period, settings.upload_ttl)
    fsck = Fsck(lifecycle_store, blob_store, settings.gc_grace_period)
    return Registry(
        settings,
        meta,
        ecr,
        repositories,
        blobs,
        manifests,
        ecr.lifecycle,
        lifecycle_store,
        gc,
        fsck,
        signing,
        changes,
        blob_store,
        replication,
        events,
        scanner,
        reads,
        features,
    )


def build_app(settings: Settings, background_jobs: bool = True) -> web.Application:
    registry = compose(settings)
    # Per-address rate limiting is a middleware only when configured: each layer costs every request.
    limited = [address_rate_middleware] if settings.rate_limit_per_address else []
    app = web.Application(middlewares=[error_middleware, *limited, name_middleware, auth_middleware])
    app[SETTINGS] = settings
    app[BUDGET] = BodyBudget(settings.request_memory_limit)
    app[BODY_IDLE] = settings.body_idle_timeout
    app[RATE_LIMITS] = RateLimits(
        settings.rate_limit_per_principal, settings.rate_limit_per_address, settings.rate_limit_burst
    )
    app[SERVICES] = registry
    app[META] = registry.meta
    app[REPOSITORIES] = registry.repositories
    app[BLOBS] = registry.blobs
    app[MANIFESTS] = registry.manifests
    app[READS] = registry.reads
    app[ECR] = registry.ecr
    app[AWS_SERVICES] = aws_services(
        {name: handler for feature in registry.features for name, handler in feature.operations.items()},
        [service for feature in registry.features for service in feature.aws_services],
    )
    app[AUTH_CHALLENGE] = settings.auth_challenge
    app.router.add_post("/", ecr_api)
    app.router.add_get(
        "/metrics",
        metrics_handler(
            registry.lifecycle_store, settings.public_metrics, [c for f in registry.features for c in f.counters]
        ),
    )
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz_handler(registry.meta, registry.blob_store.probe))
    add_routes(app)
    console.setup(
        app,
        registry.ecr.identities.master_key,
        tuple(section for feature in registry.features for section in feature.settings_sections),
    )
    if settings.public_host:
        app.on_response_prepare.append(_absolute_locations(f"{settings.scheme}://{settings.public_host}"))
    if background_jobs:
        app.cleanup_ctx.append(_scheduler(registry))
        if settings.outbox_interval > 0:
            app.cleanup_ctx.append(_outbox_worker(registry))
    if not settings.database.startswith("sqlite"):
        app.cleanup_ctx.append(_change_listener(registry))
    app.on_cleanup.append(_close(registry))
    return app


def _background(start):
    """A cleanup context running `start()`'s coroutine for the application's lifetime."""

    async def run(_app: web.Application):
        task = asyncio.ensure_future(start())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return run


def _scheduler(registry: Registry):
    settings = registry.settings
    scheduler = Scheduler(
        registry.lifecycle_store,
        registry.lifecycle,
        registry.gc,
        settings.lifecycle_interval,
        settings.gc_interval,
        signing=lambda: registry.signing.resume_stale(registry.meta.repository_name),
    )
    return _background(scheduler.run_forever)


def _outbox_worker(registry: Registry):
    worker = OutboxWorker(registry.replication, registry.events, registry.scanner, registry.settings.outbox_interval)
    return _background(worker.run_forever)


def _change_listener(registry: Registry):
    async def run(_app: web.Application):
        stop = asyncio.Event()
        task = asyncio.ensure_future(listen_for_changes(registry.settings.database, registry.changes, stop))
        yield
        stop.set()
        await task

    return run


def _absolute_locations(base: str):
    """With --public-host, Location headers name the public URL instead of a relative path."""

    async def rewrite(request: web.Request, response: web.StreamResponse) -> None:
        location = response.headers.get("Location")
        if location and location.startswith("/"):
            response.headers["Location"] = base + location

    return rewrite


def _close(registry: Registry):
    async def close(_app: web.Application) -> None:
        await registry.close()

    return close
