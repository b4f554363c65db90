"""/v2/<name>/manifests/<reference>, tags/list and referrers/<digest>."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from ...domain.audit import OK, Change
from ...domain.digests import parse_digest
from ...domain.errors import KikotoError
from ...domain.manifests import MAX_MANIFEST_BYTES, OCI_INDEX
from ...services.images.manifests import referrers_index
from ..auth import ACCOUNT, PRINCIPAL, authorize, wire_name
from ..errors import OciError, as_oci
from ..limits import read_body
from ..services import AUDIT, REGISTRY_SETTINGS
from .common import (
    API_VERSION,
    MANIFESTS,
    READS,
    RequestCaller,
    head_response,
    next_link,
    paged,
)

REFERRERS_PAGE = 1000
Handler = Callable[[web.Request], Awaitable[web.Response]]
RECORDED = web.RequestKey("audit_recorded", bool)  # the change recorded itself, in its own transaction


def audited(action: str) -> Callable[[Handler], Handler]:
    """A manifest write, recorded in the audit log with how it ended (refusals too, once the
    caller is known): one entry per tag it touched, else one for the digest."""

    def wrap(handler: Handler) -> Handler:
        async def run(request: web.Request) -> web.Response:
            outcome, digest, tags = "error", None, list[str | None]()
            try:
                response = await handler(request)
                outcome, digest = OK, response.headers.get("Docker-Content-Digest")
                tags = [*response.headers.getall("OCI-Tag", [])]
                return response
            except (KikotoError, OciError) as failure:
                outcome = as_oci(failure).code
                raise
            finally:
                principal: Any = request.get(PRINCIPAL)
                if principal is not None and not request.get(RECORDED):
                    name, reference = request.match_info["name"], request.match_info["reference"]
                    if ":" in reference:  # by digest (a tag has no colon)
                        digest = reference
                    else:
                        tags = [reference]
                    await request.app[AUDIT].record(
                        *(
                            Change(principal.arn, action, request.remote or "", outcome, name, digest, tag)
                            for tag in tags or [None]
                        )
                    )

        return run

    return wrap


async def get_manifest(request: web.Request) -> web.Response:
    name, reference = request.match_info["name"], request.match_info["reference"]
    await authorize(request, name, "ecr:BatchGetImage")
    head = request.method == "HEAD"
    principal = request.get(PRINCIPAL)
    registry = request.app[REGISTRY_SETTINGS]
    record_pull = not (principal and await registry.excluded(principal.arn, request[ACCOUNT].account))
    pulled = await request.app[READS].manifest(
        name, reference, RequestCaller(request, name), with_content=not head, record_pull=record_pull
    )
    headers = {
        **API_VERSION,
        "Docker-Content-Digest": pulled.digest,
        "ETag": f'"{pulled.digest}"',
        "Content-Type": pulled.media_type,
    }
    if head:
        return head_response(headers, pulled.size)
    return web.Response(body=pulled.content, headers=headers)


@audited("PutManifest")
async def put_manifest(request: web.Request) -> web.Response:
    name, reference = request.match_info["name"], request.match_info["reference"]
    await authorize(request, name, "ecr:PutImage")
    content = await read_body(request, MAX_MANIFEST_BYTES)
    principal: Any = request.get(PRINCIPAL)
    by = Change(principal.arn, "PutManifest", request.remote or "", OK, name) if principal is not None else None
    pushed = await request.app[MANIFESTS].push(
        name, reference, content, request.headers.get("Content-Type"), request.query.getall("tag", []), by
    )
    request[RECORDED] = by is not None
    headers = {
        **API_VERSION,
        "Location": f"/v2/{wire_name(request)}/manifests/{pushed.digest}",
        "Docker-Content-Digest": pushed.digest,
    }
    if pushed.subject:
        headers["OCI-Subject"] = pushed.subject
    response = web.Response(status=201, headers=headers)
    for tag in pushed.tags:
        response.headers.add("OCI-Tag", tag)
    return response


@audited("DeleteManifest")
async def delete_manifest(request: web.Request) -> web.Response:
    name, reference = request.match_info["name"], request.match_info["reference"]
    await authorize(request, name, "ecr:BatchDeleteImage")
    await request.app[MANIFESTS].delete(name, reference)
    return web.Response(status=202, headers=API_VERSION)


async def list_tags(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    await authorize(request, name, "ecr:ListImages")
    manifests = request.app[MANIFESTS]
    tags, headers = await paged(
        request, f"/v2/{wire_name(request)}/tags/list", lambda limit, last: manifests.tags(name, limit, last)
    )
    return web.json_response({"name": wire_name(request), "tags": tags}, headers=headers)


async def list_referrers(request: web.Request) -> web.Response:
    name, digest = request.match_info["name"], request.match_info["digest"]
    await authorize(request, name, "ecr:ListImageReferrers", "ecr:BatchGetImage")
    subject = str(parse_digest(digest))
    artifact_type = request.query.get("artifactType") or None
    last = request.query.get("last") or None
    caller = RequestCaller(request, name)
    found = await request.app[READS].referrers(name, subject, caller, artifact_type, REFERRERS_PAGE + 1, last)
    headers = {**API_VERSION}
    if artifact_type:
        headers["OCI-Filters-Applied"] = "artifactType"
    if len(found) > REFERRERS_PAGE:
        found = found[:REFERRERS_PAGE]
        headers["Link"] = next_link(
            f"/v2/{wire_name(request)}/referrers/{subject}", {"artifactType": artifact_type, "last": found[-1].digest}
        )
    return web.Response(body=json.dumps(referrers_index(found)).encode(), content_type=OCI_INDEX, headers=headers)
