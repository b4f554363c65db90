"""A tag's history (Quay's "time machine"): which digest the tag pointed at, when and by whom,
from the audit log's records of pushes, restores and deletes; and a restore of the tag to an
earlier digest the repository still holds (ECR's retag: the manifest put again under the tag)."""

from __future__ import annotations

from aiohttp import web

from ...domain.errors import InvalidParameter
from ...services.images.listing import ImageId
from ..services import AUDIT, IMAGES
from .common import Visitor, can, note, page, render, require
from .formats import Formats
from .pages import PAGE, history_url, repo_url, see_other

MOVES = ("PutImage", "PutManifest")  # what points a tag at a digest
REMOVALS = ("DeleteManifest", "BatchDeleteImage")


@page
async def history(request: web.Request, who: Visitor) -> web.Response:
    name, tag = request.query.get("name", ""), request.query.get("tag", "")
    await require(request, who, "ecr:DescribeImages", name)
    fmt = Formats(who.language)
    before = int(request.query["before"]) if request.query.get("before", "").isdigit() else None
    events = await request.app[AUDIT].events(name, PAGE, tag=tag, before=before)
    digests = sorted({e["digest"] for e in events if e["digest"]})
    held = await request.app[IMAGES].present(name, digests, [tag] if tag else [])
    current = next((i.digest for i in held if tag in i.tags), None)
    still = {i.digest for i in held}
    may_restore = await can(request, who, "ecr:PutImage", name)
    show_actor = await can(request, who, "kikoto:ReadAuditLog")
    rows = []
    for e in events:
        if e["action"] not in MOVES + REMOVALS:  # a scan started by tag, say: not a move of the tag
            continue
        moved, ok = e["action"] in MOVES, e["outcome"] == "ok"
        rows.append(
            {
                "when": fmt.when(e["at"]),
                "change": "restore" if (e["detail"] or {}).get("restore") else "move" if moved else "remove",
                "digest": e["digest"] or "",
                "short": (e["digest"] or "").split(":")[-1][:12],
                "actor": e["actor"] if show_actor else "",
                "outcome": e["outcome"],
                "current": ok and moved and e["digest"] == current,
                "restorable": may_restore and ok and moved and e["digest"] in still and e["digest"] != current,
                "gone": ok and moved and e["digest"] not in still,
            }
        )
    more = f"{history_url(name, tag)}&before={events[-1]['id']}" if len(events) == PAGE else None
    return render(
        request,
        who,
        "history.html",
        name=name,
        tag=tag,
        current=current or "",
        rows=rows,
        more=more,
        show_actor=show_actor,
        repository_url=repo_url(name),
        restored=bool(request.query.get("restored")),
    )


@page
async def restore(request: web.Request, who: Visitor) -> web.Response:
    """Point the tag at an earlier digest again: the manifest, read back, put under the tag."""
    form = request["form"]
    name, tag, digest = str(form.get("name", "")), str(form.get("tag", "")), str(form.get("digest", ""))
    await require(request, who, "ecr:BatchGetImage", name)
    await require(request, who, "ecr:PutImage", name)
    note(request, digest=digest, tag=tag, detail={"restore": True})
    images = request.app[IMAGES]
    got, failures = await images.batch_get(name, [ImageId(digest, None)], record_pull=False)
    if failures:
        raise InvalidParameter(failures[0].reason)
    await images.put(name, got[0].manifest, got[0].media_type, tag, None)
    raise see_other(history_url(name, tag) + "&restored=1")
