"""Composition root: settings -> stores -> services -> HTTP application."""

from __future__ import annotations

from aiohttp import web

from .config import Settings
from .http.auth import auth_middleware
from .http.errors import error_middleware
from .http.oci.common import BLOBS, MANIFESTS, REPOSITORIES
from .http.oci.routes import add_routes, name_middleware
from .services.blobs import Blobs
from .services.manifests import Manifests
from .services.repositories import Repositories
from .storage.blobs.filesystem import FilesystemBlobStore
from .storage.meta.engine import create_engine, migrate
from .storage.meta.store import MetadataStore

META = web.AppKey("meta", MetadataStore)
SETTINGS = web.AppKey("settings", Settings)


def prepare(settings: Settings) -> None:
    """Blocking start-up work done once, before any worker runs: directories and migrations."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate(settings.database)


def build_app(settings: Settings) -> web.Application:
    meta = MetadataStore(create_engine(settings.database))
    store = FilesystemBlobStore(settings.data_dir)
    repositories = Repositories(meta, create_on_push=settings.create_on_push)

    app = web.Application(middlewares=[error_middleware, name_middleware, auth_middleware])
    app[SETTINGS] = settings
    app[META] = meta
    app[REPOSITORIES] = repositories
    app[BLOBS] = Blobs(meta, store, repositories)
    app[MANIFESTS] = Manifests(meta, repositories, allow_sparse_index=settings.allow_sparse_index)
    add_routes(app)
    if settings.public_host:
        app.on_response_prepare.append(_absolute_locations(f"{settings.scheme}://{settings.public_host}"))
    app.on_cleanup.append(_close(meta))
    return app


def _absolute_locations(base: str):
    """With --public-host, Location headers name the public URL instead of a relative path."""

    async def rewrite(request: web.Request, response: web.StreamResponse) -> None:
        location = response.headers.get("Location")
        if location and location.startswith("/"):
            response.headers["Location"] = base + location

    return rewrite


def _close(meta: MetadataStore):
    async def close(_app: web.Application) -> None:
        await meta.close()

    return close
