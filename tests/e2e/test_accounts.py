"""Several accounts in one registry: `kikoto accounts`, principals of each account, repositories
kept apart (every listing and read walked as another account's principal finds nothing), and
ECR's cross-account pull policy from its documentation, with boto3, the aws CLI and skopeo."""

from __future__ import annotations

import base64
import json
import subprocess

import pytest
import requests
from botocore.exceptions import ClientError

from .conftest import Server
from .images import Layout, push_layout

pytestmark = pytest.mark.e2e

A, B = "111122223333", "222233334444"

# ECR's documentation, "Repository policy examples": allow another account to pull, verbatim but
# for the account id (https://docs.aws.amazon.com/AmazonECR/latest/userguide/repository-policy-examples.html)
CROSS_ACCOUNT_PULL = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "AllowCrossAccountPull",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{B}:root"},
            "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
        }
    ],
}


# ECR's documentation, same page: allow another account (here a CI account) to push and pull.
CI = "333344445555"
CROSS_ACCOUNT_PUSH_PULL = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "AllowPushPull",
            "Effect": "Allow",
            "Principal": {"AWS": [f"arn:aws:iam::{CI}:root"]},
            "Action": [
                "ecr:BatchGetImage",
                "ecr:BatchCheckLayerAvailability",
                "ecr:CompleteLayerUpload",
                "ecr:GetDownloadUrlForLayer",
                "ecr:InitiateLayerUpload",
                "ecr:PutImage",
                "ecr:UploadLayerPart",
            ],
        }
    ],
}


# ECR's documentation, "Private registry permissions": the destination account lets a source
# account replicate into it and create the repositories replication needs.
def registry_permissions(source: str, destination: str) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReplicationAccessCrossAccount",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{source}:root"},
                "Action": ["ecr:CreateRepository", "ecr:ReplicateImage"],
                "Resource": f"arn:aws:ecr:us-east-1:{destination}:repository/*",
            }
        ],
    }


def keys_of(created: str) -> tuple[str, str]:
    return created.split("AWS_ACCESS_KEY_ID=")[1].split()[0], created.split("AWS_SECRET_ACCESS_KEY=")[1].split()[0]


def code(call, **params) -> str:
    with pytest.raises(ClientError) as caught:
        call(**params)
    return caught.value.response["Error"]["Code"]


def login(server: Server, key: str, secret: str) -> str:
    token = server.ecr(key, secret).get_authorization_token()["authorizationData"][0]["authorizationToken"]
    return base64.b64decode(token).decode()


