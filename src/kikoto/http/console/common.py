"""What every console page and action shares (the visitor, rendering, forms, the page
wrapper). The web console: server-rendered pages at `/` on the registry's own port, assets inside the
package, nothing fetched from elsewhere. Every page and action is authorised by the same policy
engine as the APIs, with the same action names; every form carries a CSRF token; templates
escape everything and a strict Content-Security-Policy forbids inline script."""

from __future__ import annotations

import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

import jinja2
from aiohttp import web

from ...domain.audit import OK, Change, changes
from ...domain.errors import AccessDenied, BodyTooLarge, KikotoError
from ...services.identity import Principal
from ..limits import read_body
from ..services import ACCESS, AUDIT, IDENTITIES
from . import i18n
from .formats import Formats
from .session import COOKIE, Session, Sessions

SESSIONS = web.AppKey("console_sessions", Sessions)


@dataclass(frozen=True)
class SettingsSection:
    """A section a feature adds to the settings page, shown to a visitor the API would answer
    `action` (the data `load` returns is what that API operation reads)."""

    key: str
    action: str
    load: Callable[[], Awaitable[Any]]


SECTIONS = web.AppKey("console_sections", tuple)
AUDITED = web.RequestKey("console_audited", dict)  # the change a form asked for, as the audit log records it

