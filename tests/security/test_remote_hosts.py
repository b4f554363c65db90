"""Hosts Kikötő talks to on someone's behalf (the platform round of the audit): a rule's secret
goes only where someone allowed to read it sent it; upstreams, token realms and peers are read
within limits; redirects and realms chosen by a remote never lead inward or to plain http."""

from __future__ import annotations

import inspect
import json

import pytest
from aiohttp import web

from kikoto.remote.guard import MAX_API_ANSWER, MAX_TOKEN_ANSWER, Destinations, refusal
from kikoto.remote.peer import PeerFailed, Peers

from .conftest import peak_memory

MiB = 1 << 20
SECRET_VALUE = json.dumps({"username": "hubuser", "accessToken": "the-upstream-token"})


def allow(*actions: str, resource: str = "*") -> str:
    return json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": resource}]}
    )


class Hostile:
    """An HTTP server on loopback that records every request and answers as a test says."""

    def __init__(self):
        self.requests: list[tuple[str, str, dict]] = []
        self.handler = None

    def app(self) -> web.Application:
        async def any_request(request: web.Request) -> web.StreamResponse:
            self.requests.append((request.method, request.path_qs, dict(request.headers)))
            answer = self.handler(request)
            return await answer if inspect.isawaitable(answer) else answer

        app = web.Application()
        app.router.add_route("*", "/{path:.*}", any_request)
        return app