def test_accounts_keep_their_repositories_apart_and_grant_each_other_by_policy(tmp_path, skopeo):
    server = Server(tmp_path / "data").start()
    try:
        assert (
            "created account 111122223333 (team-a)"
            in server.kikoto("accounts", "create", A, "--alias", "team-a").stdout
        )
        server.kikoto("accounts", "create", B)
        refused = server.kikoto("accounts", "create", B, check=False)
        assert refused.returncode == 1 and f"account {B} exists" in refused.stderr
        listed = server.kikoto("accounts", "list").stdout
        assert all(account in listed for account in ("000000000000", A, B)) and "team-a" in listed
        alice = keys_of(server.kikoto("keys", "create", "alice", "--account", A, "--role", "admin").stdout)
        bob = keys_of(server.kikoto("keys", "create", "bob", "--account", B, "--role", "admin").stdout)
        reader = keys_of(
            server.kikoto(
                "keys",
                "create",
                "b-lister",
                "--account",
                B,
                "--policy",
                str(_policy(tmp_path, ["ecr:DescribeRepositories", "ecr:DescribeImages"])),
            ).stdout
        )
        assert f"{'alice'}" in server.kikoto("keys", "list").stdout
        missing = server.kikoto("keys", "create", "nobody", "--account", "999999999999", check=False)
        assert missing.returncode == 1 and "no account 999999999999" in missing.stderr

        # each account's repositories are its own: the same name twice, two repositories
        as_alice, as_bob, admin = server.ecr(*alice), server.ecr(*bob), server.ecr()
        made = as_alice.create_repository(repositoryName="app")["repository"]
        assert made["registryId"] == A and made["repositoryArn"] == f"arn:aws:ecr:us-east-1:{A}:repository/app"
        assert made["repositoryUri"] == f"{server.host}/app"
        admin.create_repository(repositoryName="app")
        layout = Layout(tmp_path / "layout")
        layout.tag(layout.image("one"), "1.0")
        push_layout(skopeo, server, layout, "1.0", "app", creds=login(server, *alice))
        skopeo(
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            login(server, *alice),
            f"oci:{layout.root}:1.0",
            f"docker://{server.host}/app:1.0",
        )
        assert [i["imageTags"] for i in as_alice.describe_images(repositoryName="app")["imageDetails"]] == [["1.0"]]
        assert admin.describe_images(repositoryName="app")["imageDetails"] == []  # the first account's app
        assert [r["repositoryName"] for r in as_alice.describe_repositories()["repositories"]] == ["app"]
        catalog = requests.get(f"{server.url}/v2/_catalog", auth=tuple(login(server, *alice).split(":", 1)))
        assert catalog.json() == {"repositories": ["app"]}

        # the isolation walk: everything account B's admin may list or read of account A
        assert as_bob.describe_repositories()["repositories"] == []
        repo_arn = made["repositoryArn"]
        for call, params in [
            (as_bob.describe_repositories, {"registryId": A}),
            (as_bob.describe_repositories, {"registryId": A, "repositoryNames": ["app"]}),
            (as_bob.list_images, {"registryId": A, "repositoryName": "app"}),
            (as_bob.describe_images, {"registryId": A, "repositoryName": "app"}),
            (as_bob.batch_get_image, {"registryId": A, "repositoryName": "app", "imageIds": [{"imageTag": "1.0"}]}),
            (as_bob.get_repository_policy, {"registryId": A, "repositoryName": "app"}),
            (as_bob.get_lifecycle_policy, {"registryId": A, "repositoryName": "app"}),
            (as_bob.list_tags_for_resource, {"resourceArn": repo_arn}),
            (
                as_bob.describe_image_scan_findings,
                {"registryId": A, "repositoryName": "app", "imageId": {"imageTag": "1.0"}},
            ),
            (as_bob.delete_repository, {"registryId": A, "repositoryName": "app", "force": True}),
        ]:
            assert code(call, **params) == "AccessDeniedException", (call, params)
        assert code(as_bob.describe_images, repositoryName="app") == "RepositoryNotFoundException"  # B has no app
        bob_login = tuple(login(server, *bob).split(":", 1))
        assert requests.get(f"{server.url}/v2/_catalog", auth=bob_login).json() == {"repositories": []}
        tags = requests.get(f"{server.url}/v2/app/tags/list", auth=bob_login)
        assert tags.status_code == 404 and tags.json()["errors"][0]["code"] == "NAME_UNKNOWN"
        assert "~" not in tags.text  # the answer names the repository as the client did
        assert requests.get(f"{server.url}/v2/_kikoto/audit", auth=bob_login).status_code == 403
        assert requests.get(f"{server.url}/metrics", auth=bob).status_code == 403
        described = as_bob.describe_registry()  # B's own: empty (not kept apart yet, so B has none)
        assert (described["registryId"], described["replicationConfiguration"]) == (B, {"rules": []})
        replication = {"rules": [{"destinations": [{"region": "us-east-1", "registryId": A}]}]}
        assert code(as_bob.put_replication_configuration, replicationConfiguration=replication) == (
            "UnsupportedOperationException"
        )
        # a cross-repository mount of A's layer into B's own repository: refused (a fresh upload instead)
        as_bob.create_repository(repositoryName="mine")
        layer = json.loads(
            as_alice.batch_get_image(repositoryName="app", imageIds=[{"imageTag": "1.0"}])["images"][0]["imageManifest"]
        )["layers"][0]["digest"]
        for source in ({"from": "app"}, {"from": f"~{A}/app"}, {}):
            mount = requests.post(
                f"{server.url}/v2/mine/blobs/uploads/", params={"mount": layer, **source}, auth=bob_login
            )
            assert mount.status_code == 202, (source, mount.status_code)  # not mounted: an upload to fill
        referrers = requests.get(f"{server.url}/v2/app/referrers/{layer}", auth=bob_login)
        assert referrers.json()["manifests"] == []  # B's own (missing) app's, never A's

        # ECR's cross-account pull policy: B may pull A's app, with its own identity policy too
        as_alice.set_repository_policy(repositoryName="app", policyText=json.dumps(CROSS_ACCOUNT_PULL))
        got = as_bob.batch_get_image(registryId=A, repositoryName="app", imageIds=[{"imageTag": "1.0"}])
        assert got["images"][0]["registryId"] == A and got["images"][0]["repositoryName"] == "app"
        layer = json.loads(got["images"][0]["imageManifest"])["layers"][0]["digest"]
        url = as_bob.get_download_url_for_layer(registryId=A, repositoryName="app", layerDigest=layer)["downloadUrl"]
        assert requests.get(url).status_code == 200
        mounted = requests.post(f"{server.url}/v2/mine/blobs/uploads/", params={"mount": layer}, auth=bob_login)
        assert mounted.status_code == 201  # now A's policy lets B read the layer: mounted from A's app
        assert code(as_bob.list_images, registryId=A, repositoryName="app") == "AccessDeniedException"  # not granted
        as_reader = server.ecr(*reader)  # B's principal whose own policy does not pull: both must allow
        assert (
            code(as_reader.batch_get_image, registryId=A, repositoryName="app", imageIds=[{"imageTag": "1.0"}])
            == "AccessDeniedException"
        )

        # the aws CLI addresses another account's repository by --registry-id, as on ECR
        cli = _aws_as(server, bob, tmp_path)
        out = cli(
            "ecr", "batch-get-image", "--registry-id", A, "--repository-name", "app", "--image-ids", "imageTag=1.0"
        )
        assert json.loads(out)["images"][0]["imageId"]["imageTag"] == "1.0"

        # B's registry permissions (its own registry policy, with the aws CLI) let A create in B
        assert code(as_alice.create_repository, registryId=B, repositoryName="from-a") == "AccessDeniedException"
        (tmp_path / "registry.json").write_text(json.dumps(registry_permissions(A, B)))
        cli("ecr", "put-registry-policy", "--policy-text", f"file://{tmp_path / 'registry.json'}")
        assert json.loads(cli("ecr", "get-registry-policy"))["registryId"] == B
        assert code(admin.get_registry_policy) == "RegistryPolicyNotFoundException"  # the first account's: none
        created = as_alice.create_repository(registryId=B, repositoryName="from-a")["repository"]
        assert created["registryId"] == B and created["repositoryArn"].endswith(f":{B}:repository/from-a")
        assert [r["repositoryName"] for r in as_bob.describe_repositories()["repositories"]] == ["from-a", "mine"]
        as_bob.tag_resource(resourceArn=created["repositoryArn"], tags=[{"Key": "team", "Value": "b"}])
        assert as_bob.list_tags_for_resource(resourceArn=created["repositoryArn"])["tags"] == [
            {"Key": "team", "Value": "b"}
        ]
        assert code(as_alice.delete_repository, registryId=B, repositoryName="from-a") == "AccessDeniedException"
        as_bob.put_account_setting(name="BLOB_MOUNTING", value="DISABLED")  # B's setting, not A's
        assert as_alice.get_account_setting(name="BLOB_MOUNTING")["value"] == "ENABLED"

        # an account with repositories or principals is not deleted
        refused = server.kikoto("accounts", "delete", A, check=False)
        assert refused.returncode == 1 and "still holds 1 repositories and 1 principals" in refused.stderr
        server.kikoto("accounts", "create", "333344445555")
        assert "deleted account 333344445555" in server.kikoto("accounts", "delete", "333344445555").stdout
    finally:
        server.stop()


