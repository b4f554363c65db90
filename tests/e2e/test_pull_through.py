"""Pull-through cache: rules through the ECR API, credentials through the Secrets Manager subset,
and real clients pulling through Kikötő from CNCF Distribution (htpasswd) and from a second
Kikötő (Bearer-token challenge)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest
import requests
from botocore.exceptions import ClientError

from kikoto.domain.manifests import OCI_MANIFEST
from tests.conftest import require

from .conftest import (
    ADMIN_KEY,
    ADMIN_SECRET,
    REGION,
    VENV_BIN,
    Server,
    free_port,
    port_open,
    wait_until,
)
from .images import Layout
from .upstreams import Distribution
from .webhooks import Receiver

pytestmark = pytest.mark.e2e
INSECURE = {"KIKOTO_PULL_THROUGH_INSECURE_UPSTREAMS": "true"}


def secrets_client(server: Server):
    return server.client("secretsmanager")


@pytest.fixture
def upstream(tmp_path):
    require(Distribution.available())
    registry = Distribution(tmp_path / "upstream").start()
    yield registry
    registry.stop()


def push_to_upstream(skopeo, upstream: Distribution, layout: Layout, tag: str, repository: str) -> None:
    skopeo(
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        upstream.creds,
        f"oci:{layout.root}:{tag}",
        f"docker://{upstream.host}/{repository}:{tag}",
    )


def cache_rule(server: Server, upstream: Distribution, prefix: str = "hub", password: str | None = None) -> str:
    arn = secrets_client(server).create_secret(
        Name=f"ecr-pullthroughcache/{prefix}",
        SecretString=json.dumps({"username": upstream.user, "accessToken": password or upstream.password}),
    )["ARN"]
    server.ecr().create_pull_through_cache_rule(
        ecrRepositoryPrefix=prefix, upstreamRegistryUrl=upstream.url, credentialArn=arn
    )
    return arn


def test_real_clients_pull_through_the_cache_and_keep_pulling_when_the_upstream_is_gone(
    tmp_path, upstream, skopeo, podman
):
    layout = Layout(tmp_path / "images")
    image = layout.image("python-app", layers=3)
    layout.tag(image, "1.0.0")
    index = layout.multi_arch("node-app")
    layout.tag(index, "2.0.0")
    layout.tag(layout.image("never-pulled"), "9.9.9")
    for tag, repository in (("1.0.0", "team/python-app"), ("2.0.0", "team/node-app"), ("9.9.9", "team/python-app")):
        push_to_upstream(skopeo, upstream, layout, tag, repository)

    # one worker: /metrics counts per process
    server = Server(tmp_path / "data", workers=1, env={**INSECURE, "KIKOTO_PULL_THROUGH_TAG_TTL": "0"}).start()
    try:
        cache_rule(server, upstream)
        # skopeo: a byte-identical copy of the image, with the digest the upstream has
        out = tmp_path / "pulled"
        skopeo(
            "copy",
            "--src-tls-verify=false",
            "--src-creds",
            server.creds,
            f"docker://{server.host}/hub/team/python-app:1.0.0",
            f"oci:{out}:1.0.0",
        )
        pulled = json.loads((out / "index.json").read_text())["manifests"][0]
        assert pulled["digest"] == image["digest"]
        # podman: a multi-architecture index, its children fetched as the client asks
        podman("login", "--tls-verify=false", "-u", "AWS", "--password-stdin", server.host, stdin=server.password())
        podman("pull", "--tls-verify=false", "--arch", "arm64", f"{server.host}/hub/team/node-app:2.0.0")
        ecr = server.ecr()
        images = ecr.describe_images(repositoryName="hub/team/node-app")["imageDetails"]
        assert {tuple(i.get("imageTags", [])) for i in images} >= {("2.0.0",)}
        assert upstream.requests("GET", r"/v2/team/python-app/manifests/[^ ]+") >= 1

        # the upstream goes away: every cached tag and digest still pulls; the never-pulled tag fails clearly
        upstream.stop()
        skopeo(
            "inspect",
            "--tls-verify=false",
            "--creds",
            server.creds,
            f"docker://{server.host}/hub/team/python-app:1.0.0",
        )
        skopeo(
            "copy",
            "--src-tls-verify=false",
            "--src-creds",
            server.creds,
            f"docker://{server.host}/hub/team/python-app@{image['digest']}",
            f"oci:{tmp_path / 'again'}:x",
        )
        failed = requests.get(
            f"{server.url}/v2/hub/team/python-app/manifests/9.9.9",
            headers={**server.auth_headers(), "Accept": "application/vnd.oci.image.manifest.v1+json"},
        )
        assert failed.status_code == 503
        error = failed.json()["errors"][0]
        assert error["code"] == "UNAVAILABLE" and upstream.url in error["message"], error
        metrics = requests.get(f"{server.url}/metrics", auth=(ADMIN_KEY, ADMIN_SECRET)).text
        assert 'kikoto_pull_through_total{event="stale_serves"}' in metrics
    finally:
        server.stop()


def test_a_cache_repository_refuses_pushes_and_takes_the_pull_through_cache_template(tmp_path, upstream, skopeo):
    layout = Layout(tmp_path / "images")
    layout.tag(layout.image("app"), "1")
    push_to_upstream(skopeo, upstream, layout, "1", "app")
    server = Server(tmp_path / "data", env=INSECURE).start()
    try:
        ecr = server.ecr()
        ecr.create_repository_creation_template(
            prefix="hub",
            appliedFor=["PULL_THROUGH_CACHE"],
            imageTagMutability="IMMUTABLE",
            resourceTags=[{"Key": "team", "Value": "platform"}],
        )
        cache_rule(server, upstream)
        headers = {**server.auth_headers(), "Accept": "application/vnd.oci.image.manifest.v1+json"}
        response = requests.get(f"{server.url}/v2/hub/app/manifests/1", headers=headers)
        assert response.status_code == 200, response.text
        repo = ecr.describe_repositories(repositoryNames=["hub/app"])["repositories"][0]
        assert repo["imageTagMutability"] == "IMMUTABLE"
        assert ecr.list_tags_for_resource(resourceArn=repo["repositoryArn"])["tags"] == [
            {"Key": "team", "Value": "platform"}
        ]
        pushed = requests.put(
            f"{server.url}/v2/hub/app/manifests/2",
            data=response.content,
            headers={**server.auth_headers(), "Content-Type": response.headers["Content-Type"]},
        )
        assert pushed.status_code == 403 and pushed.json()["errors"][0]["code"] == "DENIED"
        assert "pull-through cache" in pushed.json()["errors"][0]["message"]
        upload = requests.post(f"{server.url}/v2/hub/app/blobs/uploads/", headers=server.auth_headers())
        assert upload.status_code == 403
        # lifecycle and GC treat cached images as any other; the pull time is recorded
        details = ecr.describe_images(repositoryName="hub/app")["imageDetails"][0]
        assert "lastRecordedPullTime" in details
    finally:
        server.stop()


def test_rule_validation_credentials_and_messages(tmp_path, upstream):
    server = Server(tmp_path / "data", env=INSECURE).start()
    try:
        ecr, secrets = server.ecr(), secrets_client(server)

        def error(call, **params) -> tuple[str, str]:
            with pytest.raises(ClientError) as caught:
                call(**params)
            return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]

        account = ecr.describe_registry()["registryId"]
        missing = f"arn:aws:secretsmanager:{REGION}:{account}:secret:ecr-pullthroughcache/none-AbCdEf"
        code, _ = error(
            ecr.create_pull_through_cache_rule,
            ecrRepositoryPrefix="hub",
            upstreamRegistryUrl=upstream.url,
            credentialArn=missing,
        )
        assert code == "SecretNotFoundException"
        code, message = error(
            ecr.create_pull_through_cache_rule,
            ecrRepositoryPrefix="quay",
            upstreamRegistry="docker-hub",
            upstreamRegistryUrl="quay.io",
        )
        assert code == "UnsupportedUpstreamRegistryException" and "registry-1.docker.io" in message
        code, message = error(
            ecr.create_pull_through_cache_rule,
            ecrRepositoryPrefix="hub2",
            upstreamRegistry="docker-hub",
            upstreamRegistryUrl="registry-1.docker.io",
        )
        assert code == "InvalidParameterException" and "credential" in message.lower()
        code, _ = error(ecr.delete_pull_through_cache_rule, ecrRepositoryPrefix="nope")
        assert code == "PullThroughCacheRuleNotFoundException"

        # wrong credentials: the rule is created, validation says why it cannot work, a pull names the upstream
        cache_rule(server, upstream, prefix="wrong", password="not-the-password")
        code, _ = error(
            ecr.create_pull_through_cache_rule,
            ecrRepositoryPrefix="wrong",
            upstreamRegistryUrl=upstream.url,
        )
        assert code == "PullThroughCacheRuleAlreadyExistsException"
        verdict = ecr.validate_pull_through_cache_rule(ecrRepositoryPrefix="wrong")
        assert verdict["isValid"] is False and "401" in verdict["failure"], verdict
        response = requests.get(f"{server.url}/v2/wrong/app/manifests/1", headers=server.auth_headers())
        assert response.status_code == 503 and upstream.url in response.json()["errors"][0]["message"]
        code, _ = error(ecr.describe_repositories, repositoryNames=["wrong/app"])  # the failed pull left none
        assert code == "RepositoryNotFoundException"
        # the right credentials, put with PutSecretValue, make it valid
        secrets.put_secret_value(
            SecretId="ecr-pullthroughcache/wrong",
            SecretString=json.dumps({"username": upstream.user, "accessToken": upstream.password}),
        )
        assert ecr.validate_pull_through_cache_rule(ecrRepositoryPrefix="wrong")["isValid"] is True

        # a key allowed one secret is refused the others: decisions are per secret ARN
        scoped = tmp_path / "scoped.json"
        scoped.write_text(
            json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": "secretsmanager:DescribeSecret",
                            "Resource": "arn:aws:secretsmanager:*:*:secret:ecr-pullthroughcache/wrong*",
                        }
                    ],
                }
            )
        )
        created = server.kikoto("keys", "create", "scoped", "--policy", str(scoped)).stdout
        scoped_key = created.split("AWS_ACCESS_KEY_ID=")[1].split()[0]
        scoped_secret = created.split("AWS_SECRET_ACCESS_KEY=")[1].split()[0]
        only_one = server.client("secretsmanager", scoped_key, scoped_secret)
        assert only_one.describe_secret(SecretId="ecr-pullthroughcache/wrong")["Name"] == "ecr-pullthroughcache/wrong"
        secrets.create_secret(Name="ecr-pullthroughcache/other", SecretString="{}")
        code, message = error(only_one.describe_secret, SecretId="ecr-pullthroughcache/other")
        assert code == "AccessDeniedException" and "secret:ecr-pullthroughcache/other" in message
        secrets.delete_secret(SecretId="ecr-pullthroughcache/other", ForceDeleteWithoutRecovery=True)

        # secrets: values go in and never come out
        described = secrets.describe_secret(SecretId="ecr-pullthroughcache/wrong")
        assert "SecretString" not in described and described["Name"] == "ecr-pullthroughcache/wrong"
        assert "not-the-password" not in json.dumps(secrets.list_secrets(), default=str)
        code, _ = error(secrets.get_secret_value, SecretId="ecr-pullthroughcache/wrong")
        assert code == "InvalidRequestException"
        code, _ = error(secrets.create_secret, Name="ecr-pullthroughcache/wrong", SecretString="{}")
        assert code == "ResourceExistsException"
        rules = ecr.describe_pull_through_cache_rules()["pullThroughCacheRules"]
        assert [r["ecrRepositoryPrefix"] for r in rules] == ["wrong"]
        page = ecr.describe_pull_through_cache_rules(maxResults=1)
        assert len(page["pullThroughCacheRules"]) == 1
        updated = ecr.update_pull_through_cache_rule(
            ecrRepositoryPrefix="wrong", credentialArn=rules[0]["credentialArn"]
        )
        assert updated["ecrRepositoryPrefix"] == "wrong"
        ecr.delete_pull_through_cache_rule(ecrRepositoryPrefix="wrong")
        secrets.delete_secret(SecretId="ecr-pullthroughcache/wrong", ForceDeleteWithoutRecovery=True)
        code, _ = error(secrets.describe_secret, SecretId="ecr-pullthroughcache/wrong")
        assert code == "ResourceNotFoundException"
    finally:
        server.stop()


def test_the_aws_cli_creates_the_secret_and_the_rule_and_a_second_kikoto_is_an_upstream(tmp_path, skopeo):
    """The README's commands, verbatim, against a Kikötő upstream that answers with a Bearer challenge."""
    upstream = Server(tmp_path / "upstream", env={"KIKOTO_AUTH_CHALLENGE": "bearer"}).start()
    server = Server(tmp_path / "data", env={**INSECURE, "KIKOTO_OUTBOX_INTERVAL": "0.1"}).start()
    hook = Receiver()
    try:
        layout = Layout(tmp_path / "images")
        image = layout.image("web")
        layout.tag(image, "v1")
        skopeo(
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            upstream.creds,
            f"oci:{layout.root}:v1",
            f"docker://{upstream.host}/platform/web:v1",
        )

        def aws(*args: str) -> dict:
            out = server.aws(*args)
            return json.loads(out) if out.strip() else {}

        secret = json.dumps({"username": "AWS", "accessToken": upstream.password()})
        arn = aws("secretsmanager", "create-secret", "--name", "ecr-pullthroughcache/peer", "--secret-string", secret)[
            "ARN"
        ]
        rule = aws(
            "ecr",
            "create-pull-through-cache-rule",
            "--ecr-repository-prefix",
            "peer",
            "--upstream-registry-url",
            upstream.url,
            "--credential-arn",
            arn,
        )
        assert rule["credentialArn"] == arn
        assert aws("ecr", "validate-pull-through-cache-rule", "--ecr-repository-prefix", "peer")["isValid"] is True
        pattern = tmp_path / "cache.json"
        pattern.write_text(json.dumps({"detail-type": ["ECR Pull Through Cache Action"]}))
        server.kikoto("events", "add-target", "cache", "--url", hook.url, "--pattern", str(pattern))
        skopeo(
            "copy",
            "--src-tls-verify=false",
            "--src-creds",
            server.creds,
            f"docker://{server.host}/peer/platform/web:v1",
            f"oci:{tmp_path / 'out'}:v1",
        )
        assert json.loads((tmp_path / "out" / "index.json").read_text())["manifests"][0]["digest"] == image["digest"]
        event = hook.wait_for(1)[0]
        assert event["detail"] == {
            "sync-status": "SUCCESS",
            "repository-name": "peer/platform/web",
            "ecr-repository-prefix": "peer",
            "upstream-registry-url": upstream.url,
            "image-digest": image["digest"],
            "image-tag": "v1",
        }

        # a signature pushed upstream as a referrer of the image is cached when a client asks for referrers
        empty = b"{}"
        upstream_auth = upstream.auth_headers()
        requests.post(
            f"{upstream.url}/v2/platform/web/blobs/uploads/?digest=sha256:{hashlib.sha256(empty).hexdigest()}",
            data=empty,
            headers=upstream_auth,
        ).raise_for_status()
        referrer = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "artifactType": "application/vnd.example.signature",
                "config": {
                    "mediaType": "application/vnd.oci.empty.v1+json",
                    "digest": f"sha256:{hashlib.sha256(empty).hexdigest()}",
                    "size": 2,
                },
                "layers": [],
                "subject": {"mediaType": OCI_MANIFEST, "digest": image["digest"], "size": image["size"]},
            }
        ).encode()
        requests.put(
            f"{upstream.url}/v2/platform/web/manifests/sig",
            data=referrer,
            headers={**upstream_auth, "Content-Type": OCI_MANIFEST},
        ).raise_for_status()
        found = requests.get(
            f"{server.url}/v2/peer/platform/web/referrers/{image['digest']}", headers=server.auth_headers()
        ).json()["manifests"]
        assert [m["artifactType"] for m in found] == ["application/vnd.example.signature"]
        assert found[0]["digest"] == "sha256:" + hashlib.sha256(referrer).hexdigest()
    finally:
        hook.close()
        server.stop()
        upstream.stop()


