"""CI without a stored key: a job's OIDC token (as GitHub Actions issues one) exchanged with
`aws sts assume-role-with-web-identity` for a role's short-lived keys, which then push and pull
through the ECR API and /v2. A local issuer serves its discovery document and JWKS; the role's
trust policy is GitHub's documented one (audience sts.amazonaws.com, the repository in `sub`).
Tokens of another repository, another audience, expired or forged are refused with STS's codes."""

from __future__ import annotations

import base64
import datetime
import http.server
import json
import sqlite3
import threading
import time

import boto3
import pytest
import requests
from botocore.exceptions import ClientError

from .conftest import REGION, Server, free_port
from .images import Layout

pytestmark = pytest.mark.e2e
jose = pytest.importorskip("joserfc")
from joserfc import jwt  # noqa: E402
from joserfc.jwk import RSAKey  # noqa: E402


class Issuer:
    """An OpenID Connect issuer on 127.0.0.1: discovery, JWKS, and the tokens it signs."""

    def __init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "ci-1"})
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        documents = {
            "/.well-known/openid-configuration": {"issuer": self.url, "jwks_uri": f"{self.url}/jwks"},
            "/jwks": {"keys": [self.key.as_dict(private=False)]},
        }

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
                found = documents.get(self.path)
                body = json.dumps(found).encode() if found else b"{}"
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def token(self, key=None, **claims) -> str:
        now = int(time.time())
        body = {"iss": self.url, "aud": "sts.amazonaws.com", "sub": "repo:acme/app:ref:refs/heads/main"}
        body |= {"iat": now, "nbf": now - 5, "exp": now + 300} | claims
        return jwt.encode({"alg": "RS256", "kid": "ci-1"}, body, key or self.key)

    def stop(self) -> None:
        self.server.shutdown()


