"""Composition root: settings -> the core -> the features, each wrapping and adding to it -> the
HTTP application (or the admin commands, which share `compose`)."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .config import Settings
from .core import build_core
from .features import Core, Feature, events, pull_through, replication, scanning, signing
from .http import console
from .http.auth import AUTH_CHALLENGE, auth_middleware
from .http.ecr.api import AWS_SERVICES, aws_services
from .http.ecr.api import handle as ecr_api
from .http.ecr.context import ECR, EcrServices
from .http.errors import error_middleware
from .http.facts import PUBLIC_HTTPS, TRUSTED, networks
from .http.iam import POLICIES, ROLES, USERS
from .http.iam import handle as iam_api
from .http.limits import BODY_IDLE, BUDGET, RATE_LIMITS, BodyBudget, RateLimits
from .http.metrics import healthz, metrics_handler, readyz_handler
from .http.oci.common import BLOBS, MANIFESTS, READS, REPOSITORIES
from .http.oci.routes import add_routes, name_middleware
from .http.rates import address_rate_middleware
from .http.services import (
    ACCESS,
    ADMIN,
    AUDIT,
    IDENTITIES,
    IMAGES,
    LAYERS,
    LIFECYCLE,
    REGISTRY,
    REGISTRY_SETTINGS,
    SCANS,
)
from .jobs.outbox import OutboxWorker
from .jobs.scheduler import Scheduler
from .remote.oidc import Issuers
from .services.images.reads import Reads
from .services.policies import Policies
from .services.sts import Roles
from .services.users import Users
from .startup import StartupError, prepare
from .storage.meta.listen import listen_for_changes

__all__ = ["FEATURES", "Registry", "StartupError", "build_app", "compose", "prepare"]
FEATURES = (pull_through, replication, events, scanning, signing)  # each package's feature(core) wires it in
SERVICES = web.AppKey("services", object)


@dataclass
class Registry:
    """The core and the features, wired once; the HTTP app and the admin commands share it."""

    core: Core
    features: dict[str, Feature]
    reads: Reads  # the core's reads, wrapped by the features
    ecr: EcrServices

    def __getattr__(self, name: str) -> Any:  # registry.stores, registry.gc, ...: the core's
        return getattr(self.core, name)

    async def close(self) -> None:
        for feature in self.features.values():
            for close in feature.closers:
                await close()
        await self.core.engine.dispose()


def compose(settings: Settings) -> Registry:
    core = build_core(settings)
    features = {f.name: f for f in (package.feature(core) for package in FEATURES)}
    reads = Reads(core.manifests, core.blobs)
    for feature in features.values():
        if feature.wraps_reads:
            reads = feature.wraps_reads(reads)
        core.manifests.pushed_listeners.extend(feature.on_push)
    scans = [f.image_scans for f in features.values() if f.image_scans]
    ecr = EcrServices(
        registry=core.registry,
        identities=core.identities,
        access=core.access,
        repositories=core.admin,
        images=core.images,
        layers=core.layers,
        lifecycle=core.lifecycle,
        settings=core.registry_settings,
        scans=scans[0] if scans else _no_scans,
    )
    return Registry(core, features, reads, ecr)


async def aws_api(request: web.Request) -> web.StreamResponse:
    """POST /: the JSON services name their operation in X-Amz-Target (ECR, Secrets Manager);
    the query protocol's (IAM) names it in its form."""
    return await (ecr_api(request) if "X-Amz-Target" in request.headers else iam_api(request))


async def _no_scans(_repo_id: int, _digests: list[str]) -> dict[str, Any]:
    return {}


def build_app(settings: Settings, background_jobs: bool = True) -> web.Application:
    registry = compose(settings)
    features, core = list(registry.features.values()), registry.core
    # Per-address rate limiting is a middleware only when configured: each layer costs every request.
    limited = [address_rate_middleware] if settings.rate_limit_per_address else []
    app = web.Application(middlewares=[error_middleware, *limited, name_middleware, auth_middleware])
    app[TRUSTED], app[PUBLIC_HTTPS] = networks(settings.trusted_proxies), settings.scheme == "https"
    app[BUDGET] = BodyBudget(settings.request_memory_limit)
    app[BODY_IDLE] = settings.body_idle_timeout
    app[RATE_LIMITS] = RateLimits(
        settings.rate_limit_per_principal, settings.rate_limit_per_address, settings.rate_limit_burst
    )
    app[SERVICES], app[READS], app[ECR] = registry, registry.reads, registry.ecr
    app[IDENTITIES], app[ACCESS], app[REGISTRY], app[ADMIN] = core.identities, core.access, core.registry, core.admin
    app[IMAGES], app[LAYERS], app[LIFECYCLE], app[AUDIT] = core.images, core.layers, core.lifecycle, core.audit
    app[REGISTRY_SETTINGS], app[SCANS] = core.registry_settings, registry.ecr.scans
    app[REPOSITORIES], app[BLOBS], app[MANIFESTS] = core.repositories, core.blobs, core.manifests
    operations = {name: handler for f in features for name, handler in f.operations.items()}
    app[AWS_SERVICES] = aws_services(operations, [service for f in features for service in f.aws_services])
    app[AUTH_CHALLENGE] = settings.auth_challenge
    app[USERS] = Users(core.identities)
    issuers = Issuers(insecure=settings.oidc_insecure_issuers, offline=settings.oidc_jwks_dir)
    app[ROLES] = Roles(core.identities, issuers)
    app[POLICIES] = Policies(core.identities.store, settings.account_id)
    app.router.add_post("/", aws_api)
    counters = [counter for f in features for counter in f.counters]
    app.router.add_get("/metrics", metrics_handler(core.stores.usage, settings.public_metrics, counters))
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz_handler(core.stores.repositories, core.blob_store.probe))
    add_routes(app)
    sections = tuple(section for f in features for section in f.settings_sections)
    console.setup(app, core.keys, sections, [page for f in features for page in f.console_pages])
    if settings.public_host:
        app.on_response_prepare.append(_absolute_locations(f"{settings.scheme}://{settings.public_host}"))
    if background_jobs:
        periodic = [job for f in features for job in f.periodic]
        scheduler = Scheduler(
            core.stores.leases,
            core.lifecycle,
            core.gc,
            settings.lifecycle_interval,
            settings.gc_interval,
            periodic=periodic,
        )
        app.cleanup_ctx.append(_background(scheduler.run_forever))
        if settings.outbox_interval > 0:
            loops = [loop for f in features for loop in f.outbox_loops]
            app.cleanup_ctx.append(_background(OutboxWorker(loops, settings.outbox_interval).run_forever))
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


def _change_listener(registry: Registry):
    async def run(_app: web.Application):
        stop = asyncio.Event()
        task = asyncio.ensure_future(listen_for_changes(registry.core.settings.database, registry.core.changes, stop))
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