def test_tags_are_rechecked_once_per_ttl_and_an_upstream_rate_limit_is_passed_on(tmp_path, upstream, skopeo):
    layout = Layout(tmp_path / "images")
    layout.tag(layout.image("app"), "1")
    push_to_upstream(skopeo, upstream, layout, "1", "app")
    server = Server(tmp_path / "data", env=INSECURE).start()
    try:
        cache_rule(server, upstream)
        headers = {**server.auth_headers(), "Accept": OCI_MANIFEST}
        for _ in range(3):
            assert requests.get(f"{server.url}/v2/hub/app/manifests/1", headers=headers).status_code == 200
        asked = upstream.requests("HEAD", "/v2/app/manifests/1") + upstream.requests("GET", r"/v2/app/manifests/[^ ]+")
        assert asked == 2  # one HEAD, one GET by digest: the two later pulls were answered from the cache

        # an upstream that rate-limits: 429 with its Retry-After, as TOOMANYREQUESTS
        limited = subprocess.Popen(
            [
                str(VENV_BIN / "python"),
                "-c",
                "import sys; from aiohttp import web\n"
                "async def h(r): return web.Response(status=429, headers={'Retry-After': '17'})\n"
                "app = web.Application(); app.router.add_route('*', '/{p:.*}', h)\n"
                "web.run_app(app, host='127.0.0.1', port=int(sys.argv[1]), print=None)",
                str(port := free_port()),
            ]
        )
        try:
            wait_until(lambda: port_open(port), what="the rate-limiting upstream to listen")
            server.ecr().create_pull_through_cache_rule(
                ecrRepositoryPrefix="limited", upstreamRegistryUrl=f"http://127.0.0.1:{port}"
            )
            answer = requests.get(f"{server.url}/v2/limited/app/manifests/1", headers=headers)
            assert answer.status_code == 429 and answer.headers["Retry-After"] == "17"
            assert answer.json()["errors"][0]["code"] == "TOOMANYREQUESTS"
        finally:
            limited.terminate()
    finally:
        server.stop()


