"""What a principal would be allowed: the console's face of IAM's SimulatePrincipalPolicy (and
of `kikoto policy simulate`), for a user or role, an action, a repository and a request's
address and transport; it names the statement that decides."""

from __future__ import annotations

from aiohttp import web

from ...services.access import RequestFacts
from ..services import ACCESS, IDENTITIES
from . import i18n
from .common import Visitor, page, render, require

ACTION = "iam:SimulatePrincipalPolicy"


@page
async def simulate(request: web.Request, who: Visitor) -> web.Response:
    await require(request, who, ACTION)
    t = i18n.translator(who.language)
    asked = {k: request.query.get(k, "").strip() for k in ("principal", "action", "repository", "source_ip")}
    asked["secure"] = "1" if request.query.get("secure") else ""
    answer, error = None, None
    if asked["principal"] and asked["action"]:
        principal = await request.app[IDENTITIES].as_principal(asked["principal"])
        if principal is None:
            error = t("simulate.no_principal", name=asked["principal"])
        else:
            action = asked["action"] if ":" in asked["action"] else f"ecr:{asked['action']}"
            facts = RequestFacts(source_ip=asked["source_ip"] or None, secure=bool(asked["secure"]))
            access = request.app[ACCESS]
            repository = asked["repository"] or None
            verdict, _, place = await access.explain(principal, action, repository, facts)
            target = access.resource(repository)
            document = (
                t("simulate.identity", name=principal.name)
                if verdict.document == 0
                else t("simulate.resource", name=repository or "")
            )
            decision = {"Allow": "allow", "Deny": "deny"}.get(verdict.decision or "", "implicit")
            by = ""
            if verdict.statement is not None:
                key = "simulate.by_sid" if verdict.statement.sid else "simulate.by"
                by = t(key, place=place, sid=verdict.statement.sid, document=document)
            answer = {
                "decision": decision,
                "summary": t(f"simulate.{decision}", action=action, target=target),
                "by": by,
            }
    return render(request, who, "simulate.html", asked=asked, answer=answer, error=error)
