"""The console's pages and actions. Each reads or changes the registry through the same services
as the APIs, authorised with the same ECR action names; a page shows only the controls the
visitor may use, and each action is authorised again when it arrives."""

from __future__ import annotations

import datetime
import json
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web

from ...domain.digests import parse_digest
from ...domain.errors import DigestInvalid, InvalidParameter, RepositoryPolicyNotFound
from ...domain.manifests import kind_of
from ..oci.common import MANIFESTS
from ..services import ADMIN, AUDIT, IDENTITIES, IMAGES, LIFECYCLE, REGISTRY, SCANS
from . import i18n
from .common import Visitor, can, page, render, require, security_headers, visitor
from .formats import Formats

PAGE = 100


def see_other(location: str) -> web.HTTPSeeOther:
    """Where a successful form sends the browser (POST, then redirect, then GET)."""
    return web.HTTPSeeOther(location, headers=security_headers())


SORTS = ("-pushed", "pushed", "-size", "size")  # newest first by default


def position(text: str) -> tuple[float, str] | None:
    """The key a page of images continues after ("<push time or size>|<digest>"), if well formed."""
    value, _, digest = text.rpartition("|")
    try:
        return float(value), str(parse_digest(digest))
    except (ValueError, DigestInvalid):
        return None


def sort_link(name: str, sort: str, column: str) -> dict[str, str]:
    """A sortable column's link (a second click reverses it) and its aria-sort state."""
    current = sort.lstrip("-") == column
    descending = sort.startswith("-")
    target = (column if descending else f"-{column}") if current else f"-{column}"
    state = ("descending" if descending else "ascending") if current else "none"
    return {"url": f"{repo_url(name)}&sort={target}", "state": state}


def repo_url(name: str, view: str = "repository") -> str:
    return f"/console/{view}?name={quote(name, safe='')}"


async def asked(request: web.Request, who: Visitor, action: str):
    """(the posted form, the repository it names), once `action` on that repository is allowed."""
    form = request["form"]
    name = str(form.get("name", ""))
    await require(request, who, action, name)
    return form, name


# -- signing in ----------------------------------------------------------------------------------


async def home(request: web.Request) -> web.Response:
    who = await visitor(request)
    if not who.signed_in:
        return render(request, who, "signin.html")
    raise see_other("/console/repositories")


# -- repositories ----------------------------------------------------------------------------------


@page
async def repositories(request: web.Request, who: Visitor) -> web.Response:
    return await repositories_page(request, who)


async def repositories_page(
    request: web.Request, who: Visitor, create_name: str = "", create_error: str | None = None
) -> web.Response:
    """The repositories; with `create_error`, the create form shows it beside the name it keeps."""
    await require(request, who, "ecr:DescribeRepositories")
    fmt = Formats(who.language)
    query = request.query.get("q", "").strip()

    async def visible(name: str) -> bool:
        return (not query or query in name) and await can(request, who, "ecr:DescribeRepositories", name)

    records, token = await request.app[ADMIN].listing(visible, PAGE, request.query.get("next") or None)
    summaries = await request.app[LIFECYCLE].repository_summaries([r.id for r in records])
    rows = [
        {
            "name": r.name,
            "url": repo_url(r.name),
            "images": summaries.get(r.id, (0, 0, None))[0],
            "size": fmt.size(summaries.get(r.id, (0, 0, None))[1]),
            "pushed": fmt.when(summaries.get(r.id, (0, 0, None))[2]),
            "mutability": r.tag_mutability,
            "scan_on_push": r.scan_on_push,
            "upstream": r.upstream,
        }
        for r in records
    ]
    more = f"/console/repositories?{urlencode({'q': query, 'next': token})}" if token else None
    return render(
        request,
        who,
        "repositories.html",
        status=400 if create_error else 200,
        rows=rows,
        query=query,
        more=more,
        create_name=create_name,
        create_error=create_error,
        may_create=await can(request, who, "ecr:CreateRepository"),
        may_delete=await can(request, who, "ecr:DeleteRepository"),
    )


# -- a repository -------------------------------------------------------------------------------------


