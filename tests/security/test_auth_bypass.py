"""Authentication bypasses the audit tried: signatures that leave out what must be signed,
unsigned payloads, bad dates, and Bearer tokens exchanged for broader or longer ones."""

from __future__ import annotations

import base64
import time

import pytest

from kikoto.domain.policy import READ_ONLY
from kikoto.http.ecr.api import ECR

from .conftest import basic


@pytest.mark.parametrize("header", ["host", "x-amz-target", "content-type"])
async def test_a_signature_must_cover_host_target_and_content_type(registry_with, header):
    registry = await registry_with()
    status, body = await registry.ecr("DescribeRepositories", {}, unsigned=(header,))
    assert status == 403
    assert body == {"__type": "InvalidSignatureException", "message": f"'{header}' must be a signed header."}


async def test_a_captured_request_cannot_be_retargeted(registry_with):
    """The audit re-sent a signed GetRepositoryPolicy as DeleteRepositoryPolicy."""
    registry = await registry_with()
    assert (await registry.ecr("CreateRepository", {"repositoryName": "app"}))[0] == 200
    policy = '{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"}]}'
    assert (await registry.ecr("SetRepositoryPolicy", {"repositoryName": "app", "policyText": policy}))[0] == 200
    body, headers = registry.signed("GetRepositoryPolicy", {"repositoryName": "app"})
    headers["X-Amz-Target"] = headers["X-Amz-Target"].replace("GetRepositoryPolicy", "DeleteRepositoryPolicy")
    response = await registry.client.post("/", data=body, headers=headers)
    assert response.status == 403
    assert (await response.json(content_type=None))["__type"] == "InvalidSignatureException"
    assert (await registry.ecr("GetRepositoryPolicy", {"repositoryName": "app"}))[0] == 200  # still there


async def test_an_unsigned_payload_is_refused(registry_with):
    registry = await registry_with()
    status, body = await registry.ecr("DescribeRepositories", {}, payload_hash="UNSIGNED-PAYLOAD")
    assert status == 403
    assert body["__type"] == "InvalidSignatureException" and "UNSIGNED-PAYLOAD" in body["message"]


async def test_a_body_swapped_under_a_signature_is_refused(registry_with):
    registry = await registry_with()
    _, headers = registry.signed("CreateRepository", {"repositoryName": "one"})
    response = await registry.client.post("/", data=b'{"repositoryName": "two"}', headers=headers)
    assert response.status == 403
    status, body = await registry.ecr("DescribeRepositories", {})
    assert body["repositories"] == []


@pytest.mark.parametrize("stamp", ["20261329T120000Z", "20261101T250000Z", "20260230T000000Z", "00000000T000000Z"])
async def test_an_impossible_date_is_a_signature_error_not_a_crash(registry_with, stamp):
    registry = await registry_with()
    status, body = await registry.ecr("DescribeRepositories", {}, when=stamp)
    assert status == 403
    assert body["__type"] == "IncompleteSignatureException" and stamp in body["message"]


async def test_an_unknown_key_is_refused_before_the_body_is_read(registry_with):
    registry = await registry_with()
    status, body = await registry.ecr("DescribeRepositories", {}, key="AKIANOSUCHKEY0000000")
    assert status == 403 and body["__type"] == "UnrecognizedClientException"


async def _token(registry, headers, scope="repository:app:pull"):
    response = await registry.client.get(f"/v2/token?service=kikoto&scope={scope}", headers=headers)
    return response.status, (await response.json()) if response.status == 200 else await response.text()


async def test_a_bearer_token_cannot_mint_another(registry_with):
    """M1: the audit turned a pull token into one with the principal's full rights, and renewed it."""
    registry = await registry_with(auth_challenge="bearer")
    status, issued = await _token(registry, await registry.basic(), "repository:app:pull")
    assert status == 200
    bearer = {"Authorization": f"Bearer {issued['token']}"}
    status, _ = await _token(registry, bearer, "repository:app:pull,push,delete")
    assert status == 401
    status, _ = await _token(registry, basic(issued["token"]), "repository:other:push")  # as a Basic password
    assert status == 401


async def test_a_token_never_outlives_its_password(registry_with):
    registry = await registry_with(auth_challenge="bearer")
    identities = registry.app[ECR].identities
    principal, _ = await identities.lookup("AKIATESTADMIN0000001")
    password, expires = identities.issue(principal, ttl=120)  # a login password with two minutes left
    status, issued = await _token(registry, basic(password))
    assert status == 200
    assert issued["expires_in"] <= 120
    payload = base64.urlsafe_b64decode(issued["token"].split(".")[0] + "==")
    assert b'"e":' in payload and int(payload.split(b'"e":')[1].split(b",")[0]) <= expires + 1


async def test_a_read_only_login_cannot_get_a_push_token(registry_with):
    registry = await registry_with(auth_challenge="bearer")
    key, _ = await registry.new_key("reader", READ_ONLY)
    status, issued = await _token(registry, await registry.basic(key), "repository:app:pull,push")
    assert status == 200
    token = issued["token"]
    response = await registry.client.post("/v2/app/blobs/uploads/", headers={"Authorization": f"Bearer {token}"})
    assert response.status in (401, 403)


async def test_an_expired_password_is_refused(registry_with):
    registry = await registry_with()
    identities = registry.app[ECR].identities
    principal, _ = await identities.lookup("AKIATESTADMIN0000001")
    identities._clock = lambda: time.time() - 13 * 3600
    password, _ = identities.issue(principal)
    identities._clock = time.time
    response = await registry.client.get("/v2/_catalog", headers=basic(password))
    assert response.status == 401