async def stream(request: web.Request, status: int, size: int, headers: dict | None = None) -> web.StreamResponse:
    """`size` bytes of JSON-ish filler, sent in 1 MiB pieces without a Content-Length."""
    response = web.StreamResponse(status=status, headers=headers or {})
    await response.prepare(request)
    piece = b'{"token":"' + b"x" * (MiB - 10)
    try:
        for _ in range(size // MiB):
            await response.write(piece)
    except (ConnectionResetError, RuntimeError):
        pass  # the reader gave up: what the test wants
    return response


@pytest.fixture
async def hostile(aiohttp_server):
    async def make() -> tuple[Hostile, str]:
        host = Hostile()
        server = await aiohttp_server(host.app())
        return host, f"http://127.0.0.1:{server.port}"

    return make


async def test_a_rule_names_only_a_secret_its_author_may_read(registry_with, hostile):
    registry = await registry_with(pull_through_insecure_upstreams=True)
    status, created = await registry.ecr(
        "CreateSecret", {"Name": "ecr-pullthroughcache/hub", "SecretString": SECRET_VALUE}, service="secretsmanager"
    )
    assert status == 200, created
    arn = created["ARN"]
    attacker_host, attacker_url = await hostile()
    attacker_host.handler = lambda request: _basic_challenge()
    rules = ("ecr:CreatePullThroughCacheRule", "ecr:UpdatePullThroughCacheRule", "ecr:ValidatePullThroughCacheRule")
    key, key_secret = await registry.new_key("rule-maker", allow(*rules))
    as_maker = {"key": key, "secret": key_secret}
    create = {"ecrRepositoryPrefix": "mine", "upstreamRegistryUrl": attacker_url, "credentialArn": arn}
    status, body = await registry.ecr("CreatePullThroughCacheRule", create, **as_maker)
    assert status == 400 and body["__type"] == "AccessDeniedException", body
    assert "secretsmanager:GetSecretValue" in body["message"] and arn in body["message"]
    # a rule without a secret is this principal's right; pointing it at a secret afterwards is not
    del create["credentialArn"]
    status, body = await registry.ecr("CreatePullThroughCacheRule", create, **as_maker)
    assert status == 200, body
    update = {"ecrRepositoryPrefix": "mine", "credentialArn": arn}
    status, body = await registry.ecr("UpdatePullThroughCacheRule", update, **as_maker)
    assert status == 400 and body["__type"] == "AccessDeniedException", body
    status, body = await registry.ecr("ValidatePullThroughCacheRule", {"ecrRepositoryPrefix": "mine"}, **as_maker)
    assert status == 200 and body["isValid"] is False
    assert not [h for _, _, h in attacker_host.requests if "Authorization" in h], "the secret left home"
    # a principal that may read the secret may use it (its own choice where it goes)
    reader = allow(*rules, "secretsmanager:GetSecretValue")
    key, key_secret = await registry.new_key("secret-reader", reader)
    status, body = await registry.ecr("UpdatePullThroughCacheRule", update, key=key, secret=key_secret)
    assert status == 200 and body["credentialArn"] == arn, body


def _basic_challenge() -> web.Response:
    return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="upstream"'})


async def test_a_token_endpoint_is_read_within_a_limit(registry_with, hostile):
    registry = await registry_with(pull_through_insecure_upstreams=True)
    upstream, url = await hostile()

    async def handler(request: web.Request) -> web.StreamResponse:
        if request.path == "/token":
            return await stream(request, 200, 160 * MiB)
        return web.Response(status=401, headers={"WWW-Authenticate": f'Bearer realm="{url}/token",service="x"'})

    upstream.handler = handler
    status, _ = await registry.ecr(
        "CreatePullThroughCacheRule", {"ecrRepositoryPrefix": "hub", "upstreamRegistryUrl": url}
    )
    assert status == 200
    (status, body), grown = await peak_memory(
        registry.ecr("ValidatePullThroughCacheRule", {"ecrRepositoryPrefix": "hub"})
    )
    assert status == 200 and body["isValid"] is False
    assert f"more than {MAX_TOKEN_ANSWER} bytes" in body["failure"], body["failure"]
    assert grown < 64 * MiB, f"a 160 MiB token answer grew the process by {grown / MiB:.0f} MiB"


async def test_a_peer_is_read_within_limits(hostile):
    peer, url = await hostile()

    async def handler(request: web.Request) -> web.StreamResponse:
        if request.method == "POST" and request.path == "/":  # the ECR API
            return await stream(request, 200, MAX_API_ANSWER + 4 * MiB)
        return await stream(request, 500, 256 * MiB)  # an upload answered with an endless error

    peer.handler = handler
    peers = Peers()
    client = peers.client(url, "oci", "user", "password", "us-east-1")

    async def exchange() -> None:
        for _ in range(3):  # every retry as cheap as the first
            with pytest.raises(PeerFailed) as failed:
                await client.push_blob("app", "sha256:" + "0" * 64, 0, _nothing())
            assert "answered 500" in failed.value.message and len(failed.value.message) < 1000
        kikoto = peers.client(url, "kikoto", "AKIA", "secret", "us-east-1")
        with pytest.raises(PeerFailed) as failed:
            await kikoto.ecr("DescribeRepositories", {})
        assert f"more than {MAX_API_ANSWER} bytes" in failed.value.message

    try:
        _, grown = await peak_memory(exchange())
    finally:
        await peers.close()
    assert grown < 64 * MiB, f"a peer's huge answers grew the process by {grown / MiB:.0f} MiB"


async def _nothing():
    return
    yield b""


async def test_upstream_redirects_never_lead_to_plain_http_elsewhere(registry_with, hostile):
    registry = await registry_with(pull_through_insecure_upstreams=True)
    canary, canary_url = await hostile()
    canary.handler = lambda request: web.Response(text="{}")
    upstream, url = await hostile()
    # another host by name (localhost, not the upstream's 127.0.0.1) on plain http: never followed
    elsewhere = canary_url.replace("127.0.0.1", "localhost")
    upstream.handler = lambda request: web.Response(status=302, headers={"Location": f"{elsewhere}/internal"})
    status, _ = await registry.ecr(
        "CreatePullThroughCacheRule", {"ecrRepositoryPrefix": "hub", "upstreamRegistryUrl": url}
    )
    assert status == 200
    status, body = await registry.ecr("ValidatePullThroughCacheRule", {"ecrRepositoryPrefix": "hub"})
    assert status == 200 and body["isValid"] is False
    assert "redirected" in body["failure"] and "only https" in body["failure"], body["failure"]
    pulled = await registry.client.get("/v2/hub/library/app/manifests/latest", headers=await registry.basic())
    assert pulled.status in (404, 503) and "redirected" in await pulled.text()
    assert canary.requests == [], "the redirect was followed to an internal plain-http address"


async def test_a_plain_http_realm_is_refused_before_credentials_are_sent(hostile):
    """With insecure upstreams off the upstream is https (not runnable here without a certificate
    the client trusts), so the realm rule is driven directly, as UpstreamRegistry drives it
    before sending the rule's credentials: a plain-http realm on any host is refused."""
    destinations = Destinations("https://8.8.8.8", allow_insecure=False)
    realm_host, realm_url = await hostile()
    assert "only https" in (await destinations.refusal(f"{realm_url}/token", realm=True) or "")
    assert "only https" in (await destinations.refusal("http://8.8.4.4/token", realm=True) or "")
    assert await destinations.refusal("https://8.8.4.4/token", realm=True) is None
    assert realm_host.requests == []


@pytest.mark.parametrize(
    "configured,target,realm,insecure,refused",
    [
        ("https://8.8.8.8", "https://8.8.4.4/blob", False, False, None),  # a CDN on the internet
        ("https://8.8.8.8", "http://8.8.4.4/blob", False, False, "only https"),
        ("https://8.8.8.8", "https://127.0.0.1/blob", False, False, "loopback"),
        ("https://8.8.8.8", "https://10.0.0.7/blob", False, False, "loopback"),
        ("https://8.8.8.8", "https://169.254.169.254/latest", False, False, "loopback"),
        ("https://8.8.8.8", "https://[::1]/x", False, False, "loopback"),
        ("https://8.8.8.8", "https://[::ffff:127.0.0.1]/x", False, False, "loopback"),
        ("https://8.8.8.8", "https://[fe80::1]/x", False, False, "loopback"),
        ("https://10.0.0.5", "https://10.0.0.6/blob", False, False, None),  # a private registry's own network
        ("http://10.0.0.5:5000", "http://10.0.0.5:5000/v2/x", False, True, None),  # the upstream itself
        ("http://10.0.0.5:5000", "http://10.0.0.6:5000/v2/x", False, True, "only https"),
        ("http://10.0.0.5:5000", "http://10.0.0.5:9000/bucket/x", False, True, None),  # its object store
        ("http://10.0.0.5:5000", "http://10.0.0.5:9000/bucket/x", False, False, "only https"),  # insecure off
        ("https://8.8.8.8", "http://8.8.8.8:9000/x", False, False, "only https"),
        ("https://8.8.8.8", "http://8.8.4.4/token", True, False, "only https"),  # realm, insecure off
        ("http://10.0.0.5:5000", "http://10.0.0.6/token", True, True, None),  # realm, insecure on
    ],
)
async def test_the_redirect_and_realm_rule(configured, target, realm, insecure, refused):
    why = await Destinations(configured, insecure).refusal(target, realm=realm)
    assert (why is None) if refused is None else (why is not None and refused in why), why


def test_the_rule_itself_is_pure():
    assert refusal("https://a.example", "https://a.example:443/x", True, False) is None
    assert refusal("https://a.example", "https://b.example/x", True, False) is not None
    assert refusal("https://a.example", "https://b.example/x", False, False) is None
    assert refusal("https://a.example", "ftp://a.example/x", False, False) is not None