@page
async def repository(request: web.Request, who: Visitor) -> web.Response:
    return await repository_page(request, who, request.query.get("name", ""))


async def repository_page(
    request: web.Request, who: Visitor, name: str, policy_text: str | None = None, policy_error: str | None = None
) -> web.Response:
    """A repository's page; with `policy_error`, the policy editor shows it and keeps the text."""
    await require(request, who, "ecr:DescribeImages", name)
    fmt = Formats(who.language)
    record = await request.app[ADMIN].get(name)
    sort = request.query.get("sort", "-pushed")
    sort = sort if sort in SORTS else "-pushed"
    order, descending = sort.lstrip("-"), sort.startswith("-")
    after = position(request.query.get("after", ""))
    images, referrers = await request.app[IMAGES].browse(name, order, descending, after, PAGE)
    scans = await request.app[SCANS](record.id, [i.digest for i in images])
    indexes = [i.digest for i in images if kind_of(i.media_type, None, None) == "index"]
    contents = await request.app[MANIFESTS].contents(name, indexes)
    host = request.app[REGISTRY].public_host
    by_subject: dict[str, list[Any]] = {}
    for referrer in referrers:
        by_subject.setdefault(referrer.subject_digest or "", []).append(referrer)
    rows = []
    for image in images:
        platforms = []
        if image.digest in contents:
            for child in json.loads(contents[image.digest]).get("manifests") or []:
                p = child.get("platform") or {}
                platforms.append("/".join(filter(None, [p.get("os"), p.get("architecture"), p.get("variant")])))
        scan = scans.get(image.digest)
        raw_type = image.artifact_type or image.config_media_type or ""
        rows.append(
            {
                "digest": image.digest,
                "short": image.digest.split(":", 1)[-1][:12],
                "tags": image.tags,
                "size": fmt.size(image.size),
                "pushed": fmt.when(image.pushed_at),
                "pulled": fmt.when(image.last_pulled_at),
                "kind": kind_of(image.media_type, image.artifact_type, image.config_media_type),
                "raw_type": " · ".join(filter(None, [image.media_type, raw_type])),
                "archived": image.storage_class == "ARCHIVE",
                "platforms": [p for p in platforms if p],
                "referrers": [
                    {
                        "digest": r.digest,
                        "kind": kind_of(r.media_type, r.artifact_type, r.config_media_type),
                        "type": r.artifact_type or r.config_media_type or "",
                        "size": fmt.size(r.size),
                    }
                    for r in by_subject.get(image.digest, [])
                ],
                "scan": scan.status if scan else "",
                "counts": scan.severity_counts if scan else {},
                "findings_url": f"/console/findings?name={quote(name, safe='')}&digest={quote(image.digest)}",
                "pull": f"{host}/{name}@{image.digest}",
            }
        )
    more = None
    if len(images) == PAGE:
        last = images[-1]
        key = last.size if order == "size" else last.pushed_at
        more = f"{repo_url(name)}&{urlencode({'sort': sort, 'after': f'{key!r}|{last.digest}'})}"
    policy = policy_text
    if policy is None:
        try:
            policy = (await request.app[ADMIN].get_policy(name))[1]
        except RepositoryPolicyNotFound:  # the editor starts empty
            policy = ""
    return render(
        request,
        who,
        "repository.html",
        status=400 if policy_error else 200,
        policy_error=policy_error,
        name=name,
        host=host,
        record=record,
        rows=rows,
        more=more,
        sort=sort,
        sorts={column: sort_link(name, sort, column) for column in ("pushed", "size")},
        policy=policy,
        exclusions="\n".join(f["filter"] for f in (record.mutability_exclusions or [])),
        lifecycle_url=repo_url(name, "lifecycle"),
        may_delete=await can(request, who, "ecr:BatchDeleteImage", name),
        may_settings=await can(request, who, "ecr:PutImageTagMutability", name),
        may_policy=await can(request, who, "ecr:SetRepositoryPolicy", name),
    )


# -- the registry ---------------------------------------------------------------------------------------------


