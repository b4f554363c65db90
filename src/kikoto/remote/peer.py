"""A peer registry that images are replicated to: another Kikötő (its ECR API, signed with
SigV4, and its /v2/ API with a login password from GetAuthorizationToken), or any OCI
registry (/v2/ with Basic credentials; repositories must exist or be created on push there).

Every failure becomes `PeerFailed` with the peer's answer; the replication service retries.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from .guard import MAX_API_ANSWER, error_text, read_capped

TIMEOUT = aiohttp.ClientTimeout(total=None, connect=10, sock_connect=10, sock_read=120)
ECR_TARGET = "AmazonEC2ContainerRegistry_V20150921."
SIGNATURE_HEADER = "X-Kikoto-Signature-256"
EVENT_HEADER = "X-Kikoto-Event-Id"
TEMPLATE_SETTINGS = ("imageTagMutability", "imageTagMutabilityExclusionFilters", "encryptionConfiguration")


class PeerFailed(Exception):
    """A peer's failure; `error_type`: the ECR exception it named (`__type`), if it answered one."""

    def __init__(self, message: str, status: int = 0, error_type: str | None = None) -> None:
        super().__init__(message)
        self.message, self.status, self.error_type = message, status, error_type


class PeerRegistry:
    def __init__(self, session: aiohttp.ClientSession, url: str, kind: str, key: str, secret: str, region: str) -> None:
        self.session, self.url, self.kind = session, url.rstrip("/"), kind
        self.key, self.secret, self.region = key, secret, region
        self._login: tuple[str, float] | None = None

    # -- the ECR API (Kikötő peers) ---------------------------------------------------------------

    async def ecr(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(params).encode()
        request = AWSRequest(
            method="POST",
            url=f"{self.url}/",
            data=body,
            headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": ECR_TARGET + operation},
        )
        SigV4Auth(Credentials(self.key, self.secret), "ecr", self.region).add_auth(request)
        try:
            async with self.session.post(
                f"{self.url}/", data=body, headers=dict(request.headers.items()), timeout=TIMEOUT, allow_redirects=False
            ) as response:
                raw = await read_capped(response, MAX_API_ANSWER, f"peer {self.url} ({operation})", PeerFailed)
                answer = json.loads(raw) if raw else {}
                if not isinstance(answer, dict):
                    raise PeerFailed(f"peer {self.url} answered {operation} with no JSON object", response.status)
                if response.status != 200:
                    kind = str(answer.get("__type") or "error").rpartition("#")[2]  # AWS may prefix a namespace
                    raise PeerFailed(f"{kind}: {answer.get('message', '')}", response.status, kind)
                return answer
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
            raise PeerFailed(f"peer {self.url} is unreachable: {exc!r}") from None

    async def ensure_repository(self, name: str) -> None:
        """Create the repository on a Kikötő peer with the peer's own REPLICATION creation template
        (as ECR applies the destination's templates); an OCI peer creates it on push."""
        if self.kind != "kikoto":
            return
        try:
            await self.ecr("DescribeRepositories", {"repositoryNames": [name]})
            return
        except PeerFailed as failure:
            if failure.error_type != "RepositoryNotFoundException":
                raise
        templates = (await self.ecr("DescribeRepositoryCreationTemplates", {})).get("repositoryCreationTemplates", [])
        applying = [
            t
            for t in templates
            if "REPLICATION" in t.get("appliedFor", [])
            and (t["prefix"] == "ROOT" or name.startswith(t["prefix"] + "/"))
        ]
        template: dict[str, Any] = max(
            applying, key=lambda t: -1 if t["prefix"] == "ROOT" else len(t["prefix"]), default={}
        )
        params = {"repositoryName": name, **{k: template[k] for k in TEMPLATE_SETTINGS if template.get(k)}}
        if template.get("resourceTags"):
            params["tags"] = template["resourceTags"]
        try:
            await self.ecr("CreateRepository", params)
        except PeerFailed as failure:
            if failure.error_type != "RepositoryAlreadyExistsException":
                raise
            return
        if template.get("lifecyclePolicy"):
            await self.ecr(
                "PutLifecyclePolicy", {"repositoryName": name, "lifecyclePolicyText": template["lifecyclePolicy"]}
            )
        if template.get("repositoryPolicy"):
            await self.ecr("SetRepositoryPolicy", {"repositoryName": name, "policyText": template["repositoryPolicy"]})

    # -- /v2/ ----------------------------------------------------------------------------------------

    async def _authorization(self) -> str:
        if self.kind != "kikoto":
            return "Basic " + base64.b64encode(f"{self.key}:{self.secret}".encode()).decode()
        if self._login is None or self._login[1] < time.time() + 60:
            data = (await self.ecr("GetAuthorizationToken", {}))["authorizationData"][0]
            self._login = (f"Basic {data['authorizationToken']}", float(data["expiresAt"]))
        return self._login[0]

    async def _v2(self, method: str, path: str, ok: tuple[int, ...], **kwargs) -> aiohttp.ClientResponse:
        headers = {"Authorization": await self._authorization(), **kwargs.pop("headers", {})}
        try:
            response = await self.session.request(
                method, f"{self.url}{path}", headers=headers, timeout=TIMEOUT, allow_redirects=False, **kwargs
            )
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise PeerFailed(f"peer {self.url} is unreachable: {exc!r}") from None
        if response.status not in ok:
            text = await error_text(response)  # a few KiB at most, whatever the peer sends
            response.release()
            raise PeerFailed(f"peer {self.url} answered {response.status} to {method} {path}: {text}", response.status)
        return response

    async def has(self, repository: str, kind: str, digest: str) -> bool:
        """Whether the peer has a blob or manifest (`kind`: blobs or manifests)."""
        response = await self._v2("HEAD", f"/v2/{repository}/{kind}/{digest}", (200, 404))
        response.release()
        return response.status == 200

    async def push_blob(self, repository: str, digest: str, size: int, chunks: AsyncIterator[bytes]) -> None:
        started = await self._v2("POST", f"/v2/{repository}/blobs/uploads/", (202,))
        location = started.headers["Location"]
        started.release()
        if location.startswith("/"):
            location = self.url + location
        separator = "&" if "?" in location else "?"
        path = location[len(self.url) :] + f"{separator}digest={digest}"
        finished = await self._v2(
            "PUT",
            path,
            (201,),
            data=chunks,
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
        )
        finished.release()

    async def put_manifest(self, repository: str, reference: str, content: bytes, media_type: str) -> None:
        response = await self._v2(
            "PUT", f"/v2/{repository}/manifests/{reference}", (201,), data=content, headers={"Content-Type": media_type}
        )
        response.release()

    async def delete_manifest(self, repository: str, reference: str) -> None:
        response = await self._v2("DELETE", f"/v2/{repository}/manifests/{reference}", (202, 404))
        response.release()


class Peers:
    """The peer clients of one process, sharing one connection pool."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._clients: dict[tuple[Any, ...], PeerRegistry] = {}

    def client(self, url: str, kind: str, key: str, secret: str, region: str) -> PeerRegistry:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(auto_decompress=False)
            self._clients.clear()
        identity = (url, kind, key, secret, region)
        if identity not in self._clients:
            self._clients[identity] = PeerRegistry(self._session, url, kind, key, secret, region)
        return self._clients[identity]

    async def deliver(self, delivered, timeout: float = 30) -> None:
        """A webhook delivery (services.events.Delivered) as a JSON POST with the event id and,
        for a target with a secret, its HMAC signature: 2xx or PeerFailed."""
        headers = {
            "Content-Type": "application/cloudevents+json" if delivered.cloudevents else "application/json",
            EVENT_HEADER: delivered.event_id,
            "User-Agent": "kikoto-events/1",
        }
        if delivered.signature:
            headers[SIGNATURE_HEADER] = delivered.signature
        await self._post(delivered.url, delivered.body, headers, timeout)

    async def _post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(auto_decompress=False)
        try:
            async with self._session.post(
                url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout), allow_redirects=False
            ) as response:  # the body is never read; a redirect is a failure, not a new destination
                if not 200 <= response.status < 300:
                    raise PeerFailed(f"{url} answered {response.status}", response.status)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise PeerFailed(f"{url} is unreachable: {exc!r}") from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
