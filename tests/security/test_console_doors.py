"""The console's doors (the platform round of the audit): the language switch redirects only
within the site, signing out ends the session server-side, each settings section is shown only
to a principal the API would answer, and odd input never becomes a 500."""

from __future__ import annotations

import json
import re

from kikoto.app import SERVICES
from kikoto.http.ecr.api import ECR

from ..conftest import ADMIN_KEY, ADMIN_SECRET
from ..helpers import descriptor, push_blob


async def sign_in(registry, key: str = ADMIN_KEY, secret: str = ADMIN_SECRET) -> tuple[str, str]:
    """(the session cookie, a CSRF token from the page it lands on)."""
    response = await registry.client.post(
        "/console/sign-in", data={"access_key_id": key, "secret_access_key": secret}, allow_redirects=False
    )
    assert response.status == 303, await response.text()
    cookie = response.cookies["kikoto_console"].value
    page = await registry.client.get("/console/repositories", cookies={"kikoto_console": cookie})
    csrf = re.search(r'name="csrf" value="([^"]+)"', await page.text())
    assert csrf, "no CSRF token on the page"
    return cookie, csrf.group(1)


async def test_the_language_switch_redirects_only_to_paths_of_this_site(registry_with):
    registry = await registry_with()
    for back in (
        "/\t/evil.example",
        "/\n/evil.example",
        "/\r/evil.example",
        "/ /evil.example",
        "//evil.example",
        "/\\evil.example",
        "https://evil.example",
        "javascript:alert(1)",
        "",
    ):
        response = await registry.client.get("/console/lang/en", params={"back": back}, allow_redirects=False)
        assert response.status == 303 and response.headers["Location"] == "/", (back, response.headers["Location"])
    for back in ("/", "/console/repositories", "/console/repository?name=team/app&next=abc"):
        response = await registry.client.get("/console/lang/hu", params={"back": back}, allow_redirects=False)
        assert response.headers["Location"] == back


async def test_signing_out_ends_the_session_everywhere(registry_with):
    registry = await registry_with()
    cookie, csrf = await sign_in(registry)
    copied = {"kikoto_console": cookie}
    assert "csrf" in await (await registry.client.get("/console/repositories", cookies=copied)).text()
    out = await registry.client.post("/console/sign-out", data={"csrf": csrf}, cookies=copied, allow_redirects=False)
    assert out.status == 303
    # the cookie copied before signing out is worth nothing now: the sign-in page, no data
    again = await registry.client.get("/console/repositories", cookies=copied)
    text = await again.text()
    assert "Access key ID" in text and "sign-out" not in text
    refused = await registry.client.post("/console/repositories", data={"csrf": csrf, "name": "sneaky"}, cookies=copied)
    assert refused.status == 401
    status, body = await registry.ecr("DescribeRepositories", {})
    assert [r["repositoryName"] for r in body["repositories"]] == []
    # a new sign-in with the same key works as before
    fresh, _ = await sign_in(registry)
    page = await registry.client.get("/console/repositories", cookies={"kikoto_console": fresh})
    assert "sign-out" in await page.text()


async def test_settings_sections_need_the_actions_the_api_needs(registry_with):
    registry = await registry_with()
    status, secret_row = await registry.ecr(
        "CreateSecret",
        {"Name": "ecr-pullthroughcache/hub", "SecretString": '{"username":"u","accessToken":"t"}'},
        service="secretsmanager",
    )
    assert status == 200, secret_row
    status, _ = await registry.ecr(
        "CreatePullThroughCacheRule",
        {
            "ecrRepositoryPrefix": "hub",
            "upstreamRegistryUrl": "registry-1.docker.io",
            "upstreamRegistry": "docker-hub",
            "credentialArn": secret_row["ARN"],
        },
    )
    assert status == 200
    templates_only = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "ecr:DescribeRepositoryCreationTemplates", "Resource": "*"}],
        }
    )
    status, _ = await registry.ecr(
        "CreateRepositoryCreationTemplate",
        {"prefix": "team", "appliedFor": ["CREATE_ON_PUSH", "REPLICATION"], "description": "for the team"},
    )
    assert status == 200
    key, secret = await registry.new_key("templates-reader", templates_only)
    cookie, _ = await sign_in(registry, key, secret)
    page = await (await registry.client.get("/console/settings", cookies={"kikoto_console": cookie})).text()
    assert "ecr-pullthroughcache" not in page and "registry-1.docker.io" not in page
    # the section it may see shows the template, its uses, mutability and description
    assert "<code>team</code>" in page and "a push creates the repository, replication creates it" in page
    assert "Mutable" in page and "for the team" in page
    assert "/console/settings/" not in page  # and no form: it may read the templates, not change them
    # nor may it post one: refused as the API would refuse the operation, and nothing is made
    cookie, csrf = await sign_in(registry, key, secret)
    form = {"csrf": csrf, "ecrRepositoryPrefix": "sneaky", "upstreamRegistryUrl": "quay.io"}
    posted = await registry.client.post(
        "/console/settings/CreatePullThroughCacheRule", data=form, cookies={"kikoto_console": cookie}
    )
    assert posted.status == 403, await posted.text()
    status, body = await registry.ecr("DescribePullThroughCacheRules", {})
    assert "sneaky" not in str(body)
    # a form names only the settings operations: anything else is no page at all
    other = await registry.client.post(
        "/console/settings/DeleteRepository",
        data={"csrf": csrf, "repositoryName": "x"},
        cookies={"kikoto_console": cookie},
    )
    assert other.status == 404
    # the API refuses the same principal the same data
    status, body = await registry.ecr("DescribePullThroughCacheRules", {}, key=key, secret=secret)
    assert status == 400 and body["__type"] == "AccessDeniedException"
    # the admin sees every section
    admin, _ = await sign_in(registry)
    page = await (await registry.client.get("/console/settings", cookies={"kikoto_console": admin})).text()
    assert "registry-1.docker.io" in page and "ecr-pullthroughcache/hub" in page
    # a principal with no settings action at all is refused, as the API refuses it
    images_only = templates_only.replace("ecr:DescribeRepositoryCreationTemplates", "ecr:DescribeImages")
    key, secret = await registry.new_key("reader", images_only)
    reader, _ = await sign_in(registry, key, secret)
    refused = await registry.client.get("/console/settings", cookies={"kikoto_console": reader})
    assert refused.status == 403 and "registry-1.docker.io" not in await refused.text()