def big_image(layout: Layout, size: int) -> tuple[dict, dict]:
    """An image whose one layer is `size` random bytes, written in 1 MiB steps (the registry
    does not look inside layers)."""
    digest, blob = hashlib.sha256(), layout.root / "blobs" / "sha256" / "big.tmp"
    with open(blob, "wb") as out:
        for _ in range(size >> 20):
            chunk = os.urandom(1 << 20)
            digest.update(chunk)
            out.write(chunk)
    blob.rename(blob.with_name(digest.hexdigest()))
    layer = {
        "mediaType": "application/vnd.oci.image.layer.v1.tar",
        "digest": f"sha256:{digest.hexdigest()}",
        "size": size,
    }
    config = layout.blob(
        b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}',
        "application/vnd.oci.image.config.v1+json",
    )
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": [layer]}
    return layout.blob(json.dumps(manifest).encode(), OCI_MANIFEST), layer


def test_sixteen_concurrent_pulls_of_a_256_mib_layer_fetch_it_once_with_flat_memory(tmp_path, upstream, skopeo):
    layout = Layout(tmp_path / "images")
    size = 256 << 20
    image, layer = big_image(layout, size)
    layout.tag(image, "big")
    push_to_upstream(skopeo, upstream, layout, "big", "data/big")
    server = Server(tmp_path / "data", workers=2, env=INSECURE).start()
    try:
        cache_rule(server, upstream)
        headers = server.auth_headers()
        manifest = requests.get(
            f"{server.url}/v2/hub/data/big/manifests/big", headers={**headers, "Accept": OCI_MANIFEST}
        )
        assert manifest.status_code == 200, manifest.text
        layer = manifest.json()["layers"][0]  # skopeo may have compressed it on the way up
        assert layer["size"] > size * 0.9
        workers = psutil.Process(server.process.pid).children()
        before = {w.pid: w.memory_info().rss for w in workers}

        def pull(_: int) -> str:
            hasher = hashlib.sha256()
            with requests.get(
                f"{server.url}/v2/hub/data/big/blobs/{layer['digest']}", headers=headers, stream=True
            ) as r:
                assert r.status_code == 200, r.text
                for chunk in r.iter_content(1 << 20):
                    hasher.update(chunk)
            return "sha256:" + hasher.hexdigest()

        peak = {w.pid: 0 for w in workers}
        with ThreadPoolExecutor(16) as pool:
            pulls = [pool.submit(pull, n) for n in range(16)]
            while not all(p.done() for p in pulls):
                for w in workers:
                    peak[w.pid] = max(peak[w.pid], w.memory_info().rss)
                time.sleep(0.05)
            digests = [p.result() for p in pulls]
        assert digests == [layer["digest"]] * 16
        assert upstream.requests("GET", f"/v2/data/big/blobs/{layer['digest']}") == 1
        grown = max(peak[pid] - before[pid] for pid in before) / 2**20
        print(f"16 pulls of {layer['size'] >> 20} MiB: worker RSS grew at most {grown:.1f} MiB")
        assert grown < 64, f"a worker grew by {grown:.1f} MiB"
    finally:
        server.stop()


