"""The console's routes."""

from __future__ import annotations

from aiohttp import web

from .actions import (
    create_repository,
    delete_image,
    delete_repository,
    key_action,
    language,
    put_mutability,
    put_policy,
    sign_in,
    sign_out,
)
from .history import history, restore
from .lifecycle import lifecycle, preview_draft, save
from .pages import audit, keys, repositories, repository, storage
from .settings import change, settings
from .simulate import simulate


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/console/sign-in", sign_in)
    router.add_post("/console/sign-out", sign_out)
    router.add_get("/console/lang/{code}", language)
    router.add_get("/console/repositories", repositories)
    router.add_post("/console/repositories", create_repository)
    router.add_post("/console/repositories/delete", delete_repository)
    router.add_get("/console/repository", repository)
    router.add_post("/console/repository/delete-image", delete_image)
    router.add_post("/console/repository/mutability", put_mutability)
    router.add_post("/console/repository/policy", put_policy)
    router.add_get("/console/lifecycle", lifecycle)
    router.add_post("/console/lifecycle", save)
    router.add_post("/console/lifecycle/preview", preview_draft)
    router.add_get("/console/storage", storage)
    router.add_get("/console/audit", audit)
    router.add_get("/console/history", history)
    router.add_post("/console/history/restore", restore)
    router.add_get("/console/keys", keys)
    router.add_post("/console/keys/{action:create|rotate|revoke}", key_action)
    router.add_get("/console/settings", settings)
    router.add_get("/console/simulate", simulate)
    router.add_post("/console/settings/{operation}", change)
