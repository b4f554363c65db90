"""The lifecycle page: a repository's policy in words, an editor whose draft can be previewed at
any date before it is saved, and "save and apply now" that first says what it will do (how many
images, their tags, the bytes freed) and acts only once that is confirmed, unchanged."""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from ...domain.errors import InvalidParameter, LifecyclePolicyNotFound
from ...domain.lifecycle import LifecycleError, Rule, parse_policy
from ...services.lifecycle import Plan, policy_error
from ..services import LIFECYCLE
from . import i18n
from .common import AUDITED, Visitor, can, one_line, page, render, require
from .formats import Formats
from .pages import asked, repo_url, see_other

# The two policies of the Hungarian guide this project grew from, as templates.
TEMPLATES = {
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
TAGS_SHOWN = 20  # the confirmation names this many tags, then says how many more


@page
async def lifecycle(request: web.Request, who: Visitor) -> web.Response:
    name = request.query.get("name", "")
    await require(request, who, "ecr:GetLifecyclePolicy", name)
    try:
        text = (await request.app[LIFECYCLE].get_policy(name))[1]
    except LifecyclePolicyNotFound:
        text = ""
    chosen = request.query.get("template")
    if chosen in TEMPLATES:
        text = json.dumps(TEMPLATES[chosen], indent=2)
    elif text:
        text = json.dumps(json.loads(text), indent=2)
    preview = bool(request.query.get("preview") and text)
    return await lifecycle_page(request, who, name, text, preview, request.query.get("as_of", ""))


@page
async def preview_draft(request: web.Request, who: Visitor) -> web.Response:
    """The editor's text as it stands, unsaved, evaluated at the chosen date."""
    form, name = await asked(request, who, "ecr:GetLifecyclePolicy")
    response = await lifecycle_page(request, who, name, str(form.get("policy", "")), True, str(form.get("as_of", "")))
    request.pop(AUDITED, None)  # a draft's preview stores nothing: not a change
    return response


@page
async def save(request: web.Request, who: Visitor) -> web.Response:
    form, name = await asked(request, who, "ecr:PutLifecyclePolicy")
    text, service = str(form.get("policy", "")), request.app[LIFECYCLE]
    if not form.get("apply"):
        try:
            await service.put_policy(name, text)
        except InvalidParameter as invalid:  # shown in place, with the draft kept
            return await lifecycle_page(request, who, name, text, error=one_line(who.language, invalid))
        raise see_other(repo_url(name, "lifecycle"))
    try:
        plan = await service.plan(name, text)
    except InvalidParameter as invalid:
        return await lifecycle_page(request, who, name, text, error=one_line(who.language, invalid))
    if form.get("confirm") != plan.fingerprint():  # first ask, or ask again: the repository changed since
        changed = bool(form.get("confirm"))
        asking = await lifecycle_page(request, who, name, text, True, confirm=True, changed=changed, plan=plan)
        request.pop(AUDITED, None)  # nothing is saved until it is confirmed
        return asking
    await service.put_policy(name, text)
    await service.apply(plan, actor=f"console:{who.principal.name}")  # type: ignore[union-attr]
    raise see_other(repo_url(name, "lifecycle") + "&applied=1")


async def lifecycle_page(
    request: web.Request,
    who: Visitor,
    name: str,
    text: str,
    preview: bool = False,
    as_of: str = "",
    error: str | None = None,
    confirm: bool = False,
    changed: bool = False,
    plan: Plan | None = None,
) -> web.Response:
    t, fmt = i18n.translator(who.language), Formats(who.language)
    rules: tuple[Rule, ...] = ()
    if text and error is None:
        try:
            rules = parse_policy(text).rules
        except LifecycleError as exc:
            error = one_line(who.language, policy_error(exc))
    shown = None
    if (preview or confirm) and text and error is None:
        await require(request, who, "ecr:StartLifecyclePolicyPreview", name)
        now = time.time()
        if as_of:
            try:
                now = datetime.datetime.fromisoformat(as_of).replace(tzinfo=datetime.UTC).timestamp()
            except ValueError:
                error = t("lifecycle.bad_date")
        if error is None:
            plan = plan or await request.app[LIFECYCLE].plan(name, text, now=now)
            shown = outcome(plan, t, fmt)
    return render(
        request,
        who,
        "lifecycle.html",
        status=400 if error else 200,
        name=name,
        text=text,
        rules=[describe(rule, t) for rule in rules],
        preview=shown,
        as_of=as_of,
        error=error,
        confirm=confirm and shown is not None,
        changed=changed,
        fingerprint=plan.fingerprint() if plan else "",
        applied=bool(request.query.get("applied")),
        templates=list(TEMPLATES),
        repository_url=repo_url(name),
        may_write=await can(request, who, "ecr:PutLifecyclePolicy", name),
        may_preview=await can(request, who, "ecr:StartLifecyclePolicyPreview", name),
    )


def outcome(plan: Plan, t: Callable[..., str], fmt: Formats) -> dict[str, Any]:
    """The preview as the page shows it: images as a user counts them, acted on and kept, each
    with the rule that decided and why."""
    descriptions = {r.priority: r.description for r in plan.rules()}
    rows: list[dict[str, Any]] = []
    for o in plan.outcomes():
        d = o.decision
        rows.append(
            {
                "digest": o.image.digest,
                "short": o.image.digest.split(":", 1)[-1][:12],
                "tags": ", ".join(o.image.tags),
                "pushed": fmt.when(o.image.pushed_at),
                "size": fmt.size(o.image.size),
                "action": d.action or "keep",
                "action_text": t(f"lifecycle.action.{d.action or 'keep'}"),
                "rule": f"{d.rule} · {descriptions.get(d.rule) or ''}".strip(" ·") if d.rule else "",
                "reason": t(f"lifecycle.reason.{d.reason}", figure=d.figure, limit=d.limit),
                "attached": o.attached,
            }
        )
    acted = [r for r in rows if r["action"] != "keep"]
    tags = [tag for o in plan.outcomes() if o.decision.action for tag in o.image.tags]
    return {
        "acted": acted,
        "kept": [r for r in rows if r["action"] == "keep"],
        "summary": t(
            "lifecycle.would",
            day=fmt.day(plan.now),
            expire=fmt.number(sum(r["action"] == "expire" for r in acted)),
            transition=fmt.number(sum(r["action"] == "transition" for r in acted)),
            kept=fmt.number(len(rows) - len(acted)),
            bytes=fmt.size(plan.bytes_freed),
        ),
        "attached": fmt.number(sum(r["attached"] for r in acted)),
        "tags": ", ".join(tags[:TAGS_SHOWN]),
        "more_tags": max(0, len(tags) - TAGS_SHOWN),
        "count": len(acted),
    }


def describe(rule: Rule, t: Callable[..., str]) -> dict[str, Any]:
    """A rule in words: which images it selects, the condition, and what it does."""
    if rule.tag_patterns or rule.tag_prefixes:
        key = "patterns" if rule.tag_patterns else "prefixes"
        selects = t(f"lifecycle.select.{key}", tags=", ".join(rule.tag_patterns or rule.tag_prefixes))
    else:
        selects = t(f"lifecycle.select.{rule.tag_status}")
    if rule.storage_class == "archive":
        selects += t("lifecycle.select.archived")
    condition = t(f"lifecycle.count.{rule.count_type}", n=rule.count_number) if rule.count_type else ""
    return {
        "priority": rule.priority,
        "description": rule.description,
        "selects": selects,
        "condition": condition,
        "action": t(f"lifecycle.action.{rule.action}"),
    }
