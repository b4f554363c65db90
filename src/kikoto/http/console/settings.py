"""The registry's settings: repository creation templates, then each section a feature adds
(pull-through rules, replication, scanning). A section is shown to a visitor the API would
answer; each form is an ECR operation, run through the API's own validation, authorisation
and handler (`ecr.api.invoke`), so the console refuses what the API refuses, in its words."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from ...domain.errors import KikotoError
from ..ecr.api import invoke, refusal
from ..ecr.errors import EcrError
from ..services import ADMIN
from . import i18n
from .common import SECTIONS, SettingsSection, Visitor, can, note, one_line, page, render, require
from .pages import see_other

TEMPLATES_ACTION = "ecr:DescribeRepositoryCreationTemplates"
APPLIED_FOR = ("CREATE_ON_PUSH", "PULL_THROUGH_CACHE", "REPLICATION")
MUTABILITY = ("MUTABLE", "IMMUTABLE", "MUTABLE_WITH_EXCLUSION", "IMMUTABLE_WITH_EXCLUSION")
UPSTREAMS = (  # ECR's upstreamRegistry values; empty: Kikötő infers it from the URL
    "",
    "docker-hub",
    "quay",
    "k8s",
    "github-container-registry",
    "gitlab-container-registry",
    "ecr",
    "ecr-public",
    "azure-container-registry",
    "chainguard",
)


def _text(form: dict[str, str], name: str) -> str:
    return str(form.get(name, "")).strip()


def _optional(**members: str) -> dict[str, str]:
    """The members a form filled in (an empty field is an absent member, as in the CLI)."""
    return {k: v for k, v in members.items() if v}


def _template(form: dict[str, str]) -> dict[str, Any]:
    return {
        "prefix": _text(form, "prefix"),
        "appliedFor": [a for a in APPLIED_FOR if form.get(f"applied_{a}")],
        **_optional(
            description=_text(form, "description"),
            imageTagMutability=_text(form, "imageTagMutability"),
            repositoryPolicy=_text(form, "repositoryPolicy"),
            lifecyclePolicy=_text(form, "lifecyclePolicy"),
        ),
    }


def _filters(text: str) -> list[dict[str, str]]:
    return [{"filter": line.strip(), "filterType": "WILDCARD"} for line in text.splitlines() if line.strip()]


def _scanning(form: dict[str, str]) -> dict[str, Any]:
    rules = [
        {"scanFrequency": frequency, "repositoryFilters": filters}
        for frequency, field in (("SCAN_ON_PUSH", "on_push"), ("CONTINUOUS_SCAN", "continuous"))
        if (filters := _filters(str(form.get(field, ""))))
    ]
    return {"scanType": _text(form, "scanType") or "BASIC", "rules": rules}


def _replication(form: dict[str, str]) -> dict[str, Any]:
    text = _text(form, "configuration") or '{"rules": []}'
    try:
        configuration = json.loads(text)
    except ValueError as exc:  # what the API's deserializer would refuse
        raise EcrError("SerializationException", f"The replication configuration is not valid JSON: {exc}") from None
    return {"replicationConfiguration": configuration}


# operation -> (the settings section its form belongs to, the form's fields as the API's request)
FORMS: dict[str, tuple[str, Callable[[dict[str, str]], dict[str, Any]]]] = {
    "CreateRepositoryCreationTemplate": ("templates", _template),
    "UpdateRepositoryCreationTemplate": ("templates", _template),
    "DeleteRepositoryCreationTemplate": ("templates", lambda f: {"prefix": _text(f, "prefix")}),
    "CreatePullThroughCacheRule": (
        "rules",
        lambda f: {
            "ecrRepositoryPrefix": _text(f, "ecrRepositoryPrefix"),
            "upstreamRegistryUrl": _text(f, "upstreamRegistryUrl"),
            **_optional(upstreamRegistry=_text(f, "upstreamRegistry"), credentialArn=_text(f, "credentialArn")),
        },
    ),
    "UpdatePullThroughCacheRule": (
        "rules",
        lambda f: {"ecrRepositoryPrefix": _text(f, "ecrRepositoryPrefix"), "credentialArn": _text(f, "credentialArn")},
    ),
    "DeletePullThroughCacheRule": ("rules", lambda f: {"ecrRepositoryPrefix": _text(f, "ecrRepositoryPrefix")}),
    "PutReplicationConfiguration": ("replication", _replication),
    "PutRegistryScanningConfiguration": ("scanning", _scanning),
}


@page
async def settings(request: web.Request, who: Visitor) -> web.Response:
    return await settings_page(request, who)


async def settings_page(
    request: web.Request, who: Visitor, failed: str | None = None, error: str = "", draft: dict[str, str] | None = None
) -> web.Response:
    """The settings; with `failed` (a form's operation), that form shows the API's `error` and
    keeps what was typed."""
    sections = [SettingsSection("templates", TEMPLATES_ACTION, lambda: _templates(request)), *request.app[SECTIONS]]
    allowed = [section for section in sections if await can(request, who, section.action)]
    if not allowed:  # refused as the API refuses the first of them
        await require(request, who, TEMPLATES_ACTION)
    shown: dict[str, Any] = {section.key: None for section in sections}
    for section in allowed:
        shown[section.key] = await section.load()
    may = {operation: await can(request, who, f"ecr:{operation}") for operation in FORMS}
    return render(
        request,
        who,
        "settings.html",
        status=400 if failed else 200,
        may=may,
        failed=failed or "",
        saved=bool(request.query.get("saved")),
        error=error,
        draft=draft or {},
        applied_for=APPLIED_FOR,
        mutability=MUTABILITY,
        upstreams=UPSTREAMS,
        **shown,
    )


async def _templates(request: web.Request) -> list[Any]:
    return (await request.app[ADMIN].templates(None, 100, None))[0]


@page
async def change(request: web.Request, who: Visitor) -> web.Response:
    """One settings form: its fields become the operation's request, run as the API runs it."""
    operation = request.match_info["operation"]
    if operation not in FORMS:
        raise web.HTTPNotFound()
    section, build = FORMS[operation]
    form = request["form"]
    await require(request, who, f"ecr:{operation}")  # recorded in the audit log as this operation
    try:
        await invoke(request.app, who.principal, operation, build(form))  # type: ignore[arg-type]
    except (KikotoError, EcrError) as failure:
        kind, message = refusal(request.app, failure)
        note(request, outcome=kind)
        shown = one_line(who.language, failure, message) if isinstance(failure, KikotoError) else message
        said = i18n.translator(who.language)("settings.refused", message=shown)
        return await settings_page(request, who, failed=operation, error=said, draft=dict(form))
    raise see_other(f"/console/settings?saved={operation}#{section}")
