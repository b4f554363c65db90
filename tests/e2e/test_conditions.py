"""IAM Conditions in repository and identity policies, through boto3 and the aws CLI: the
source address (from the socket, or from X-Forwarded-For only behind a trusted balancer), TLS,
the region, repository tags against the principal's name, and the tags a CreateRepository asks
for; a document with an operator IAM does not know is refused with ECR's answer; an identity policy
with one is refused by `kikoto keys create` with the reason."""

from __future__ import annotations

import json

import pytest
import requests
from botocore.exceptions import ClientError

from .conftest import ADMIN_KEY, ADMIN_SECRET, REGION, Server
from .ecr_helpers import push

pytestmark = pytest.mark.e2e


def key(server: Server, name: str, policy: dict, tmp_path) -> tuple[str, str]:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({"Version": "2012-10-17", "Statement": policy}))
    created = server.kikoto("keys", "create", name, "--policy", str(path)).stdout
    return created.split("AWS_ACCESS_KEY_ID=")[1].split()[0], created.split("AWS_SECRET_ACCESS_KEY=")[1].split()[0]


def refused(call, **params) -> str:
    with pytest.raises(ClientError) as caught:
        call(**params)
    assert caught.value.response["Error"]["Code"] == "AccessDeniedException", caught.value.response
    return caught.value.response["Error"]["Message"]


def with_header(client, name: str, value: str):
    client.meta.events.register("before-send.ecr.*", lambda request, **_: request.headers.__setitem__(name, value))
    return client


def pull_policy(principal_arn: str, condition: dict) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "PullFromTheOffice",
                    "Effect": "Allow",
                    "Principal": {"AWS": principal_arn},
                    "Action": ["ecr:BatchGetImage", "ecr:DescribeImages"],
                    "Condition": condition,
                }
            ],
        }
    )