def test_a_ci_job_pushes_with_its_oidc_token_and_no_stored_key(tmp_path, podman):
    issuer = Issuer()
    server = Server(tmp_path / "data", env={"KIKOTO_OIDC_INSECURE_ISSUERS": "true"}).start()
    try:
        account = server.ecr().describe_registry()["registryId"]
        host = f"127.0.0.1:{issuer.port}"
        provider = json.loads(
            server.aws(
                "iam",
                "create-open-id-connect-provider",
                "--url",
                issuer.url,
                "--client-id-list",
                "sts.amazonaws.com",
                "--thumbprint-list",
                "0" * 40,
            )
        )["OpenIDConnectProviderArn"]
        assert provider == f"arn:aws:iam::{account}:oidc-provider/{host}"
        trust = {  # GitHub's documented trust policy for a repository's workflows
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": provider},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {
                        "StringEquals": {f"{host}:aud": "sts.amazonaws.com"},
                        "StringLike": {f"{host}:sub": "repo:acme/app:*"},
                    },
                }
            ],
        }
        server.aws("iam", "create-role", "--role-name", "ci-push", "--assume-role-policy-document", json.dumps(trust))
        push_policy = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
                {"Effect": "Allow", "Action": "ecr:*", "Resource": f"arn:aws:ecr:{REGION}:{account}:repository/acme/*"},
            ],
        }
        server.aws(
            "iam",
            "put-role-policy",
            "--role-name",
            "ci-push",
            "--policy-name",
            "push",
            "--policy-document",
            json.dumps(push_policy),
        )

        # the job: its token for the keys, with the aws CLI as a workflow runs it
        role_arn = f"arn:aws:iam::{account}:role/ci-push"
        assumed = json.loads(
            server.aws(
                "sts",
                "assume-role-with-web-identity",
                "--role-arn",
                role_arn,
                "--role-session-name",
                "run-42",
                "--web-identity-token",
                issuer.token(),
            )
        )
        credentials = assumed["Credentials"]
        assert credentials["AccessKeyId"].startswith("ASIA")
        assert assumed["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{account}:assumed-role/ci-push/run-42"
        assert assumed["SubjectFromWebIdentityToken"] == "repo:acme/app:ref:refs/heads/main"
        session = boto3.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            region_name=REGION,
        )
        ecr = session.client("ecr", endpoint_url=server.url)
        ecr.create_repository(repositoryName="acme/app")
        with pytest.raises(ClientError) as caught:
            ecr.create_repository(repositoryName="other/app")
        assert caught.value.response["Error"]["Code"] == "AccessDeniedException"
        who = session.client("sts", endpoint_url=server.url).get_caller_identity()
        assert who["Arn"] == f"arn:aws:sts::{account}:assumed-role/ci-push/run-42"

        # and pushes with podman, logged in with the password it gets (aws ecr get-login-password),
        # which ends no later than the session
        data = ecr.get_authorization_token()["authorizationData"][0]
        session_ends = datetime.datetime.fromisoformat(credentials["Expiration"].replace("Z", "+00:00"))
        assert data["expiresAt"] <= session_ends + datetime.timedelta(seconds=1)
        user, _, secret = base64.b64decode(data["authorizationToken"]).decode().partition(":")
        layout = Layout(tmp_path / "image")
        layout.tag(layout.image("ci-built", layers=1), "1.0")
        podman("login", "--tls-verify=false", "--username", user, "--password-stdin", server.host, stdin=secret)
        image = podman("pull", f"oci:{layout.root}:1.0").stdout.split()[-1]  # its ID
        podman("push", "--tls-verify=false", image, f"docker://{server.host}/acme/app:1.0")
        assert ecr.describe_images(repositoryName="acme/app")["imageDetails"][0]["imageTags"] == ["1.0"]
        # the session token goes with the key: without it the key is worth nothing
        bare = boto3.client(
            "ecr",
            endpoint_url=server.url,
            region_name=REGION,
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
        )
        with pytest.raises(ClientError) as caught:
            bare.describe_repositories()
        assert caught.value.response["Error"]["Code"] == "UnrecognizedClientException"

        # the console takes the temporary keys with their session token, and not without it
        form = {"access_key_id": credentials["AccessKeyId"], "secret_access_key": credentials["SecretAccessKey"]}
        signed_in = requests.post(
            server.url + "/console/sign-in",
            data=form | {"session_token": credentials["SessionToken"]},
            allow_redirects=False,
        )
        assert signed_in.status_code == 303 and "kikoto_console" in signed_in.cookies
        assert requests.post(server.url + "/console/sign-in", data=form, allow_redirects=False).status_code == 401

        if server.database_url is None:  # a session that has ended (SQLite: its row is edited while stopped)
            server.stop()
            with sqlite3.connect(server.data_dir / "kikoto.db") as db:
                db.execute("UPDATE session_keys SET expires_at = 1 WHERE id = ?", (credentials["AccessKeyId"],))
            server.start()
            with pytest.raises(ClientError) as caught:
                session.client("ecr", endpoint_url=server.url).describe_repositories()
            assert caught.value.response["Error"]["Code"] == "ExpiredTokenException"  # as AWS answers it

        # what STS refuses, by its codes
        sts = boto3.client(
            "sts", endpoint_url=server.url, region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
        )

        def refused(token: str) -> str:
            with pytest.raises(ClientError) as caught:
                sts.assume_role_with_web_identity(RoleArn=role_arn, RoleSessionName="run-43", WebIdentityToken=token)
            return caught.value.response["Error"]["Code"]

        assert refused(issuer.token(sub="repo:evil/app:ref:refs/heads/main")) == "AccessDenied"
        assert refused(issuer.token(aud="someone-else")) == "InvalidIdentityToken"
        assert refused(issuer.token(exp=int(time.time()) - 10)) == "ExpiredTokenException"
        forged = RSAKey.generate_key(2048, parameters={"kid": "ci-1"})
        assert refused(issuer.token(key=forged)) == "InvalidIdentityToken"
        assert refused("not-a-token") == "InvalidIdentityToken"
        assert refused(issuer.token(iss="https://unknown.example")) == "InvalidIdentityToken"
        # a registered issuer that cannot be reached: STS's IDPCommunicationError, not a failure of ours
        iam = server.client("iam")
        gone = f"http://127.0.0.1:{free_port()}"
        iam.create_open_id_connect_provider(Url=gone, ClientIDList=["sts.amazonaws.com"])
        assert refused(issuer.token(iss=gone)) == "IDPCommunicationError"
        # an unsigned request for anything else is refused before any work
        answer = requests.post(server.url + "/", data={"Action": "ListUsers", "Version": "2010-05-08"})
        assert answer.status_code == 403 and "MissingAuthenticationToken" in answer.text
    finally:
        server.stop()
        issuer.stop()


def test_an_offline_site_trusts_an_issuer_by_its_key_set_on_disk(tmp_path):
    issuer = Issuer()
    issuer.stop()  # unreachable: the site has no way to the issuer
    keys = tmp_path / "jwks"
    keys.mkdir()
    (keys / f"127.0.0.1:{issuer.port}.json").write_text(json.dumps({"keys": [issuer.key.as_dict(private=False)]}))
    env = {"KIKOTO_OIDC_INSECURE_ISSUERS": "true", "KIKOTO_OIDC_JWKS_DIR": str(keys)}
    server = Server(tmp_path / "data", env=env).start()
    try:
        iam = server.client("iam")
        account = server.ecr().describe_registry()["registryId"]
        provider = iam.create_open_id_connect_provider(Url=issuer.url, ClientIDList=["sts.amazonaws.com"])
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": provider["OpenIDConnectProviderArn"]},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                }
            ],
        }
        iam.create_role(RoleName="offline", AssumeRolePolicyDocument=json.dumps(trust))
        sts = boto3.client(
            "sts", endpoint_url=server.url, region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
        )
        made = sts.assume_role_with_web_identity(
            RoleArn=f"arn:aws:iam::{account}:role/offline",
            RoleSessionName="air-gapped",
            WebIdentityToken=issuer.token(),
        )
        assert made["Credentials"]["AccessKeyId"].startswith("ASIA")
    finally:
        server.stop()
