"""IAM users on the registry's endpoint, as `aws iam` and boto3 manage them: a user with tags,
an inline policy whose Condition compares a repository's tag with the user's, its access keys
(used for ECR at once, deactivated, deleted), paging, and IAM's errors by their codes."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError

from .conftest import REGION, Server

pytestmark = pytest.mark.e2e

TEAM_PULL = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "OwnTeamsRepositories",
            "Effect": "Allow",
            "Action": ["ecr:DescribeImages", "ecr:BatchGetImage"],
            "Resource": "*",
            "Condition": {"StringEquals": {"ecr:ResourceTag/team": "${aws:PrincipalTag/team}"}},
        }
    ],
}


def code(call, **params) -> str:
    with pytest.raises(ClientError) as caught:
        call(**params)
    return caught.value.response["Error"]["Code"]


def test_users_keys_inline_policies_and_tags(tmp_path):
    server = Server(tmp_path / "data").start()
    try:
        ecr, iam = server.ecr(), server.client("iam")
        account = ecr.describe_registry()["registryId"]
        ecr.create_repository(repositoryName="web/site", tags=[{"Key": "team", "Value": "web"}])
        ecr.create_repository(repositoryName="db/engine", tags=[{"Key": "team", "Value": "db"}])

        made = json.loads(server.aws("iam", "create-user", "--user-name", "ci", "--tags", "Key=team,Value=web"))["User"]
        assert made["Arn"] == f"arn:aws:iam::{account}:user/ci" and made["UserName"] == "ci"
        assert json.loads(server.aws("iam", "get-user", "--user-name", "ci"))["User"]["Tags"] == [
            {"Key": "team", "Value": "web"}
        ]
        (tmp_path / "pull.json").write_text(json.dumps(TEAM_PULL))
        server.aws(
            "iam",
            "put-user-policy",
            "--user-name",
            "ci",
            "--policy-name",
            "pull",
            "--policy-document",
            f"file://{tmp_path / 'pull.json'}",
        )
        assert json.loads(server.aws("iam", "list-user-policies", "--user-name", "ci"))["PolicyNames"] == ["pull"]
        got = json.loads(server.aws("iam", "get-user-policy", "--user-name", "ci", "--policy-name", "pull"))
        assert got["PolicyDocument"] == TEAM_PULL  # the CLI decodes IAM's URL-encoded document

        key = json.loads(server.aws("iam", "create-access-key", "--user-name", "ci"))["AccessKey"]
        assert key["Status"] == "Active" and key["UserName"] == "ci"
        as_ci = server.ecr(key["AccessKeyId"], key["SecretAccessKey"])
        assert as_ci.describe_images(repositoryName="web/site")["imageDetails"] == []
        assert code(as_ci.describe_images, repositoryName="db/engine") == "AccessDeniedException"
        server.aws("iam", "tag-user", "--user-name", "ci", "--tags", "Key=team,Value=db")  # moved to another team
        assert code(as_ci.describe_images, repositoryName="web/site") == "AccessDeniedException"
        assert as_ci.describe_images(repositoryName="db/engine")["imageDetails"] == []
        assert code(as_ci.create_repository, repositoryName="ci/own") == "AccessDeniedException"  # nothing else

        listed = json.loads(server.aws("iam", "list-access-keys", "--user-name", "ci"))["AccessKeyMetadata"]
        assert [(k["AccessKeyId"], k["Status"]) for k in listed] == [(key["AccessKeyId"], "Active")]
        server.aws(
            "iam",
            "update-access-key",
            "--user-name",
            "ci",
            "--access-key-id",
            key["AccessKeyId"],
            "--status",
            "Inactive",
        )
        assert code(as_ci.describe_images, repositoryName="db/engine") == "UnrecognizedClientException"

        # IAM's errors, by their codes
        assert code(iam.create_user, UserName="ci") == "EntityAlreadyExists"
        assert code(iam.get_user, UserName="nobody") == "NoSuchEntity"
        assert code(iam.delete_user, UserName="ci") == "DeleteConflict"  # keys and policies first
        assert code(iam.put_user_policy, UserName="ci", PolicyName="bad", PolicyDocument='{"Statement": 3}') == (
            "MalformedPolicyDocument"
        )
        iam.create_access_key(UserName="ci")
        assert code(iam.create_access_key, UserName="ci") == "LimitExceeded"  # two a user
        assert code(iam.create_user, UserName="bad name") == "ValidationError"

        # a principal without IAM rights is refused IAM's operations
        created = server.kikoto("keys", "create", "viewer", "--role", "read-only").stdout
        viewer = server.client(
            "iam",
            created.split("AWS_ACCESS_KEY_ID=")[1].split()[0],
            created.split("AWS_SECRET_ACCESS_KEY=")[1].split()[0],
        )
        assert code(viewer.create_user, UserName="sneaky") == "AccessDenied"

        # ListUsers pages by name
        names, marker = [], None
        while True:
            page = iam.list_users(MaxItems=1, **({"Marker": marker} if marker else {}))
            names += [u["UserName"] for u in page["Users"]]
            if not page["IsTruncated"]:
                break
            marker = page["Marker"]
        assert names == sorted(names) and {"admin", "ci", "viewer"} <= set(names)

        # taken apart: keys, policy, user
        for k in iam.list_access_keys(UserName="ci")["AccessKeyMetadata"]:
            iam.delete_access_key(UserName="ci", AccessKeyId=k["AccessKeyId"])
        iam.delete_user_policy(UserName="ci", PolicyName="pull")
        iam.untag_user(UserName="ci", TagKeys=["team"])
        assert iam.list_user_tags(UserName="ci")["Tags"] == []
        iam.delete_user(UserName="ci")
        assert code(iam.get_user, UserName="ci") == "NoSuchEntity"
    finally:
        server.stop()


def test_groups_and_managed_policies_aws_and_our_own(tmp_path):
    server = Server(tmp_path / "data").start()
    try:
        iam, admin = server.client("iam"), server.ecr()
        account = admin.describe_registry()["registryId"]
        admin.create_repository(repositoryName="team/app")
        iam.create_user(UserName="dev")
        key = iam.create_access_key(UserName="dev")["AccessKey"]
        dev = server.ecr(key["AccessKeyId"], key["SecretAccessKey"])
        assert code(dev.describe_repositories) == "AccessDeniedException"  # nothing yet

        # AWS's managed policy, by its ARN, with the aws CLI
        read_only = "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly"
        server.aws("iam", "attach-user-policy", "--user-name", "dev", "--policy-arn", read_only)
        assert [r["repositoryName"] for r in dev.describe_repositories()["repositories"]] == ["team/app"]
        assert code(dev.create_repository, repositoryName="dev/own") == "AccessDeniedException"
        aws_policies = json.loads(server.aws("iam", "list-policies", "--scope", "AWS"))["Policies"]
        assert {p["PolicyName"] for p in aws_policies} >= {
            "AmazonEC2ContainerRegistryReadOnly",
            "AmazonEC2ContainerRegistryPowerUser",
            "AmazonEC2ContainerRegistryFullAccess",
            "AmazonEC2ContainerRegistryPullOnly",
        }
        attached = iam.list_attached_user_policies(UserName="dev")["AttachedPolicies"]
        assert attached == [{"PolicyName": "AmazonEC2ContainerRegistryReadOnly", "PolicyArn": read_only}]

        # a group: its inline policy and its members
        iam.create_group(GroupName="builders")
        allow_create = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "ecr:CreateRepository", "Resource": "*"}],
        }
        iam.put_group_policy(GroupName="builders", PolicyName="create", PolicyDocument=json.dumps(allow_create))
        iam.add_user_to_group(GroupName="builders", UserName="dev")
        dev.create_repository(repositoryName="dev/own")
        assert [g["GroupName"] for g in iam.list_groups_for_user(UserName="dev")["Groups"]] == ["builders"]
        assert [u["UserName"] for u in iam.get_group(GroupName="builders")["Users"]] == ["dev"]
        assert code(iam.delete_group, GroupName="builders") == "DeleteConflict"

        # our own managed policy, attached to the group; a new default version takes the right away
        tagging = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "ecr:TagResource", "Resource": "*"}],
        }
        made = json.loads(
            server.aws("iam", "create-policy", "--policy-name", "tagger", "--policy-document", json.dumps(tagging))
        )
        arn = made["Policy"]["Arn"]
        assert arn == f"arn:aws:iam::{account}:policy/tagger" and made["Policy"]["DefaultVersionId"] == "v1"
        iam.attach_group_policy(GroupName="builders", PolicyArn=arn)
        repo_arn = admin.describe_repositories(repositoryNames=["team/app"])["repositories"][0]["repositoryArn"]
        dev.tag_resource(resourceArn=repo_arn, tags=[{"Key": "owner", "Value": "dev"}])
        listing_only = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "ecr:ListTagsForResource", "Resource": "*"}],
        }
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(listing_only), SetAsDefault=True)
        assert (
            code(dev.tag_resource, resourceArn=repo_arn, tags=[{"Key": "x", "Value": "y"}]) == "AccessDeniedException"
        )
        first = iam.get_policy_version(PolicyArn=arn, VersionId="v1")["PolicyVersion"]
        assert first["Document"] == tagging and first["IsDefaultVersion"] is False  # botocore decodes IAM's encoding
        assert iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v2"
        assert [p["PolicyName"] for p in iam.list_policies(Scope="Local")["Policies"]] == ["tagger"]
        assert code(iam.delete_policy, PolicyArn=arn) == "DeleteConflict"  # still attached
        assert (
            code(iam.attach_user_policy, UserName="dev", PolicyArn=f"arn:aws:iam::{account}:policy/absent")
            == "NoSuchEntity"
        )

        # taken apart
        iam.detach_group_policy(GroupName="builders", PolicyArn=arn)
        iam.delete_policy(PolicyArn=arn)
        iam.remove_user_from_group(GroupName="builders", UserName="dev")
        assert code(dev.create_repository, repositoryName="dev/other") == "AccessDeniedException"
        iam.delete_group_policy(GroupName="builders", PolicyName="create")
        iam.delete_group(GroupName="builders")
        assert code(iam.get_group, GroupName="builders") == "NoSuchEntity"
    finally:
        server.stop()


def test_assume_role_by_trust_external_id_and_session_tags(tmp_path):
    server = Server(tmp_path / "data").start()
    try:
        iam, admin = server.client("iam"), server.ecr()
        account = admin.describe_registry()["registryId"]
        admin.create_repository(repositoryName="web/site", tags=[{"Key": "team", "Value": "web"}])
        admin.create_repository(repositoryName="db/engine", tags=[{"Key": "team", "Value": "db"}])
        for name in ("deployer", "outsider"):
            iam.create_user(UserName=name)
        keys = {n: iam.create_access_key(UserName=n)["AccessKey"] for n in ("deployer", "outsider")}

        def sts_as(name: str):
            key = keys[name]
            return server.client("sts", key["AccessKeyId"], key["SecretAccessKey"])

        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {  # the deployer, named, with the ticket it was given (the confused deputy's guard)
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account}:user/deployer"},
                    "Action": "sts:AssumeRole",
                    "Condition": {"StringEquals": {"sts:ExternalId": "ticket-7"}},
                },
                {  # anyone of the account whose own policy allows it
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                    "Action": "sts:AssumeRole",
                },
            ],
        }
        role = iam.create_role(RoleName="deploy", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
        server.aws("iam", "tag-role", "--role-name", "deploy", "--tags", "Key=team,Value=web")
        same_team = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "ecr:DescribeImages",
                    "Resource": "*",
                    "Condition": {"StringEquals": {"ecr:ResourceTag/team": "${aws:PrincipalTag/team}"}},
                }
            ],
        }
        iam.put_role_policy(RoleName="deploy", PolicyName="team", PolicyDocument=json.dumps(same_team))
        assert iam.list_role_tags(RoleName="deploy")["Tags"] == [{"Key": "team", "Value": "web"}]

        assert code(sts_as("deployer").assume_role, RoleArn=role["Arn"], RoleSessionName="s1") == "AccessDenied"
        made = sts_as("deployer").assume_role(RoleArn=role["Arn"], RoleSessionName="release-7", ExternalId="ticket-7")
        credentials = made["Credentials"]
        assert made["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{account}:assumed-role/deploy/release-7"
        session = boto3.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            region_name=REGION,
        )
        ecr = session.client("ecr", endpoint_url=server.url)
        assert ecr.describe_images(repositoryName="web/site")["imageDetails"] == []  # the role's tag
        assert code(ecr.describe_images, repositoryName="db/engine") == "AccessDeniedException"
        # a session tag over the role's
        tagged = sts_as("deployer").assume_role(
            RoleArn=role["Arn"], RoleSessionName="db-fix", ExternalId="ticket-7", Tags=[{"Key": "team", "Value": "db"}]
        )["Credentials"]
        ecr_db = boto3.client(
            "ecr",
            endpoint_url=server.url,
            region_name=REGION,
            aws_access_key_id=tagged["AccessKeyId"],
            aws_secret_access_key=tagged["SecretAccessKey"],
            aws_session_token=tagged["SessionToken"],
        )
        assert ecr_db.describe_images(repositoryName="db/engine")["imageDetails"] == []
        assert code(ecr_db.describe_images, repositoryName="web/site") == "AccessDeniedException"

        # trusted by account: only with its own policy's permission
        assert code(sts_as("outsider").assume_role, RoleArn=role["Arn"], RoleSessionName="s2") == "AccessDenied"
        may = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role["Arn"]}],
        }
        iam.put_user_policy(UserName="outsider", PolicyName="assume", PolicyDocument=json.dumps(may))
        assert (
            sts_as("outsider")
            .assume_role(RoleArn=role["Arn"], RoleSessionName="s2")["Credentials"]["AccessKeyId"]
            .startswith("ASIA")
        )
        too_long = {"RoleArn": role["Arn"], "RoleSessionName": "s3", "DurationSeconds": 7200}  # the role allows 3600
        assert code(sts_as("outsider").assume_role, **too_long) == "ValidationError"
    finally:
        server.stop()


def test_simulate_principal_policy_says_what_decides(tmp_path):
    server = Server(tmp_path / "data").start()
    try:
        iam, admin = server.client("iam"), server.ecr()
        account = admin.describe_registry()["registryId"]
        admin.create_repository(repositoryName="office/app")
        iam.create_user(UserName="guest")
        office_only = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "FromTheOffice",
                    "Effect": "Allow",
                    "Action": "ecr:BatchGetImage",
                    "Resource": "*",
                    "Condition": {"IpAddress": {"aws:SourceIp": "198.51.100.0/24"}},
                }
            ],
        }
        iam.put_user_policy(UserName="guest", PolicyName="office", PolicyDocument=json.dumps(office_only))
        repo = f"arn:aws:ecr:{REGION}:{account}:repository/office/app"

        def simulate(address: str) -> list[dict]:
            entries = [{"ContextKeyName": "aws:SourceIp", "ContextKeyValues": [address], "ContextKeyType": "ip"}]
            return iam.simulate_principal_policy(
                PolicySourceArn=f"arn:aws:iam::{account}:user/guest",
                ActionNames=["ecr:BatchGetImage", "ecr:PutImage"],
                ResourceArns=[repo],
                ContextEntries=entries,
            )["EvaluationResults"]

        inside = simulate("198.51.100.7")
        assert [(r["EvalActionName"], r["EvalDecision"]) for r in inside] == [
            ("ecr:BatchGetImage", "allowed"),
            ("ecr:PutImage", "implicitDeny"),
        ]
        assert inside[0]["MatchedStatements"][0]["SourcePolicyId"] == "the identity policy of guest"
        assert simulate("203.0.113.1")[0]["EvalDecision"] == "implicitDeny"
        deny = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "ecr:BatchGetImage"}],
        }
        admin.set_repository_policy(repositoryName="office/app", policyText=json.dumps(deny))
        denied = simulate("198.51.100.7")[0]
        assert (
            denied["EvalDecision"] == "explicitDeny"
            and denied["MatchedStatements"][0]["SourcePolicyType"] == "resource"
        )
        assert (
            code(
                iam.simulate_principal_policy,
                PolicySourceArn=f"arn:aws:iam::{account}:user/nobody",
                ActionNames=["ecr:PutImage"],
            )
            == "NoSuchEntity"
        )
    finally:
        server.stop()