TEMPLATES = web.AppKey("console_templates", jinja2.Environment)
CSP = (
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
FORM_LIMIT = 256 << 10  # the largest form: a lifecycle or repository policy
STATIC = {"console.css": "text/css", "console.js": "text/javascript"}


# The navigation: each page with the actions of which the visitor needs one to see it (a link
# to a page that would only say "not allowed" is not shown). Settings: its sections' actions.
NAVIGATION = (
    ("repositories", "/console/repositories", ("ecr:DescribeRepositories",)),
    ("storage", "/console/storage", ("kikoto:ReadMetrics",)),
    ("audit", "/console/audit", ("kikoto:ReadAuditLog",)),
    ("keys", "/console/keys", ("kikoto:ManageKeys",)),
    ("simulate", "/console/simulate", ("iam:SimulatePrincipalPolicy",)),
    ("settings", "/console/settings", ("ecr:DescribeRepositoryCreationTemplates",)),
)


@dataclass
class Visitor:
    """Who is looking: the session, its principal, the language, and the pages it may open."""

    session: Session | None
    principal: Principal | None
    language: str
    menu: tuple[tuple[str, str], ...] = ()  # (name, path) of the navigation's pages it may see

    @property
    def signed_in(self) -> bool:
        return self.principal is not None


def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader(__package__, "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


async def visitor(request: web.Request) -> Visitor:
    language = i18n.choose(request.cookies.get(i18n.COOKIE), request.headers.get("Accept-Language", ""))
    session = request.app[SESSIONS].open(request.cookies.get(COOKIE))
    principal = None
    identities = request.app[IDENTITIES]
    if session is not None and not await identities.session_revoked(session.id):  # signed out
        principal, _ = await identities.lookup(session.key_id)  # None once the key is revoked
    menu: list[tuple[str, str]] = []
    if principal is not None:
        access = request.app[ACCESS]
        sections = request.app[SECTIONS] if SECTIONS in request.app else ()
        for name, path, actions in NAVIGATION:
            wanted = actions + tuple(s.action for s in sections) if name == "settings" else actions
            for action in wanted:
                if await access.allowed(principal, action, None):
                    menu.append((name, path))
                    break
    return Visitor(session if principal else None, principal, language, tuple(menu))


async def can(request: web.Request, who: Visitor, action: str, repository: str | None = None) -> bool:
    return who.principal is not None and await request.app[ACCESS].allowed(who.principal, action, repository)


async def require(request: web.Request, who: Visitor, action: str, repository: str | None = None) -> None:
    """Authorise `action`; a change authorised in a form's action is what the audit log records."""
    if request.method == "POST" and changes(action.partition(":")[2]):
        request[AUDITED] = {"action": action.partition(":")[2], "repository": repository}
    await request.app[ACCESS].require(who.principal, action, repository)


def in_words(language: str, failure: KikotoError, api: str | None = None) -> tuple[str, str | None]:
    """(what to tell the visitor, the API's own message to show beneath it, if different). In
    English that is the API's message itself (exact, as ECR's console shows it); in another
    language a sentence of its own for the kind of failure, with the API's message beneath.
    `api`: the message as the API words it, where the face rewords the service's."""
    api = api or failure.message
    if language == "en":
        return api, None
    t, known = i18n.translator(language), i18n.catalogue(language)
    kind = next((f"error.{c.__name__}" for c in type(failure).__mro__ if f"error.{c.__name__}" in known), None)
    return t(kind or "error.generic"), api


def one_line(language: str, failure: KikotoError, api: str | None = None) -> str:
    """`in_words` as one line, for a message shown beside a form."""
    said, api = in_words(language, failure, api)
    return f"{said} {i18n.translator(language)('error.api_says')} {api}" if api else said


def note(request: web.Request, **what: Any) -> None:
    """What else the audit log should say of this form's change (the digest, the tag, a key id)."""
    if AUDITED in request:
        request[AUDITED].update(what)


def render(request: web.Request, who: Visitor, template: str, status: int = 200, **context) -> web.Response:
    page = (
        request.app[TEMPLATES]
        .get_template(template)
        .render(
            t=i18n.translator(who.language),
            fmt=Formats(who.language),
            language=who.language,
            languages=i18n.LANGUAGES,
            who=who,
            csrf=who.session.csrf if who.session else "",
            path=request.path_qs,
            **context,
        )
    )
    return web.Response(text=page, status=status, content_type="text/html", headers=security_headers())


def security_headers() -> dict[str, str]:
    return {
        "Content-Security-Policy": CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }


async def read_form(request: web.Request, limit: int) -> dict[str, str]:
    """A urlencoded form, read within `limit` bytes and the worker's memory budget (a larger
    body is refused before it is read: 413)."""
    body = await read_body(request, limit)
    return {k: v[0] for k, v in urllib.parse.parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}


PageHandler = Callable[[web.Request, Visitor], Awaitable[web.StreamResponse]]


def page(handler: PageHandler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """A console page: signed-in visitors only (others see the sign-in page), typed errors shown
    in place in the visitor's language, never as JSON."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        who = await visitor(request)
        if not who.signed_in:
            return render(request, who, "signin.html", status=401 if request.method == "POST" else 200)
        outcome = "error"
        try:
            if request.method == "POST":
                form = await read_form(request, FORM_LIMIT)
                if form.get("csrf") != who.session.csrf:  # type: ignore[union-attr]
                    message = i18n.translator(who.language)("csrf")
                    return render(request, who, "error.html", status=403, message=message)
                request["form"] = form
            response = await handler(request, who)
            outcome = OK if response.status < 400 else "InvalidParameterException"  # refused in place
            return response
        except web.HTTPException as answer:  # the redirect after a change
            outcome = OK if answer.status < 400 else f"HTTP {answer.status}"
            raise
        except AccessDenied as denied:  # in the visitor's words; AWS's (with the ARNs) folded below
            outcome = "AccessDeniedException"
            said = i18n.translator(who.language)("denied", action=denied.action) if denied.action else denied.message
            technical = denied.message if denied.action else None
            return render(request, who, "error.html", status=403, message=said, technical=technical)
        except BodyTooLarge as failure:
            outcome = type(failure).__name__
            return render(request, who, "error.html", status=413, message=failure.message)
        except KikotoError as failure:
            outcome = type(failure).__name__
            said, api = in_words(who.language, failure)
            return render(request, who, "error.html", status=400, message=said, api=api)
        finally:
            if (change := request.get(AUDITED)) is not None:
                await request.app[AUDIT].record(
                    Change(who.principal.arn, source=request.remote or "", **{"outcome": outcome, **change})  # type: ignore[union-attr]
                )

    return wrapped


async def static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in STATIC:
        raise web.HTTPNotFound()
    body = resources.files(__package__).joinpath(f"static/{name}").read_bytes()
    return web.Response(body=body, content_type=STATIC[name], headers={"Cache-Control": "max-age=3600"})


FAVICON = (
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><text y="13" font-size="13">\xe2\x9a\x93</text></svg>'
)


async def favicon(request: web.Request) -> web.Response:
    return web.Response(body=FAVICON, content_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"})