def test_containerd_pulls_and_unpacks_through_the_cache(tmp_path, upstream, skopeo, containerd):
    layout = Layout(tmp_path / "images")
    image = layout.image("kube-app", layers=2)
    layout.tag(image, "1.0")
    push_to_upstream(skopeo, upstream, layout, "1.0", "kube-app")
    server = Server(tmp_path / "data", env=INSECURE).start()
    try:
        cache_rule(server, upstream)
        reference = f"{server.host}/hub/kube-app:1.0"
        containerd("images", "pull", "--plain-http", "--snapshotter", "native", "--user", server.creds, reference)
        listed = containerd("images", "ls", "-q").stdout.split()
        assert reference in listed
        assert image["digest"] in containerd("images", "ls").stdout
    finally:
        server.stop()


def test_only_principals_allowed_to_import_fill_the_cache(tmp_path, upstream, skopeo):
    layout = Layout(tmp_path / "images")
    layout.tag(layout.image("one"), "1")
    layout.tag(layout.image("two"), "2")
    for tag in ("1", "2"):
        push_to_upstream(skopeo, upstream, layout, tag, "app")
    server = Server(tmp_path / "data", env=INSECURE).start()
    try:
        cache_rule(server, upstream)
        accept = {"Accept": OCI_MANIFEST}
        assert requests.get(f"{server.url}/v2/hub/app/manifests/1", headers={**server.auth_headers(), **accept}).ok
        created = server.kikoto("keys", "create", "reader", "--role", "read-only").stdout
        key = created.split("AWS_ACCESS_KEY_ID=")[1].split()[0]
        secret = created.split("AWS_SECRET_ACCESS_KEY=")[1].split()[0]
        reader = {
            **accept,
            "Authorization": "Basic " + base64.b64encode(f"AWS:{server.password(key, secret)}".encode()).decode(),
        }
        assert requests.get(f"{server.url}/v2/hub/app/manifests/1", headers=reader).status_code == 200  # cached
        uncached = requests.get(f"{server.url}/v2/hub/app/manifests/2", headers=reader)
        assert uncached.status_code == 404 and "not cached" in uncached.json()["errors"][0]["message"]
        new_repository = requests.get(f"{server.url}/v2/hub/other/manifests/1", headers=reader)
        assert new_repository.status_code == 403
        assert "ecr:BatchImportUpstreamImage" in new_repository.json()["errors"][0]["message"]
        assert upstream.requests("GET", r"/v2/app/manifests/[^ ]+") == 1  # the reader caused no upstream fetch
        readers_secrets = server.client("secretsmanager", key, secret)
        with pytest.raises(ClientError) as denied:
            readers_secrets.list_secrets()
        assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    finally:
        server.stop()