def test_conditions_on_address_transport_region_and_tags(tmp_path):
    server = Server(tmp_path / "data", env={"KIKOTO_TRUSTED_PROXIES": "127.0.0.2/32"}).start()
    try:
        admin = server.ecr()
        account = admin.describe_registry()["registryId"]
        admin.create_repository(repositoryName="office/app")
        push(server, "office/app", "v1", "one")
        guest_id, guest_secret = key(
            server, "guest", [{"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"}], tmp_path
        )
        guest = server.ecr(guest_id, guest_secret)
        arn = f"arn:aws:iam::{account}:user/guest"

        # aws:SourceIp from the socket: this test's 127.0.0.1 is in the office, 10/8 is not
        policy = pull_policy(arn, {"IpAddress": {"aws:SourceIp": ["127.0.0.1/32", "::1/128"]}})
        server.aws("ecr", "set-repository-policy", "--repository-name", "office/app", "--policy-text", policy)
        assert guest.describe_images(repositoryName="office/app")["imageDetails"]
        # a client cannot claim another address: X-Forwarded-For counts only from a trusted balancer
        assert with_header(server.ecr(guest_id, guest_secret), "X-Forwarded-For", "10.9.9.9").describe_images(
            repositoryName="office/app"
        )["imageDetails"]
        policy = pull_policy(arn, {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})
        server.aws("ecr", "set-repository-policy", "--repository-name", "office/app", "--policy-text", policy)
        message = refused(guest.describe_images, repositoryName="office/app")
        assert message.startswith(f"User: {arn} is not authorized to perform: ecr:DescribeImages")
        # `kikoto policy simulate` says what decides, for an address given
        target = f"arn:aws:ecr:{REGION}:{account}:repository/office/app"
        simulate = [
            "policy",
            "simulate",
            "--principal",
            "guest",
            "--action",
            "DescribeImages",
            "--repository",
            "office/app",
        ]
        assert server.kikoto(*simulate, "--source-ip", "10.1.2.3").stdout.splitlines() == [
            f"allow: ecr:DescribeImages on {target}",
            '  decided by statement 1 "PullFromTheOffice" of the repository policy of office/app',
        ]
        # the console says the same (IAM's SimulatePrincipalPolicy, for someone allowed it)
        console = requests.Session()
        console.post(
            server.url + "/console/sign-in", data={"access_key_id": ADMIN_KEY, "secret_access_key": ADMIN_SECRET}
        )
        asked = {"principal": "guest", "action": "DescribeImages", "repository": "office/app", "source_ip": "10.1.2.3"}
        page = console.get(server.url + "/console/simulate", params=asked).text
        assert (
            "Allowed" in page
            and "Decided by statement 1 (Sid PullFromTheOffice) of the repository policy of office/app" in page
        )
        page = console.get(server.url + "/console/simulate", params=asked | {"source_ip": "192.0.2.1"}).text
        assert "Not allowed" in page and "nothing allows it" in page
        assert server.kikoto(*simulate, "--source-ip", "192.0.2.1").stdout.strip() == (
            "implicit deny: nothing in the identity policy of guest nor the repository policy of office/app "
            f"allows ecr:DescribeImages on {target}"
        )

        # the ECR documentation's pattern: deny everything not over TLS (this server is plain HTTP)
        deny_plain = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:DescribeImages"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ],
        }
        server.aws(
            "ecr", "set-repository-policy", "--repository-name", "office/app", "--policy-text", json.dumps(deny_plain)
        )
        assert "with an explicit deny" in refused(admin.describe_images, repositoryName="office/app")
        as_admin = [
            "policy",
            "simulate",
            "--principal",
            "admin",
            "--action",
            "ecr:DescribeImages",
            "--repository",
            "office/app",
        ]
        said = server.kikoto(*as_admin).stdout
        assert (
            said.startswith("explicit deny") and 'statement 1 "DenyInsecureTransport" of the repository policy' in said
        )
        assert "decided by statement 1 of the identity policy of admin" in server.kikoto(*as_admin, "--secure").stdout
        admin.delete_repository_policy(repositoryName="office/app")
        assert admin.describe_images(repositoryName="office/app")["imageDetails"]

        # an identity policy: only in this region, and only repositories tagged with the caller's name
        statement = {
            "Effect": "Allow",
            "Action": "ecr:DescribeImages",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:RequestedRegion": REGION, "ecr:ResourceTag/team": "${aws:username}"}},
        }
        web_id, web_secret = key(server, "web", [statement], tmp_path)
        web = server.ecr(web_id, web_secret)
        admin.create_repository(repositoryName="web/site", tags=[{"Key": "team", "Value": "web"}])
        admin.create_repository(repositoryName="db/engine", tags=[{"Key": "team", "Value": "db"}])
        assert web.describe_images(repositoryName="web/site")["imageDetails"] == []
        refused(web.describe_images, repositoryName="db/engine")
        admin.tag_resource(
            resourceArn=admin.describe_repositories(repositoryNames=["db/engine"])["repositories"][0]["repositoryArn"],
            tags=[{"Key": "team", "Value": "web"}],
        )
        assert (
            web.describe_images(repositoryName="db/engine")["imageDetails"] == []
        )  # the tag changed: so did the answer

        # what a CreateRepository asks for: its tags, their keys
        creator = {
            "Effect": "Allow",
            "Action": "ecr:CreateRepository",
            "Resource": "*",
            "Condition": {
                "StringEquals": {"aws:RequestTag/team": "${aws:username}"},
                "ForAllValues:StringEquals": {"aws:TagKeys": ["team", "stage"]},
            },
        }
        maker_id, maker_secret = key(server, "maker", [creator], tmp_path)
        maker = server.ecr(maker_id, maker_secret)
        maker.create_repository(repositoryName="maker/ok", tags=[{"Key": "team", "Value": "maker"}])
        refused(maker.create_repository, repositoryName="maker/other-team", tags=[{"Key": "team", "Value": "web"}])
        refused(
            maker.create_repository,
            repositoryName="maker/extra",
            tags=[{"Key": "team", "Value": "maker"}, {"Key": "owner", "Value": "x"}],
        )
        refused(maker.create_repository, repositoryName="maker/untagged")

        # an operator IAM does not know: refused when set, in ECR's words
        bad = pull_policy(arn, {"StringEqual": {"aws:username": "guest"}})
        with pytest.raises(ClientError) as caught:
            admin.set_repository_policy(repositoryName="office/app", policyText=bad)
        (tmp_path / "bad.json").write_text(
            json.dumps(
                {
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": "ecr:*",
                            "Resource": "*",
                            "Condition": {"IpAddress": {"aws:SourceIp": "office"}},
                        }
                    ]
                }
            )
        )
        told = server.kikoto("keys", "create", "bad", "--policy", str(tmp_path / "bad.json"), check=False)
        assert told.returncode != 0 and "'office' is not a value IpAddress can compare" in told.stderr, told
        assert caught.value.response["Error"]["Code"] == "InvalidParameterException"
        assert caught.value.response["Error"]["Message"] == (  # ECR's own words, whatever is wrong
            "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid repository policy provided'"
        )
    finally:
        server.stop()


def test_behind_a_trusted_balancer_the_address_is_the_one_it_forwards(tmp_path):
    server = Server(tmp_path / "data", env={"KIKOTO_TRUSTED_PROXIES": "127.0.0.0/8"}).start()
    try:
        admin = server.ecr()
        account = admin.describe_registry()["registryId"]
        admin.create_repository(repositoryName="office/app")
        guest_id, guest_secret = key(
            server, "guest", [{"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"}], tmp_path
        )
        policy = pull_policy(f"arn:aws:iam::{account}:user/guest", {"IpAddress": {"aws:SourceIp": "198.51.100.0/24"}})
        admin.set_repository_policy(repositoryName="office/app", policyText=policy)
        # the balancer (127.0.0.1, trusted) forwards the office client's address: allowed
        office = with_header(server.ecr(guest_id, guest_secret), "X-Forwarded-For", "203.0.113.5, 198.51.100.7")
        assert office.describe_images(repositoryName="office/app")["imageDetails"] == []
        # a client elsewhere, whose own header claims the office: the balancer appends the real one
        elsewhere = with_header(server.ecr(guest_id, guest_secret), "X-Forwarded-For", "198.51.100.7, 203.0.113.5")
        refused(elsewhere.describe_images, repositoryName="office/app")
    finally:
        server.stop()