@page
async def storage(request: web.Request, who: Visitor) -> web.Response:
    await require(request, who, "kikoto:ReadMetrics")
    fmt = Formats(who.language)
    lifecycle = request.app[LIFECYCLE]
    blobs, stored = await lifecycle.stored()
    largest = [(n, b) for n, b in await lifecycle.largest_repositories(10) if b > 0]  # empty ones are not "largest"
    top = max([b for _, b in largest] or [1]) or 1
    bars = [{"name": n, "size": fmt.size(b), "width": round(100 * b / top, 1)} for n, b in largest]
    snapshots = await lifecycle.snapshots(90)
    peak = max([b for _, _, b in snapshots] or [1]) or 1
    # The plot's box in the SVG's 680 x 190 view: the axes' labels take the left and the bottom.
    left, right, top_y, bottom_y = 90, 670, 14, 160
    trend = [
        {
            "x": round(left + i * (right - left) / max(1, len(snapshots) - 1), 1),
            "y": round(bottom_y - (bottom_y - top_y) * b / peak, 1),
            "label": f"{fmt.when(at)}: {fmt.size(b)}",
            "when": fmt.when(at),
        }
        for i, (at, _, b) in enumerate(snapshots)
    ]
    gc = await lifecycle.events(None, 1, action="GC")
    return render(
        request,
        who,
        "storage.html",
        blobs=blobs,
        stored=fmt.size(stored),
        bars=bars,
        trend=trend,
        points=" ".join(f"{p['x']},{p['y']}" for p in trend),
        axes={
            "left": left,
            "right": right,
            "top": top_y,
            "bottom": bottom_y,
            "peak": fmt.size(peak),
            "zero": fmt.size(0),
        },
        last_gc={"when": fmt.when(gc[0]["at"]), **gc[0]["detail"], "size": fmt.size(gc[0]["detail"].get("bytes"))}
        if gc
        else None,
    )


AUDIT_FILTERS = ("repository", "action", "actor", "outcome", "tag")


@page
async def audit(request: web.Request, who: Visitor) -> web.Response:
    """Every change from every face, newest first, paged by key, filtered by any of its fields."""
    await require(request, who, "kikoto:ReadAuditLog")
    fmt = Formats(who.language)
    wanted: dict[str, Any] = {k: request.query.get(k, "").strip() for k in AUDIT_FILTERS}
    since_text = request.query.get("since") or ""
    since = None
    if since_text:
        try:
            since = datetime.datetime.fromisoformat(since_text).replace(tzinfo=datetime.UTC).timestamp()
        except ValueError:
            raise InvalidParameter(i18n.translator(who.language)("lifecycle.bad_date")) from None
    before = int(request.query["before"]) if request.query.get("before", "").isdigit() else None
    filters = {k: v for k, v in wanted.items() if v and k != "repository"}
    events = await request.app[AUDIT].events(wanted["repository"] or None, PAGE, before=before, since=since, **filters)
    rows = [
        {
            **e,
            "when": fmt.when(e["at"]),
            "detail": json.dumps(e.get("detail") or {}, ensure_ascii=False) if e.get("detail") else "",
            "history": history_url(e["repository"], e["tag"]) if e.get("tag") and e.get("repository") else None,
        }
        for e in events
    ]
    more = None
    if len(events) == PAGE:
        query = {**{k: v for k, v in wanted.items() if v}, "since": since_text, "before": events[-1]["id"]}
        more = "/console/audit?" + urlencode({k: v for k, v in query.items() if v})
    return render(request, who, "audit.html", rows=rows, since=since_text, more=more, **wanted)


def history_url(name: str, tag: str) -> str:
    return f"/console/history?name={quote(name, safe='')}&tag={quote(tag, safe='')}"


@page
async def keys(request: web.Request, who: Visitor) -> web.Response:
    await require(request, who, "kikoto:ManageKeys")
    rows = key_rows(await request.app[IDENTITIES].keys(), Formats(who.language))
    return render(request, who, "keys.html", rows=rows, created=None)


def key_rows(keys: list[Any], fmt: Formats) -> list[dict[str, Any]]:
    return [
        {"key_id": k.id, "principal": k.principal.name, "status": k.status, "created": fmt.when(k.created_at)}
        for k in keys
    ]