def test_a_client_that_leaves_does_not_abort_the_fetch_others_wait_for(tmp_path, upstream, skopeo):
    layout = Layout(tmp_path / "images")
    image, _ = big_image(layout, 64 << 20)
    layout.tag(image, "big")
    push_to_upstream(skopeo, upstream, layout, "big", "big")
    server = Server(tmp_path / "data", workers=1, env=INSECURE).start()
    try:
        cache_rule(server, upstream)
        headers = server.auth_headers()
        manifest = requests.get(f"{server.url}/v2/hub/big/manifests/big", headers={**headers, "Accept": OCI_MANIFEST})
        layer = manifest.json()["layers"][0]
        url = f"{server.url}/v2/hub/big/blobs/{layer['digest']}"
        leaving = requests.get(url, headers=headers, stream=True)
        assert len(next(leaving.iter_content(1 << 20))) > 0  # the first bytes arrive before the fetch ends
        staying = ThreadPoolExecutor(1).submit(lambda: requests.get(url, headers=headers).content)
        leaving.close()  # this client goes away mid-blob
        content = staying.result(timeout=120)
        assert "sha256:" + hashlib.sha256(content).hexdigest() == layer["digest"]
        assert upstream.requests("GET", f"/v2/big/blobs/{layer['digest']}") == 1
    finally:
        server.stop()


