"""The /v2/ route table, the version check and the catalog."""

from __future__ import annotations

from aiohttp import web

from ...domain.accounts import key_range
from ...domain.errors import PageSizeInvalid
from ...domain.names import check_repository_name
from ...domain.paging import parse_page_size
from ..auth import ACCOUNT, PRINCIPAL, allowed, authorize, token_endpoint, unauthorized
from ..services import ACCESS, LIFECYCLE
from . import blobs, manifests
from .common import API_VERSION, REPOSITORIES, next_link, paged

NAME = "{name:[^{}]+?}"  # validated by name_middleware with the spec's grammar
CATALOG_BATCH = 500


async def version_check(request: web.Request) -> web.Response:
    """200 for an authenticated caller; otherwise 401 with the challenge that tells clients how to log in."""
    if request[PRINCIPAL] is None:
        raise unauthorized(request, "authentication required")
    return web.json_response({}, headers=API_VERSION)


async def catalog(request: web.Request) -> web.Response:
    """The names the caller may describe: the same decision per repository as a read of it, so
    an explicit Deny on a repository hides it here too."""
    registry = request[ACCOUNT]  # the caller's account's repositories (or the Host's), by key
    await authorize(request, None, "ecr:DescribeRepositories", account=registry.account)
    within = key_range(registry.account, registry.first_account)

    async def visible(limit: int | None, after: str | None) -> list[str]:
        names: list[str] = []
        after = registry.key(after) if after else None
        while limit is None or len(names) < limit:
            batch = await request.app[REPOSITORIES].catalog(CATALOG_BATCH, after, within)
            await request.app[ACCESS].preload(batch)
            for key in batch:
                if await allowed(request, key, "ecr:DescribeRepositories"):
                    names.append(registry.name(key))
            if len(batch) < CATALOG_BATCH:
                break
            after = batch[-1]
        return names if limit is None else names[:limit]

    names, headers = await paged(request, "/v2/_catalog", visible)
    return web.json_response({"repositories": names}, headers=headers)


async def audit_log(request: web.Request) -> web.Response:
    """GET /v2/_kikoto/audit?repository=&limit=&before= : what lifecycle, GC and restores did,
    newest first, paged by event id (a `Link` to the next page when there is one)."""
    await authorize(request, None, "kikoto:ReadAuditLog")
    limit = parse_page_size(request.query.get("limit")) or 100
    raw_before = request.query.get("before") or None
    if raw_before is not None and not (raw_before.isascii() and raw_before.isdigit() and len(raw_before) < 19):
        raise PageSizeInvalid(f"before must be an event id, got {raw_before[:40]!r}")
    before = int(raw_before) if raw_before else None
    repository = request.query.get("repository") or None
    events = await request.app[LIFECYCLE].events(repository, limit + 1, before)
    headers = dict(API_VERSION)
    if len(events) > limit:
        events = events[:limit]
        headers["Link"] = next_link(
            "/v2/_kikoto/audit", {"repository": repository, "limit": limit, "before": events[-1]["id"]}
        )
    return web.json_response({"events": events}, headers=headers)


@web.middleware
async def name_middleware(request: web.Request, handler):
    """Every route with a repository name gets it checked here, once, with the spec's grammar."""
    name = request.match_info.get("name")
    if name is not None:
        check_repository_name(name)
    return await handler(request)


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/v2/", version_check, allow_head=True)
    r.add_get("/v2", version_check, allow_head=True)
    r.add_get("/v2/_catalog", catalog)
    r.add_get("/v2/token", token_endpoint)
    r.add_get("/v2/_kikoto/audit", audit_log)
    r.add_post(f"/v2/{NAME}/blobs/uploads/", blobs.start_upload)
    r.add_post(f"/v2/{NAME}/blobs/uploads", blobs.start_upload)
    upload = f"/v2/{NAME}/blobs/uploads/{{upload}}"
    r.add_get(upload, blobs.upload_status, allow_head=False)
    r.add_patch(upload, blobs.patch_upload)
    r.add_put(upload, blobs.finish_upload)
    r.add_delete(upload, blobs.cancel_upload)
    blob = f"/v2/{NAME}/blobs/{{digest}}"
    r.add_get(blob, blobs.get_blob, allow_head=False)
    r.add_head(blob, blobs.head_blob)
    r.add_delete(blob, blobs.delete_blob)
    manifest = f"/v2/{NAME}/manifests/{{reference}}"
    r.add_get(manifest, manifests.get_manifest)  # allow_head: the handler answers HEAD from metadata
    r.add_put(manifest, manifests.put_manifest)
    r.add_delete(manifest, manifests.delete_manifest)
    r.add_get(f"/v2/{NAME}/tags/list", manifests.list_tags)
    r.add_get(f"/v2/{NAME}/referrers/{{digest}}", manifests.list_referrers)