def _policy(tmp_path, actions: list[str]):
    path = tmp_path / f"policy-{len(actions)}.json"
    path.write_text(
        json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]})
    )
    return path


def _aws_as(server: Server, keys: tuple[str, str], tmp_path):
    """The aws CLI as the owner of `keys`."""
    return lambda *args: server.aws(*args, keys=keys)


def test_ecr_shaped_hostnames_route_to_their_account(tmp_path, skopeo):
    """With --registry-domain, each account answers at <account>.dkr.ecr.<region>.<domain>: the
    login's proxyEndpoint and repositoryUri name it, /v2 on that host is the account's registry
    (curl resolves the names with --resolve; skopeo runs in a mount namespace of its own whose
    /etc/hosts names them: the machine's hosts file is never touched)."""
    server = Server(tmp_path / "data", extra=["--registry-domain", "example.net"]).start()
    try:
        server.kikoto("accounts", "create", A)
        server.kikoto("accounts", "create", B)
        alice = keys_of(server.kikoto("keys", "create", "alice", "--account", A, "--role", "admin").stdout)
        bob = keys_of(server.kikoto("keys", "create", "bob", "--account", B, "--role", "admin").stdout)
        host_a = f"{A}.dkr.ecr.us-east-1.example.net:{server.port}"
        as_alice = server.ecr(*alice)
        data = as_alice.get_authorization_token()["authorizationData"][0]
        assert data["proxyEndpoint"] == f"http://{host_a}"
        made = as_alice.create_repository(repositoryName="team/app")["repository"]
        assert made["repositoryUri"] == f"{host_a}/team/app"
        assert server.ecr().get_authorization_token()["authorizationData"][0]["proxyEndpoint"] == (
            f"http://000000000000.dkr.ecr.us-east-1.example.net:{server.port}"
        )

        # skopeo pushes to account A's host with A's login, from its own hosts file
        hosts = tmp_path / "hosts"
        names = " ".join(f"{a}.dkr.ecr.us-east-1.example.net" for a in ("000000000000", A, B))
        hosts.write_text(f"127.0.0.1 localhost {names}\n")
        layout = Layout(tmp_path / "layout")
        layout.tag(layout.image("hosted"), "1.0")
        skopeo_in_namespace(
            hosts,
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            login(server, *alice),
            f"oci:{layout.root}:1.0",
            f"docker://{host_a}/team/app:1.0",
        )
        assert as_alice.describe_images(repositoryName="team/app")["imageDetails"][0]["imageTags"] == ["1.0"]

        # the Host chooses the registry: B's admin finds nothing at A's host until A's policy grants
        bob_login = login(server, *bob)
        manifest = curl_as(bob_login, host_a, server.port, "/v2/team/app/manifests/1.0")
        assert manifest.returncode == 0 and manifest.stdout.endswith("403")
        catalog = curl_as(bob_login, host_a, server.port, "/v2/_catalog")
        assert catalog.stdout.endswith("403")  # B may not list A's registry
        as_alice.set_repository_policy(repositoryName="team/app", policyText=json.dumps(CROSS_ACCOUNT_PULL))
        pulled = curl_as(bob_login, host_a, server.port, "/v2/team/app/manifests/1.0")
        assert pulled.stdout.endswith("200") and '"schemaVersion"' in pulled.stdout
        skopeo_in_namespace(
            hosts, "inspect", "--tls-verify=false", "--creds", bob_login, f"docker://{host_a}/team/app:1.0"
        )
        # the CI account pushes into A's repository once A's policy (set with the aws CLI) lets it
        server.kikoto("accounts", "create", CI)
        ci = keys_of(server.kikoto("keys", "create", "ci", "--account", CI, "--role", "power-user").stdout)
        layout.tag(layout.image("from-ci"), "ci")
        push = [
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            login(server, *ci),
            f"oci:{layout.root}:ci",
            f"docker://{host_a}/team/app:ci",
        ]
        with pytest.raises(AssertionError, match="denied|unauthorized|403"):
            skopeo_in_namespace(hosts, *push)
        (tmp_path / "push.json").write_text(json.dumps(CROSS_ACCOUNT_PUSH_PULL))
        _aws_as(server, alice, tmp_path)(
            "ecr",
            "set-repository-policy",
            "--repository-name",
            "team/app",
            "--policy-text",
            f"file://{tmp_path / 'push.json'}",
        )
        skopeo_in_namespace(hosts, *push)
        tags = {t for i in as_alice.describe_images(repositoryName="team/app")["imageDetails"] for t in i["imageTags"]}
        assert tags == {"1.0", "ci"}
        assert (
            code(
                server.ecr(*bob).batch_get_image, registryId=A, repositoryName="team/app", imageIds=[{"imageTag": "ci"}]
            )
            == "AccessDeniedException"
        )  # B's grant was replaced

        # at B's own host the name is B's (and B has no such repository)
        host_b = f"{B}.dkr.ecr.us-east-1.example.net:{server.port}"
        assert curl_as(bob_login, host_b, server.port, "/v2/team/app/manifests/1.0").stdout.endswith("404")
    finally:
        server.stop()