async def test_console_forms_with_odd_input_are_answered_in_place(registry_with):
    registry = await registry_with()
    cookie, csrf = await sign_in(registry)
    cookies = {"kikoto_console": cookie}
    created = await registry.client.post(
        "/console/keys/create", data={"csrf": csrf, "principal": "ci", "role": "read-only"}, cookies=cookies
    )
    assert created.status == 200
    for form, expected in [
        ({"principal": "ci", "role": "admin"}, "another policy"),  # the principal exists with another role
        ({"principal": "", "role": "read-only"}, "invalid principal name"),
        ({"principal": "a b<script>", "role": "read-only"}, "invalid principal name"),
    ]:
        response = await registry.client.post("/console/keys/create", data={"csrf": csrf, **form}, cookies=cookies)
        text = await response.text()
        assert response.status == 400 and expected in text and "<script>" not in text, (form, response.status)
    response = await registry.client.post(
        "/console/keys/rotate", data={"csrf": csrf, "key_id": "AKIANOSUCHKEY0000000"}, cookies=cookies
    )
    assert response.status == 400 and "no access key AKIANOSUCHKEY0000000" in await response.text()


async def test_findings_without_a_fix_or_summary_render(registry_with):
    registry = await registry_with()
    ecr = registry.app[ECR]
    status, _ = await registry.ecr("CreateRepository", {"repositoryName": "app"})
    config = b'{"architecture":"amd64","os":"linux"}'
    await push_blob(await registry.authed(), "app", config)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": descriptor(config, "application/vnd.oci.image.config.v1+json"),
            "layers": [],
        }
    ).encode()
    response = await registry.client.put(
        "/v2/app/manifests/v1",
        data=manifest,
        headers={**await registry.basic(), "Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    )
    digest = response.headers["Docker-Content-Digest"]
    record = await ecr.repositories.get("app")
    bare = {
        "name": "CVE-2099-0001",
        "uri": "https://osv.dev/vulnerability/CVE-2099-0001",
        "severity": "LOW",
        "attributes": [{"key": "package_name", "value": "p"}],
    }  # no version, no fix, no description
    scanner = registry.app[SERVICES].features["scanning"].service
    await scanner.scans.request(record.id, digest, 0.0, manual=False)
    await scanner.scans.finish(record.id, digest, "COMPLETE", "done", {}, [bare], {"LOW": 1}, 1, 1.0)
    cookie, _ = await sign_in(registry)
    page = await registry.client.get(
        "/console/findings", params={"name": "app", "digest": digest}, cookies={"kikoto_console": cookie}
    )
    assert page.status == 200 and "CVE-2099-0001" in await page.text()


async def test_foreign_layer_sizes_that_add_up_past_64_bits_are_refused(registry_with):
    registry = await registry_with()
    config = b'{"architecture":"amd64","os":"linux"}'
    await push_blob(await registry.authed(), "app", config)
    foreign = {
        "mediaType": "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "size": 2**63 - 1,
        "urls": ["https://example.invalid/l"],
    }
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": descriptor(config, "application/vnd.oci.image.config.v1+json"),
            "layers": [{**foreign, "digest": "sha256:" + "1" * 64}, {**foreign, "digest": "sha256:" + "2" * 64}],
        }
    ).encode()
    response = await registry.client.put(
        "/v2/app/manifests/v1",
        data=manifest,
        headers={**await registry.basic(), "Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    )
    assert response.status == 400, await response.text()
    assert (await response.json())["errors"][0]["code"] == "MANIFEST_INVALID"
    status, body = await registry.ecr(
        "PutImage", {"repositoryName": "app", "imageManifest": manifest.decode(), "imageTag": "v2"}
    )
    assert status == 400 and body["__type"] == "InvalidParameterException", body
