"""The console's actions: signing in and out, the language, and every form that changes the
registry. Each reads its form within a small limit, checks the session's CSRF token (in `page`),
authorises the action on its repository, calls the same service as the API, and redirects."""

from __future__ import annotations

import re

from aiohttp import web

from ...domain.errors import BodyTooLarge, InvalidParameter, NameInvalid
from ...domain.policy import ADMINISTRATOR, POWER_USER, READ_ONLY
from ...services.identity import TokenError
from ...services.images.listing import ImageId
from ..services import ADMIN, IDENTITIES, IMAGES
from . import i18n
from .common import SESSIONS, Visitor, note, one_line, page, read_form, render, require, security_headers, visitor
from .formats import Formats
from .pages import asked, key_rows, repo_url, repositories_page, repository_page, see_other
from .session import COOKIE, LIFETIME

SIGN_IN_LIMIT = 8192  # two keys and a session token: an unauthenticated client is read no further
# Where the language switch may send a visitor back to: a path on this site, in URL characters
# only. A browser drops tabs and newlines from a Location, so "/\t/evil.example" would become the
# scheme-relative "//evil.example": an allow-list of shapes, not a deny-list of tricks.
LOCAL_PATH = re.compile(r"/(?:[A-Za-z0-9][A-Za-z0-9\-._~!$&'()*+,;=:@%/?]*)?")
ROLES = {"read-only": READ_ONLY, "power-user": POWER_USER, "admin": ADMINISTRATOR}
KEY_CHANGES = {"create": "CreateAccessKey", "rotate": "RotateAccessKey", "revoke": "RevokeAccessKey"}


async def sign_in(request: web.Request) -> web.Response:
    who = await visitor(request)
    try:
        form = await read_form(request, SIGN_IN_LIMIT)
    except BodyTooLarge as failure:
        return render(request, who, "signin.html", status=413, error=failure.message)
    key_id, secret = str(form.get("access_key_id", "")).strip(), str(form.get("secret_access_key", ""))
    try:
        await request.app[IDENTITIES].verify_secret(key_id, secret, str(form.get("session_token", "")).strip())
    except TokenError:
        return render(request, who, "signin.html", status=401, error=i18n.translator(who.language)("signin.failed"))
    token, _ = request.app[SESSIONS].issue(key_id)
    response = web.HTTPSeeOther("/console/repositories", headers=security_headers())
    response.set_cookie(
        COOKIE, token, max_age=LIFETIME, httponly=True, samesite="Strict", secure=request.secure, path="/"
    )
    raise response


@page
async def sign_out(request: web.Request, who: Visitor) -> web.Response:
    assert who.session is not None  # `page` lets only signed-in visitors here
    await request.app[IDENTITIES].end_session(who.session.id, who.session.expires_at)
    response = web.HTTPSeeOther("/", headers=security_headers())
    response.del_cookie(COOKIE, path="/")
    raise response


async def language(request: web.Request) -> web.Response:
    code = request.match_info["code"]
    if code not in i18n.LANGUAGES:
        raise web.HTTPNotFound()
    back = request.query.get("back", "/")
    response = web.HTTPSeeOther(back if LOCAL_PATH.fullmatch(back) else "/")
    response.set_cookie(i18n.COOKIE, code, max_age=365 * 86400, samesite="Strict", path="/")
    raise response


@page
async def create_repository(request: web.Request, who: Visitor) -> web.Response:
    form = request["form"]
    name = str(form.get("name", "")).strip()
    await require(request, who, "ecr:CreateRepository", name)
    mutability = "IMMUTABLE" if form.get("immutable") else "MUTABLE"
    try:  # the service checks the name as the API does; the form says why, beside the field
        await request.app[ADMIN].create(name, [], mutability, None, bool(form.get("scan_on_push")), None)
    except NameInvalid:
        message = i18n.translator(who.language)("create.invalid_name", name=name)
        return await repositories_page(request, who, create_name=name, create_error=message)
    raise see_other(repo_url(name))


@page
async def delete_repository(request: web.Request, who: Visitor) -> web.Response:
    form, name = await asked(request, who, "ecr:DeleteRepository")
    confirm = str(form.get("confirm", ""))
    if confirm != name:
        raise InvalidParameter(i18n.translator(who.language)("repository.confirm_mismatch", name=name))
    await request.app[ADMIN].delete(name, force=True)
    raise see_other("/console/repositories")


@page
async def delete_image(request: web.Request, who: Visitor) -> web.Response:
    form, name = await asked(request, who, "ecr:BatchDeleteImage")
    image = ImageId(form.get("digest") or None, form.get("tag") or None)  # type: ignore[arg-type]
    note(request, digest=image.digest, tag=image.tag)
    _, failures = await request.app[IMAGES].batch_delete(name, [image])
    if failures:
        raise InvalidParameter(failures[0].reason)
    raise see_other(repo_url(name))


@page
async def put_mutability(request: web.Request, who: Visitor) -> web.Response:
    form, name = await asked(request, who, "ecr:PutImageTagMutability")
    mode = str(form.get("mode", "MUTABLE"))
    filters = [
        {"filterType": "WILDCARD", "filter": line.strip()}
        for line in str(form.get("exclusions", "")).splitlines()
        if line.strip()
    ]
    await request.app[ADMIN].put_mutability(name, mode, filters or None)
    raise see_other(repo_url(name))


@page
async def put_policy(request: web.Request, who: Visitor) -> web.Response:
    form, name = await asked(request, who, "ecr:SetRepositoryPolicy")
    text = str(form.get("policy", ""))
    try:
        await request.app[ADMIN].set_policy(name, text)
    except InvalidParameter as invalid:  # shown in place, with the text kept
        return await repository_page(request, who, name, policy_text=text, policy_error=one_line(who.language, invalid))
    raise see_other(repo_url(name))


@page
async def key_action(request: web.Request, who: Visitor) -> web.Response:
    await require(request, who, "kikoto:ManageKeys")
    form, identities = request["form"], request.app[IDENTITIES]
    action = request.match_info["action"]
    note(request, action=KEY_CHANGES[action], detail={"key": str(form.get("key_id") or form.get("principal") or "")})
    created = None
    if action == "create":
        policy = ROLES.get(str(form.get("role")), READ_ONLY)
        key_id, secret = await identities.create(str(form.get("principal", "")).strip(), policy)
        created = {"key_id": key_id, "secret": secret}
        note(request, detail={"key": key_id, "principal": str(form.get("principal", "")).strip()})
    elif action == "rotate":
        key_id, secret = await identities.rotate(str(form.get("key_id", "")))
        created = {"key_id": key_id, "secret": secret}
    elif action == "revoke":
        await identities.revoke(str(form.get("key_id", "")))
    rows = key_rows(await identities.keys(), Formats(who.language))
    return render(request, who, "keys.html", rows=rows, created=created)  # the secret, shown this once