BAD_UPSTREAM = """
import hashlib, json, sys
from aiohttp import web
config = b'{"architecture":"amd64","os":"linux"}'
claimed = b"the bytes the manifest promises" * 1000
sent = b"other bytes, of the same length!" * 1000
def descriptor(media_type, data):
    return {"mediaType": media_type, "digest": "sha256:" + hashlib.sha256(data).hexdigest(), "size": len(data)}
manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": descriptor("application/vnd.oci.image.config.v1+json", config),
    "layers": [descriptor("application/vnd.oci.image.layer.v1.tar", claimed)]}).encode()
async def handle(request):
    path = request.path
    if path == "/v2/":
        return web.json_response({})
    if "/manifests/" in path:
        headers = {"Content-Type": "application/vnd.oci.image.manifest.v1+json",
                   "Docker-Content-Digest": "sha256:" + hashlib.sha256(manifest).hexdigest()}
        return web.Response(body=None if request.method == "HEAD" else manifest, headers=headers)
    if path.endswith(descriptor("", claimed)["digest"]):
        return web.Response(body=sent)
    if path.endswith(descriptor("", config)["digest"]):
        return web.Response(body=config)
    return web.json_response({"errors": [{"code": "BLOB_UNKNOWN"}]}, status=404)
app = web.Application()
app.router.add_route("*", "/{p:.*}", handle)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""


def test_bytes_that_do_not_match_their_digest_are_never_committed(tmp_path):
    port = free_port()
    bad = subprocess.Popen([str(VENV_BIN / "python"), "-c", BAD_UPSTREAM, str(port)])
    server = Server(tmp_path / "data", env=INSECURE).start()
    try:
        wait_until(lambda: port_open(port), what="the lying upstream to listen")
        ecr = server.ecr()
        ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="bad", upstreamRegistryUrl=f"http://127.0.0.1:{port}")
        headers = server.auth_headers()
        manifest = requests.get(f"{server.url}/v2/bad/app/manifests/1", headers={**headers, "Accept": OCI_MANIFEST})
        assert manifest.status_code == 200
        layer = manifest.json()["layers"][0]["digest"]
        with pytest.raises(requests.exceptions.RequestException):
            response = requests.get(f"{server.url}/v2/bad/app/blobs/{layer}", headers=headers)
            # the bytes streamed, then the connection was cut when the digest did not verify
            assert "sha256:" + hashlib.sha256(response.content).hexdigest() == layer
        checked = ecr.batch_check_layer_availability(repositoryName="bad/app", layerDigests=[layer])
        assert checked["layers"][0]["layerAvailability"] == "UNAVAILABLE", checked
    finally:
        server.stop()
        bad.terminate()
