"""The console's pages and actions. Each reads or changes the registry through the same services
as the APIs, authorised with the same ECR action names; a page shows only the controls the
visitor may use, and each action is authorised again when it arrives."""

from __future__ import annotations

import datetime
import json
import time
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web

from ...domain.errors import InvalidParameter, LifecyclePolicyNotFound, RepositoryPolicyNotFound
from ..oci.common import MANIFESTS
from ..services import ADMIN, IDENTITIES, IMAGES, LIFECYCLE, REGISTRY, SCANS
from . import i18n
from .common import SECTIONS, SettingsSection, Visitor, can, page, render, require, security_headers, visitor

PAGE = 100
# The two policies of the Hungarian guide this project grew from, as templates.
LIFECYCLE_TEMPLATES = {
    "keep-last-5": {
        "rules": [
            {
                "rulePriority": 1,
                "description": "Keep the last 5 images",
                "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 5},
                "action": {"type": "expire"},
            }
        ]
    },
    "latest-forever-rest-90-days": {
        "rules": [
            {
                "rulePriority": 1,
                "description": "Never delete latest",
                "selection": {
                    "tagStatus": "tagged",
                    "tagPatternList": ["latest"],
                    "countType": "imageCountMoreThan",
                    "countNumber": 9999,
                },
                "action": {"type": "expire"},
            },
            {
                "rulePriority": 2,
                "description": "Delete the rest after 90 days",
                "selection": {
                    "tagStatus": "any",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": 90,
                },
                "action": {"type": "expire"},
            },
        ]
    },
}


def see_other(location: str) -> web.HTTPSeeOther:
    """Where a successful form sends the browser (POST, then redirect, then GET)."""
    return web.HTTPSeeOther(location, headers=security_headers())


def repo_url(name: str, view: str = "repository") -> str:
    return f"/console/{view}?name={quote(name, safe='')}"


def when_text(seconds: float | None) -> str:
    if not seconds:
        return ""
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%d %H:%M")


def size(n: int | float | None) -> str:
    n = float(n or 0)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


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
            "size": size(summaries.get(r.id, (0, 0, None))[1]),
            "pushed": when_text(summaries.get(r.id, (0, 0, None))[2]),
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
    record = await request.app[ADMIN].get(name)
    images, token = await request.app[IMAGES].describe(name, None, None, None, PAGE, request.query.get("next") or None)
    scans = await request.app[SCANS](record.id, [i.digest for i in images])
    indexes = [i.digest for i in images if "index" in i.media_type or "list" in i.media_type]
    contents = await request.app[MANIFESTS].contents(name, indexes)
    host = request.app[REGISTRY].public_host
    by_subject: dict[str, list[Any]] = {}
    for image in images:
        if image.subject_digest:
            by_subject.setdefault(image.subject_digest, []).append(image)
    rows = []
    for image in images:
        if image.subject_digest and any(i.digest == image.subject_digest for i in images):
            continue  # shown under its subject
        platforms = []
        if image.digest in contents:
            for child in json.loads(contents[image.digest]).get("manifests") or []:
                p = child.get("platform") or {}
                platforms.append("/".join(filter(None, [p.get("os"), p.get("architecture"), p.get("variant")])))
        scan = scans.get(image.digest)
        rows.append(
            {
                "digest": image.digest,
                "short": image.digest.split(":", 1)[-1][:12],
                "tags": image.tags,
                "size": size(image.size),
                "pushed": when_text(image.pushed_at),
                "pulled": when_text(image.last_pulled_at),
                "media_type": image.media_type,
                "artifact_type": image.artifact_type or image.config_media_type or "",
                "archived": image.storage_class == "ARCHIVE",
                "platforms": [p for p in platforms if p],
                "referrers": [
                    {"digest": r.digest, "type": r.artifact_type or r.config_media_type or "", "size": size(r.size)}
                    for r in by_subject.get(image.digest, [])
                ],
                "scan": scan.status if scan else "",
                "counts": scan.severity_counts if scan else {},
                "findings_url": f"/console/findings?name={quote(name, safe='')}&digest={quote(image.digest)}",
                "pull": f"{host}/{name}@{image.digest}",
            }
        )
    more = f"{repo_url(name)}&next={quote(token)}" if token else None
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
        policy=policy,
        exclusions="\n".join(f["filter"] for f in (record.mutability_exclusions or [])),
        lifecycle_url=repo_url(name, "lifecycle"),
        may_delete=await can(request, who, "ecr:BatchDeleteImage", name),
        may_settings=await can(request, who, "ecr:PutImageTagMutability", name),
        may_policy=await can(request, who, "ecr:SetRepositoryPolicy", name),
    )


# -- lifecycle --------------------------------------------------------------------------------------------