def curl_as(credentials: str, host: str, port: int, path: str) -> subprocess.CompletedProcess:
    """GET http://<host><path> with Basic credentials, the name resolved to 127.0.0.1 by curl
    itself; its output ends with the status code."""
    name = host.rsplit(":", 1)[0]
    return subprocess.run(
        [
            "curl",
            "-s",
            "--resolve",
            f"{name}:{port}:127.0.0.1",
            "-u",
            credentials,
            "-w",
            "%{http_code}",
            "-H",
            "Accept: application/vnd.oci.image.manifest.v1+json",
            f"http://{host}{path}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


def skopeo_in_namespace(hosts, *args: str) -> None:
    """skopeo in a private mount namespace whose /etc/hosts is `hosts` (Go clients read it)."""
    import shlex

    command = f"mount --bind {shlex.quote(str(hosts))} /etc/hosts && exec skopeo {shlex.join(args)}"
    result = subprocess.run(["unshare", "--mount", "sh", "-c", command], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"skopeo {' '.join(args)} failed:\n{result.stderr}"


def test_replication_into_another_account_of_the_same_registry_needs_its_registry_permissions(tmp_path, skopeo):
    """The first account replicates `shared/*` to accounts B and C of the same Kikötő: B's
    registry policy (ECR's documented registry permissions) lets it in, C's absence of one keeps
    it out (the attempts fail, retried, and C gets nothing); B's copy is pulled by B's principal."""
    from .conftest import wait_until

    server = Server(tmp_path / "data").start()
    try:
        for account in (B, CI):
            server.kikoto("accounts", "create", account)
        bob = keys_of(server.kikoto("keys", "create", "bob", "--account", B, "--role", "admin").stdout)
        carol = keys_of(server.kikoto("keys", "create", "carol", "--account", CI, "--role", "admin").stdout)
        as_bob, as_carol, admin = server.ecr(*bob), server.ecr(*carol), server.ecr()
        as_bob.put_registry_policy(policyText=json.dumps(registry_permissions("000000000000", B)))
        admin.put_replication_configuration(
            replicationConfiguration={
                "rules": [
                    {
                        "destinations": [
                            {"region": "us-east-1", "registryId": B},
                            {"region": "us-east-1", "registryId": CI},
                        ],
                        "repositoryFilters": [{"filter": "shared", "filterType": "PREFIX_MATCH"}],
                    }
                ]
            }
        )
        admin.create_repository(repositoryName="shared/app")
        layout = Layout(tmp_path / "layout")
        layout.tag(layout.image("replicated"), "2.0")
        push_layout(skopeo, server, layout, "2.0", "shared/app")
        skopeo(
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            server.creds,
            f"oci:{layout.root}:2.0",
            f"docker://{server.host}/shared/app:2.0",
        )

        def statuses() -> dict[str, tuple[str, str]]:
            found = admin.describe_image_replication_status(repositoryName="shared/app", imageId={"imageTag": "2.0"})
            return {s["registryId"]: (s["status"], s.get("failureCode", "")) for s in found["replicationStatuses"]}

        wait_until(lambda: statuses().get(B, ("",))[0] == "COMPLETE", what="replication into account B")
        copied = as_bob.describe_images(repositoryName="shared/app")["imageDetails"]
        assert [i["imageTags"] for i in copied] == [["2.0"]] and copied[0]["registryId"] == B
        skopeo(
            "inspect", "--tls-verify=false", "--creds", login(server, *bob), f"docker://{server.host}/shared/app:2.0"
        )
        refused = wait_until(
            lambda: "not authorized" in statuses().get(CI, ("", ""))[1] and statuses()[CI], what="C's refusal"
        )
        assert refused[0] in ("IN_PROGRESS", "FAILED") and "ecr:ReplicateImage" in refused[1]
        assert as_carol.describe_repositories()["repositories"] == []  # C granted nothing: got nothing
    finally:
        server.stop()


def test_replication_to_an_account_of_another_kikoto(tmp_path, skopeo):
    """A rule whose destination is account B of a second Kikötő: the peer's key is a principal
    of B there, so the copy lands in B's registry (not the second Kikötő's first account); a
    destination whose key B's policies do not let push gets nothing (the attempts are refused)."""
    from .conftest import wait_until

    peer = Server(tmp_path / "peer").start()
    source = Server(tmp_path / "source", env={"KIKOTO_OUTBOX_INTERVAL": "0.1"}).start()
    try:
        for account in (B, CI):
            peer.kikoto("accounts", "create", account)
        replicator = keys_of(peer.kikoto("keys", "create", "replicator", "--account", B, "--role", "admin").stdout)
        reader = keys_of(peer.kikoto("keys", "create", "ci-reader", "--account", CI, "--role", "read-only").stdout)
        for account, (key, secret) in ((B, replicator), (CI, reader)):
            source.kikoto(
                "peers",
                "add",
                "--region",
                "us-east-1",
                "--registry-id",
                account,
                "--url",
                peer.url,
                "--access-key-id",
                key,
                "--secret-access-key",
                secret,
            )
        rule = {"destinations": [{"region": "us-east-1", "registryId": a} for a in (B, CI)]}
        source.ecr().put_replication_configuration(replicationConfiguration={"rules": [rule]})
        source.ecr().create_repository(repositoryName="team/api")
        layout = Layout(tmp_path / "layout")
        layout.tag(layout.image("across"), "3.0")
        push_layout(skopeo, source, layout, "3.0", "team/api")

        def statuses() -> dict[str, tuple[str, str]]:
            found = source.ecr().describe_image_replication_status(
                repositoryName="team/api", imageId={"imageTag": "3.0"}
            )
            return {s["registryId"]: (s["status"], s.get("failureCode", "")) for s in found["replicationStatuses"]}

        wait_until(lambda: statuses().get(B, ("",))[0] == "COMPLETE", what=f"replication to B on the peer {statuses()}")
        in_b = peer.ecr(*replicator).describe_images(repositoryName="team/api")["imageDetails"]
        assert [i["imageTags"] for i in in_b] == [["3.0"]] and in_b[0]["registryId"] == B
        assert peer.ecr().describe_repositories()["repositories"] == []  # the peer's first account: nothing
        wait_until(lambda: statuses().get(CI, ("", ""))[1], what="the refusal for C")
        assert statuses()[CI][0] != "COMPLETE"
        assert peer.ecr(*reader).describe_repositories()["repositories"] == []
    finally:
        source.stop()
        peer.stop()