@page
async def lifecycle(request: web.Request, who: Visitor) -> web.Response:
    name = request.query.get("name", "")
    await require(request, who, "ecr:GetLifecyclePolicy", name)
    try:
        text = (await request.app[LIFECYCLE].get_policy(name))[1]
    except LifecyclePolicyNotFound:
        text = ""
    chosen = request.query.get("template")
    if chosen in LIFECYCLE_TEMPLATES:
        text = json.dumps(LIFECYCLE_TEMPLATES[chosen], indent=2)
    elif text:
        text = json.dumps(json.loads(text), indent=2)
    preview, as_of, freed = None, request.query.get("as_of", ""), None
    if request.query.get("preview") and text:
        await require(request, who, "ecr:StartLifecyclePolicyPreview", name)
        now = time.time()
        if as_of:
            try:
                now = datetime.datetime.fromisoformat(as_of).replace(tzinfo=datetime.UTC).timestamp()
            except ValueError:
                raise InvalidParameter(i18n.translator(who.language)("lifecycle.bad_date")) from None
        plan = await request.app[LIFECYCLE].plan(name, text, now=now)
        preview = [
            {
                "digest": d.digest,
                "tags": ", ".join(plan.images[d.digest].tags) if d.digest in plan.images else "",
                "action": d.action,
                "rule": d.rule,
                "reason": d.reason,
            }
            for d in plan.decisions.values()
            if d.action in ("expire", "transition")
        ]
        freed = size(plan.bytes_freed)
    rules = json.loads(text)["rules"] if text else []
    return render(
        request,
        who,
        "lifecycle.html",
        name=name,
        text=text,
        rules=rules,
        preview=preview,
        freed=freed,
        as_of=as_of,
        templates=list(LIFECYCLE_TEMPLATES),
        repository_url=repo_url(name),
        may_write=await can(request, who, "ecr:PutLifecyclePolicy", name),
    )


# -- the registry ---------------------------------------------------------------------------------------------


@page
async def storage(request: web.Request, who: Visitor) -> web.Response:
    await require(request, who, "kikoto:ReadMetrics")
    lifecycle = request.app[LIFECYCLE]
    blobs, stored = await lifecycle.stored()
    largest = [(n, b) for n, b in await lifecycle.largest_repositories(10) if b > 0]  # empty ones are not "largest"
    top = max([b for _, b in largest] or [1]) or 1
    bars = [{"name": n, "size": size(b), "width": round(100 * b / top, 1)} for n, b in largest]
    snapshots = await lifecycle.snapshots(90)
    peak = max([b for _, _, b in snapshots] or [1]) or 1
    # The plot's box in the SVG's 680 x 190 view: the axes' labels take the left and the bottom.
    left, right, top_y, bottom_y = 90, 670, 14, 160
    trend = [
        {
            "x": round(left + i * (right - left) / max(1, len(snapshots) - 1), 1),
            "y": round(bottom_y - (bottom_y - top_y) * b / peak, 1),
            "label": f"{when_text(at)}: {size(b)}",
            "when": when_text(at),
        }
        for i, (at, _, b) in enumerate(snapshots)
    ]
    gc = await lifecycle.events(None, 1, action="GC")
    return render(
        request,
        who,
        "storage.html",
        blobs=blobs,
        stored=size(stored),
        bars=bars,
        trend=trend,
        points=" ".join(f"{p['x']},{p['y']}" for p in trend),
        axes={"left": left, "right": right, "top": top_y, "bottom": bottom_y, "peak": size(peak), "zero": size(0)},
        last_gc={"when": when_text(gc[0]["at"]), **gc[0]["detail"], "size": size(gc[0]["detail"].get("bytes"))}
        if gc
        else None,
    )


@page
async def audit(request: web.Request, who: Visitor) -> web.Response:
    await require(request, who, "kikoto:ReadAuditLog")
    repository_filter = request.query.get("repository") or None
    action = request.query.get("action") or None
    since_text = request.query.get("since") or ""
    since = None
    if since_text:
        try:
            since = datetime.datetime.fromisoformat(since_text).replace(tzinfo=datetime.UTC).timestamp()
        except ValueError:
            raise InvalidParameter(i18n.translator(who.language)("lifecycle.bad_date")) from None
    before = int(request.query["before"]) if request.query.get("before", "").isdigit() else None
    events = await request.app[LIFECYCLE].events(repository_filter, PAGE, before=before, action=action, since=since)
    rows = [{**e, "when": when_text(e["at"]), "detail": json.dumps(e.get("detail") or {})} for e in events]
    more = None
    if len(events) == PAGE:
        more = "/console/audit?" + urlencode(
            {
                k: v
                for k, v in {
                    "repository": repository_filter,
                    "action": action,
                    "since": since_text,
                    "before": events[-1]["id"],
                }.items()
                if v
            }
        )
    return render(
        request,
        who,
        "audit.html",
        rows=rows,
        repository=repository_filter or "",
        action=action or "",
        since=since_text,
        more=more,
    )


@page
async def keys(request: web.Request, who: Visitor) -> web.Response:
    await require(request, who, "kikoto:ManageKeys")
    rows = [
        {"key_id": k.id, "principal": k.principal.name, "status": k.status, "created": when_text(k.created_at)}
        for k in await request.app[IDENTITIES].keys()
    ]
    return render(request, who, "keys.html", rows=rows, created=None)


# The settings page: repository creation templates, then each section a feature adds; a section is
# shown only to a visitor the API would answer (the operation that reads the same data).
TEMPLATES_ACTION = "ecr:DescribeRepositoryCreationTemplates"


@page
async def settings(request: web.Request, who: Visitor) -> web.Response:
    sections = [SettingsSection("templates", TEMPLATES_ACTION, lambda: _templates(request)), *request.app[SECTIONS]]
    allowed = [section for section in sections if await can(request, who, section.action)]
    if not allowed:  # refused as the API refuses the first of them
        await require(request, who, TEMPLATES_ACTION)
    shown: dict[str, Any] = {section.key: None for section in sections}
    for section in allowed:
        shown[section.key] = await section.load()
    return render(request, who, "settings.html", **shown)


async def _templates(request: web.Request) -> list[Any]:
    return (await request.app[ADMIN].templates(None, 100, None))[0]
